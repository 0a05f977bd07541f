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

/** What `tryLockKey` needs of a transaction: any service's Prisma transaction client. */
interface RawQueries {
  $queryRaw<T>(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<T>;
}

/**
 * Locks an idempotency key of `owner`'s for `kind` of creation ("hold", "tier", "event")
 * until the transaction ends, without waiting: false while another transaction holds it, a
 * concurrent request with the same key, which is answered IDEMPOTENCY_KEY_IN_USE at once, as
 * a purchase's is (`purchase_tickets` locks its own keys the same way). Once the first
 * commits, a retry takes the lock and finds what it made.
 */
export async function tryLockKey(
  tx: RawQueries,
  kind: string,
  owner: string,
  idempotencyKey: string,
): Promise<boolean> {
  const [{ locked }] = await tx.$queryRaw<[{ locked: boolean }]>`
    SELECT pg_try_advisory_xact_lock(
      hashtextextended(${`${kind}:${owner}:${idempotencyKey}`}, 0)) AS locked`;
  return locked;
}
