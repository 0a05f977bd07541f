import type { PrismaClient } from '@ticketing/prisma/users';

/**
 * Failure counters for logins, in the database so that every gateway and users instance
 * sees the same counts. Increments are single atomic upserts, safe under concurrency.
 */
export class LoginThrottleRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  /** The latest time until which any of `keys` is locked, if one is locked now. */
  async lockedUntil(keys: string[]): Promise<Date | undefined> {
    const locked = await this.#prisma.loginThrottle.findFirst({
      where: { key: { in: keys }, lockedUntil: { gt: new Date() } },
      orderBy: { lockedUntil: 'desc' },
    });
    return locked?.lockedUntil ?? undefined;
  }

  /**
   * Counts a failure for `key`, starting again when the last one is older than the window,
   * and returns the count.
   */
  async recordFailure(key: string, windowSeconds: number): Promise<number> {
    const [row] = await this.#prisma.$queryRaw<{ failures: number }[]>`
      INSERT INTO login_throttles AS t (key, failures, last_failure_at)
      VALUES (${key}, 1, now())
      ON CONFLICT (key) DO UPDATE SET
        failures = CASE
          WHEN t.last_failure_at < now() - make_interval(secs => ${windowSeconds}) THEN 1
          ELSE t.failures + 1
        END,
        last_failure_at = now()
      RETURNING failures`;
    return row?.failures ?? 1;
  }

  async lock(key: string, seconds: number): Promise<void> {
    await this.#prisma.$executeRaw`
      UPDATE login_throttles SET locked_until = now() + make_interval(secs => ${seconds})
      WHERE key = ${key}`;
  }

  async clear(key: string): Promise<void> {
    await this.#prisma.loginThrottle.deleteMany({ where: { key } });
  }
}
