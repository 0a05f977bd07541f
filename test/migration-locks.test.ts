// Migrations at a service's start, on a PostgreSQL of the test's own, behind a lock they
// cannot have: Prisma Migrate's advisory lock held by a replica whose migration is stuck, or
// a table the next migration changes held by a client idle in a transaction. The start
// waits a bounded time, says which session it waits for, and fails naming it, with nothing
// applied in part; once that session lets go, the next start migrates.
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyMigrations,
  migrationLockWaitMs,
  migrationScriptLockWaitMs,
  openDatabase,
} from '@ticketing/prisma';
import { eventsDatabase } from '@ticketing/prisma/events';
import { uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OwnPostgres, startOwnPostgres } from './own-servers.ts';

let postgres: OwnPostgres;
const scratch: string[] = [];

beforeAll(async () => {
  postgres = await startOwnPostgres();
}, 30_000);

afterAll(async () => {
  await postgres?.stop();
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Prisma Migrate's advisory lock, which one migration at a time holds. */
const prismaMigrateLock = 72707369;
const lockWaitMs = 1_000;

/** A session of the test's own on `url`. */
async function session(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'held by the test' });
  await client.connect();
  return client;
}

/** Opens the events database as a start does (with a short wait for Prisma Migrate's lock). */
async function startMigrating(url: string, migrationLockWaitMs = lockWaitMs) {
  const told: string[] = [];
  const started = Date.now();
  const outcome = await eventsDatabase
    .open(
      { kind: 'postgres', url, poolSize: 1 },
      { migrationLockWaitMs, onMigrationWaiting: (holder) => told.push(holder) },
    )
    .then(
      async (open) => {
        const applied = open.appliedMigrations;
        await open.close();
        return { applied };
      },
      (error: Error) => ({ error: error.message }),
    );
  return { ...outcome, told, tookMs: Date.now() - started };
}

describe('a migration that cannot have its lock', () => {
  it('behind a replica whose migration is stuck: gives up, naming that session', async () => {
    const url = uniqueTestDatabaseUrl('stuck_replica', postgres.url);
    await (await eventsDatabase.open({ kind: 'postgres', url })).close();
    const stuck = await session(url);
    try {
      await stuck.query('SELECT pg_advisory_lock($1)', [prismaMigrateLock]);
      const { rows } = await stuck.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]?.pid;

      const start = await startMigrating(url);
      expect(start).toMatchObject({
        error: expect.stringMatching(
          new RegExp(`gave up waiting for a lock held by session ${pid} \\(held by the test`),
        ),
      });
      expect(start.told).toEqual([expect.stringContaining(`session ${pid} (held by the test`)]);
      expect(start.tookMs).toBeLessThan(lockWaitMs + 5_000);
    } finally {
      await stuck.end();
    }
    expect(await startMigrating(url)).toMatchObject({ applied: [] });
  });

  it('behind a client idle in a transaction on its table: gives up, and applies it once that ends', async () => {
    const url = uniqueTestDatabaseUrl('idle_holder', postgres.url);
    // Every migration but the last, which adds a constraint to "events".
    const migrationsDir = join(await mkdtemp(join(tmpdir(), 'ticketing-migrations-')), 'm');
    scratch.push(migrationsDir);
    await cp(eventsDatabase.migrationsDir, migrationsDir, { recursive: true });
    const names = (await readdir(migrationsDir, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    const last = names.at(-1) as string;
    await rm(join(migrationsDir, last), { recursive: true });
    const earlier = await eventsDatabase.open({ kind: 'postgres', url }, { migrate: false });
    await earlier.close();
    const plain = await openDatabase({ kind: 'postgres', url });
    await applyMigrations(plain.adapterFactory, migrationsDir);
    await plain.close();

    const idle = await session(url);
    try {
      await idle.query('BEGIN');
      await idle.query('SELECT count(*) FROM events');
      const { rows } = await idle.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]?.pid;

      // The advisory lock's wait as in production (30 s): a migration's own statement waits
      // for a table's lock no longer than a request does (5 s), since every query of the
      // table queues behind it meanwhile.
      const start = await startMigrating(url, migrationLockWaitMs);
      expect(start).toMatchObject({
        error: expect.stringMatching(
          new RegExp(`for a lock held by session ${pid} \\(held by the test, idle in transaction`),
        ),
      });
      expect(start.tookMs).toBeGreaterThanOrEqual(migrationScriptLockWaitMs);
      expect(start.tookMs).toBeLessThan(migrationScriptLockWaitMs + 5_000);
    } finally {
      await idle.end();
    }
    // Nothing applied in part, nothing recorded as failed: the next start applies it.
    expect(await startMigrating(url)).toMatchObject({ applied: [last] });
  });
});

describe('a start whose role the database refuses at connect (CONNECT revoked, 42501)', () => {
  it('fails with the server’s reason, and leaves nothing unhandled behind', async () => {
    const url = uniqueTestDatabaseUrl('no_connect', postgres.url);
    await (await eventsDatabase.open({ kind: 'postgres', url })).close();
    const admin = await session(postgres.url);
    try {
      await admin.query('CREATE ROLE no_connect LOGIN');
      const name = pg.escapeIdentifier(decodeURIComponent(new URL(url).pathname.slice(1)));
      await admin.query(`REVOKE CONNECT ON DATABASE ${name} FROM PUBLIC`);
    } finally {
      await admin.end();
    }
    const asRole = new URL(url);
    asRole.username = 'no_connect';
    expect(await startMigrating(asRole.toString())).toMatchObject({
      error: expect.stringMatching(/permission denied for database/),
    });
  });
});
