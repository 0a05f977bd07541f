import type { Prisma, PrismaClient } from '@ticketing/prisma/users';

/** How one throttle key counts attempts and locks. */
export interface ThrottleRule {
  /** Failures older than this are forgotten: the count starts again. */
  windowSeconds: number;
  /** The attempt that brings the count to this locks the key. */
  threshold: number;
  /** The first lock; each further attempt admitted past the threshold doubles it. */
  firstLockSeconds: number;
  maxLockSeconds: number;
}

export interface Admission {
  /** False when the key was locked: the attempt was refused and not counted. */
  admitted: boolean;
  /** Until when the key is locked now, if it is. */
  lockedUntil: Date | null;
}

/**
 * Attempt counters for password checks, in the database so that every gateway and users
 * instance sees the same counts. Each attempt is counted before its password is checked,
 * in one transaction that holds the key's row lock while it decides whether the attempt
 * may go ahead and sets the lock, so that concurrent attempts are counted, and refused,
 * one by one.
 */
export class LoginThrottleRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  /**
   * Counts an attempt on `key` unless it is locked. An admitted attempt that brings the
   * count to the rule's threshold or beyond locks the key for
   * `min(first × 2^(count − threshold), max)` seconds from now.
   */
  async admit(key: string, rule: ThrottleRule): Promise<Admission> {
    return this.#prisma.$transaction(
      async (tx) => {
        // The row lock serialises concurrent attempts on one key: each sees the one before.
        await tx.$executeRaw`
        INSERT INTO login_throttles (key, failures, last_failure_at) VALUES (${key}, 0, now())
        ON CONFLICT (key) DO NOTHING`;
        const [row] = await tx.$queryRaw<
          { failures: number; lastFailureAt: Date; lockedUntil: Date | null; now: Date }[]
        >`
        SELECT failures, last_failure_at AS "lastFailureAt", locked_until AS "lockedUntil", now()
        FROM login_throttles WHERE key = ${key} FOR UPDATE`;
        if (!row) throw new Error(`login throttle row ${key} vanished`);
        const now = row.now.getTime();
        if (row.lockedUntil && row.lockedUntil.getTime() > now) {
          return { admitted: false, lockedUntil: row.lockedUntil };
        }
        const stale = row.lastFailureAt.getTime() < now - rule.windowSeconds * 1000;
        const failures = stale ? 1 : row.failures + 1;
        const lockedUntil =
          failures >= rule.threshold
            ? new Date(
                now +
                  Math.min(
                    rule.firstLockSeconds * 2 ** (failures - rule.threshold),
                    rule.maxLockSeconds,
                  ) *
                    1000,
              )
            : null;
        await tx.$executeRaw`
        UPDATE login_throttles
        SET failures = ${failures}, last_failure_at = now(), locked_until = ${lockedUntil}
        WHERE key = ${key}`;
        return { admitted: true, lockedUntil };
        // Short: one row, three statements. Waiting longer for a connection under a flood of
        // guesses would only hold more requests open.
      },
      { maxWait: 5_000, timeout: 5_000 },
    );
  }

  /** Gives back an attempt that turned out to be the owner's: one fewer, and no lock. */
  async refund(key: string, rule: ThrottleRule): Promise<void> {
    await this.#prisma.$executeRaw`
      UPDATE login_throttles SET
        failures = GREATEST(failures - 1, 0),
        locked_until = CASE WHEN failures - 1 < ${rule.threshold} THEN NULL ELSE locked_until END
      WHERE key = ${key}`;
  }

  /**
   * Deletes up to `limit` keys idle for `idleSeconds` and not locked: longer than any rule
   * looks back, so that a deleted key and a stale one count alike. Returns how many.
   */
  pruneIdle(idleSeconds: number, limit: number): Promise<number> {
    return this.#prisma.$executeRaw`
      DELETE FROM login_throttles WHERE key IN (
        SELECT key FROM login_throttles
        WHERE last_failure_at < now() - make_interval(secs => ${idleSeconds})
          AND (locked_until IS NULL OR locked_until < now())
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)`;
  }

  async clear(key: string): Promise<void> {
    await this.#prisma.loginThrottle.deleteMany({ where: { key } });
  }

  /**
   * Deletes `key` and every key that starts with one of `prefixes`, in the transaction `db`
   * when given (an account's deletion).
   */
  async forget(
    key: string,
    prefixes: string[],
    db: Prisma.TransactionClient = this.#prisma,
  ): Promise<void> {
    await db.$executeRaw`
      DELETE FROM login_throttles
      WHERE key = ${key}
        OR EXISTS (SELECT 1 FROM unnest(${prefixes}::text[]) AS prefix WHERE starts_with(key, prefix))`;
  }

  /**
   * Records that `key` (the account `email` and an address) just logged in successfully. Stored in
   * the same table: `last_failure_at` is then the time of that success, `failures` 0.
   */
  async remember(key: string, email: string): Promise<void> {
    // Only while the account `email` is live, read under its row lock: a deletion holds it
    // while it forgets the account's keys, and this waits, then finds the email gone.
    await this.#prisma.$executeRaw`
      INSERT INTO login_throttles (key, failures, last_failure_at)
      SELECT ${key}, 0, now() FROM users WHERE email = ${email} AND deleted_at IS NULL FOR SHARE
      ON CONFLICT (key) DO UPDATE SET last_failure_at = now()`;
  }

  /** Whether `remember(key)` was called within the last `seconds`. */
  async remembers(key: string, seconds: number): Promise<boolean> {
    const row = await this.#prisma.loginThrottle.findUnique({ where: { key } });
    return !!row && row.lastFailureAt.getTime() > Date.now() - seconds * 1000;
  }
}
