import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * What clients send as an idempotency key (a purchase's, a hold's, a tier's, an event's): a
 * UUID or the like, 8 to 200 visible ASCII characters. Whitespace, controls and invisible or
 * look-alike Unicode would make keys that a person cannot read back from a log, or two keys
 * that look the same.
 */
export const idempotencyKeySchema = z
  .string()
  .trim()
  .min(8)
  .max(200)
  .regex(/^[\x21-\x7E]+$/, 'must be visible ASCII characters only, such as a UUID');

/**
 * A SHA-256 of what a request asked for, to tell a replay from another request with the
 * same key. Absent and null fields count alike, and an object's fields in any order.
 */
export function requestHash(asked: unknown): string {
  const canonical = JSON.stringify(asked, (_, value) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(
          Object.entries(value)
            .filter(([, field]) => field != null)
            .sort(([a], [b]) => (a < b ? -1 : 1)),
        )
      : value,
  );
  return createHash('sha256').update(canonical).digest('hex');
}
