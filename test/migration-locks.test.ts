// Migrations at a service's start, on a PostgreSQL of the test's own, behind a lock they
// cannot have: Prisma Migrate's advisory lock held by a replica whose migration is stuck, or
// a table the next migration changes held by a client idle in a transaction. The start
// waits a bounded time, says which session it waits for, and fails naming it, with nothing
// applied in part; once that session lets go, the next start migrates.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyMigrations,
  defineServiceDatabase,
  migrationLockWaitMs,
  migrationScriptLockWaitMs,
  openDatabase,
} from '@ticketing/prisma';
import { eventsDatabase, PrismaClient } from '@ticketing/prisma/events';
import { uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OwnPostgres, startOwnPostgres } from './own-servers.ts';
import { waitFor } from './sales.ts';

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

/** A copy of the events migrations, in a scratch folder. */
async function copyOfEventsMigrations(): Promise<{ migrationsDir: string; names: string[] }> {
  const directory = await mkdtemp(join(tmpdir(), 'ticketing-migrations-'));
  scratch.push(directory);
  const migrationsDir = join(directory, 'migrations');
  await cp(eventsDatabase.migrationsDir, migrationsDir, { recursive: true });
  const names = (await readdir(migrationsDir, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return { migrationsDir, names };
}

/**
 * Applies every events migration but the last (which adds a constraint to "events") to the
 * database at `url`, and returns the last one's name.
 */
async function migrateAllButTheLast(url: string): Promise<string> {
  const { migrationsDir, names } = await copyOfEventsMigrations();
  const last = names.at(-1) as string;
  await rm(join(migrationsDir, last), { recursive: true });
  const earlier = await eventsDatabase.open({ kind: 'postgres', url }, { migrate: false });
  await earlier.close();
  const plain = await openDatabase({ kind: 'postgres', url });
  await applyMigrations(plain.adapterFactory, migrationsDir);
  await plain.close();
  return last;
}

/** `_prisma_migrations`' rows for `migration`, oldest first. */
async function migrationRows(url: string, migration: string) {
  const client = await session(url);
  try {
    const { rows } = await client.query<{
      finished: boolean;
      rolled_back: boolean;
      logs: string | null;
    }>(
      `SELECT finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back, logs
         FROM _prisma_migrations WHERE migration_name = $1 ORDER BY started_at`,
      [migration],
    );
    return rows;
  } finally {
    await client.end();
  }
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
    const last = await migrateAllButTheLast(url);

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

describe('a migration cut short', () => {
  it('whose process was killed mid-script: the next start rolls it back, says so, and applies it once', async () => {
    const url = uniqueTestDatabaseUrl('killed_migration', postgres.url);
    const last = await migrateAllButTheLast(url);
    // The test holds "events", so that the last migration's ALTER TABLE waits mid-script.
    const holder = await session(url);
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM events');
    const migrating = spawn(
      process.execPath,
      ['--experimental-strip-types', 'prisma/scripts/migrate.ts', 'events'],
      {
        cwd: join(import.meta.dirname, '..'),
        env: { ...process.env, EVENTS_DATABASE_URL: url },
        stdio: 'ignore',
      },
    );
    // Another session watches: a transaction sees the activity as it was at its first look.
    const watcher = await session(url);
    try {
      const waitingForEvents = async () => {
        const { rows } = await watcher.query(
          `SELECT 1 FROM pg_stat_activity
            WHERE application_name = 'events migrations' AND wait_event_type = 'Lock'`,
        );
        return rows.length > 0;
      };
      await waitFor(waitingForEvents, 'the migration to wait for "events"', 20_000);
      migrating.kill('SIGKILL');
      await once(migrating, 'exit');
      const migrationSessionsGone = async () => {
        const { rows } = await watcher.query(
          `SELECT 1 FROM pg_stat_activity WHERE application_name = 'events migrations'`,
        );
        return rows.length === 0;
      };
      // The server ends the killed process's sessions by itself, well before the script's
      // own lock wait (5 s) would: one that ran on would apply the script once the test
      // lets go, and commit it, with the migration recorded as unfinished.
      await waitFor(migrationSessionsGone, 'the killed migration’s sessions to end', 3_000);
      await holder.query('COMMIT');
    } finally {
      migrating.kill('SIGKILL');
      await holder.end();
      await watcher.end();
    }
    expect(await migrationRows(url, last)).toEqual([
      { finished: false, rolled_back: false, logs: null },
    ]);

    const rolledBack: string[] = [];
    const open = await eventsDatabase.open(
      { kind: 'postgres', url },
      { onMigrationRolledBack: (migration) => rolledBack.push(migration) },
    );
    await open.close();
    expect(open.appliedMigrations).toEqual([last]);
    expect(rolledBack).toEqual([last]);
    expect(await migrationRows(url, last)).toEqual([
      { finished: false, rolled_back: true, logs: null },
      { finished: true, rolled_back: false, logs: null },
    ]);
  });

  it('that failed with an error of its own: every later start still refuses', async () => {
    const url = uniqueTestDatabaseUrl('failed_migration', postgres.url);
    const { migrationsDir } = await copyOfEventsMigrations();
    const broken = '29991231000000_broken';
    await mkdir(join(migrationsDir, broken));
    await writeFile(join(migrationsDir, broken, 'migration.sql'), 'SELECT 1 / 0;\n');
    const withBroken = defineServiceDatabase({
      name: 'events',
      directory: join(migrationsDir, '..'),
      createClient: (adapter) => new PrismaClient({ adapter }),
      seedDemoData: async () => false,
    });
    const rolledBack: string[] = [];
    for (let start = 0; start < 2; start += 1) {
      await expect(
        withBroken.open(
          { kind: 'postgres', url },
          { onMigrationRolledBack: (migration) => rolledBack.push(migration) },
        ),
      ).rejects.toThrow(start === 0 ? /division by zero/ : new RegExp(`${broken}.*failed`, 's'));
    }
    expect(rolledBack).toEqual([]);
    expect(await migrationRows(url, broken)).toEqual([
      { finished: false, rolled_back: false, logs: expect.stringMatching(/division by zero/) },
    ]);
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
