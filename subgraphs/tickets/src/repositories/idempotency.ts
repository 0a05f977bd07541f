import { createHash } from 'node:crypto';
import { Prisma } from '@ticketing/prisma/tickets';

/**
 * Locks an idempotency key of `owner`'s for `kind` of creation ("hold", "tier") until the
 * transaction ends, without waiting: false while another transaction holds it, a concurrent
 * request with the same key, which is answered IDEMPOTENCY_KEY_IN_USE at once, as a
 * purchase's is (`purchase_tickets` locks its own keys the same way). Once the first commits,
 * a retry takes the lock and finds what it made.
 */
export async function tryLockKey(
  tx: Prisma.TransactionClient,
  kind: string,
  owner: string,
  idempotencyKey: string,
): Promise<boolean> {
  const [{ locked }] = await tx.$queryRaw<[{ locked: boolean }]>`
    SELECT pg_try_advisory_xact_lock(
      hashtextextended(${`${kind}:${owner}:${idempotencyKey}`}, 0)) AS locked`;
  return locked;
}

/**
 * The unique index on (owner, key) refused a second row: what the lock keeps from
 * happening, and the database stands behind.
 */
export function isDuplicateKey(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002';
}

/**
 * A SHA-256 of what a request asked for, to tell a replay from another request with the
 * same key. Absent and null fields count alike, and an object's fields in any order.
 */
export function requestHash(asked: unknown): string {
  const canonical = JSON.stringify(asked, (_, value) =>
    value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)
      ? Object.fromEntries(
          Object.entries(value)
            .filter(([, field]) => field != null)
            .sort(([a], [b]) => (a < b ? -1 : 1)),
        )
      : value,
  );
  return createHash('sha256').update(canonical).digest('hex');
}
