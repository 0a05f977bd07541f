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
