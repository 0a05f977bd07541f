// A PostgreSQL server of the test's own, frozen (SIGSTOP): it keeps its connections open and
// the kernel keeps acknowledging them, but nothing answers, as on a hung host or a partition
// that sends no reset. No server-side timeout can fire. Every statement a service sends must
// still fail by its deadline, as SERVICE_UNAVAILABLE, and the service must serve again as soon
// as the server does, without a connection left stuck in its pool.
import { randomUUID } from 'node:crypto';
import { isDatabaseUnavailable } from '@ticketing/platform';
import { preparedStatements, ticketsDatabase } from '@ticketing/prisma/tickets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  frozenStatementFailsWithinMs,
  type OwnPostgres,
  shortDatabaseDeadlines,
  startOwnPostgres,
} from './own-servers.ts';

const deadlines = shortDatabaseDeadlines;
const failsWithinMs = frozenStatementFailsWithinMs;

let postgres: OwnPostgres;
let tickets: Awaited<ReturnType<typeof ticketsDatabase.open>>;

beforeAll(async () => {
  postgres = await startOwnPostgres();
  const url = new URL(postgres.url);
  url.pathname = `/frozen_${randomUUID().slice(0, 8)}`;
  tickets = await ticketsDatabase.open(
    { kind: 'postgres', url: url.toString(), poolSize: 4 },
    { deadlines },
  );
}, 120_000);

afterAll(async () => {
  await postgres?.thaw().catch(() => {});
  await tickets?.close();
  await postgres?.stop();
});

/** How a promise settled, and after how long. */
async function settle(work: Promise<unknown>) {
  const started = performance.now();
  try {
    await work;
    return { ok: true as const, ms: performance.now() - started };
  } catch (error) {
    return { ok: false as const, error, ms: performance.now() - started };
  }
}

describe('a frozen PostgreSQL', () => {
  it('fails every statement by its deadline as unavailable, then serves again once thawed', async () => {
    const { prisma } = tickets;
    const sendPrepared = preparedStatements(prisma);
    if (!sendPrepared) throw new Error('a PostgreSQL database has a pool for prepared statements');
    // Every pooled connection open and idle before the freeze: the case where nothing but
    // a deadline on the answer can end the wait.
    await Promise.all(
      Array.from({ length: 4 }, () => prisma.$queryRaw`SELECT pg_sleep(0.05)::text AS slept`),
    );

    await postgres.freeze();
    try {
      const attempts = await Promise.all([
        settle(prisma.$queryRaw`SELECT 1`),
        settle(prisma.ticketTier.findMany({ take: 1 })),
        settle(prisma.$transaction([prisma.$queryRaw`SELECT 1`, prisma.$queryRaw`SELECT 2`])),
        // The purchase's path: a prepared statement straight on the pool.
        settle(sendPrepared({ name: 'frozen_probe', text: 'SELECT 1 AS one', values: [] })),
        // More than the pool holds: these wait for a connection, then for the answer.
        settle(prisma.$queryRaw`SELECT 3`),
        settle(prisma.$queryRaw`SELECT 4`),
      ]);
      for (const attempt of attempts) {
        expect(attempt.ok).toBe(false);
        expect(isDatabaseUnavailable(attempt.error)).toBe(true);
        // Waiting for a pooled connection, then for the answer on a new one: at most the
        // pool's wait and the connect deadline, or the statement's deadline and its grace.
        expect(attempt.ms).toBeLessThan(
          Math.max(failsWithinMs, deadlines.poolWaitMs + deadlines.connectMs + 2_000),
        );
      }
    } finally {
      await postgres.thaw();
    }

    // Back at once: the connections that were given up are replaced on demand.
    const deadline = Date.now() + 10_000;
    let rows: unknown;
    for (;;) {
      const attempt = await settle(prisma.$queryRaw`SELECT 42 AS answer`.then((r) => (rows = r)));
      if (attempt.ok) break;
      if (Date.now() > deadline) throw attempt.error;
    }
    expect(rows).toEqual([{ answer: 42 }]);
    const parallel = await Promise.all(
      Array.from({ length: 8 }, (_, i) => prisma.$queryRaw<{ n: number }[]>`SELECT ${i}::int AS n`),
    );
    expect(parallel.map((result) => result[0]?.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  }, 60_000);
});
