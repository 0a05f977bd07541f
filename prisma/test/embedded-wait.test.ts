// The embedded (PGlite) database has one connection, which a transaction holds from its
// start to its end: a statement that arrives meanwhile waits for it, as a pooled one waits
// for a free connection on PostgreSQL, and within the same deadline.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DriverAdapterError } from '@prisma/driver-adapter-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultDatabaseDeadlines, openDatabase } from '../src/connection.ts';

const scratch: string[] = [];
afterAll(async () => {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ticketing-embedded-wait-'));
  scratch.push(dir);
  return join(dir, 'tickets');
}

const statement = (sql: string) => ({ sql, args: [], argTypes: [] });

describe('the embedded database', () => {
  it('refuses a statement that waited past poolWaitMs for its one connection, without running it', async () => {
    const poolWaitMs = 300;
    const connection = await openDatabase(
      { kind: 'pglite', dataDir: await dataDir() },
      { deadlines: { ...defaultDatabaseDeadlines, poolWaitMs } },
    );
    try {
      const adapter = await connection.adapterFactory.connect();
      await adapter.executeScript('CREATE TABLE probe (id integer)');
      // A transaction that takes its time (a purchase's lock waits, or one whose client is slow).
      const transaction = await adapter.startTransaction();
      await transaction.executeRaw(statement('SELECT 1'));
      const started = performance.now();
      const waiting = adapter.executeRaw(statement('INSERT INTO probe VALUES (1)'));
      const outcome = await Promise.race([
        waiting.then(
          () => 'ran',
          (error: unknown) => error,
        ),
        sleep(3 * poolWaitMs).then(() => 'still waiting'),
      ]);
      const waitedMs = performance.now() - started;
      await transaction.commit();
      await waiting.catch(() => {});

      // Refused as a pool's wait is: the kind of error clients are told SERVICE_UNAVAILABLE for.
      expect((outcome as DriverAdapterError).cause).toMatchObject({
        kind: 'TooManyConnections',
      });
      expect(waitedMs).toBeGreaterThanOrEqual(poolWaitMs - 20);
      expect(waitedMs).toBeLessThan(2 * poolWaitMs);
      // Never run, not even once the connection was free again.
      await sleep(50);
      const { rows } = await adapter.queryRaw(statement('SELECT count(*)::int FROM probe'));
      expect(rows).toEqual([[0]]);
    } finally {
      await connection.close();
    }
  });

  it('runs statements in turn, each once the transaction before it ended', async () => {
    const connection = await openDatabase(
      { kind: 'pglite', dataDir: await dataDir() },
      { deadlines: defaultDatabaseDeadlines },
    );
    try {
      const adapter = await connection.adapterFactory.connect();
      await adapter.executeScript('CREATE TABLE probe (id integer)');
      const transaction = await adapter.startTransaction();
      await transaction.executeRaw(statement('INSERT INTO probe VALUES (1)'));
      const after = adapter.queryRaw(statement('SELECT count(*)::int FROM probe'));
      await sleep(100);
      await transaction.rollback();
      expect((await after).rows).toEqual([[0]]);
    } finally {
      await connection.close();
    }
  });
});
