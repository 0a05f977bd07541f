import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { databases } from '../scripts/databases.ts';
import { applyMigrations, detectDrift, migrationStatus } from '../src/index.ts';
import { dropDatabase, uniqueTestDatabaseUrl } from '../testing.ts';

async function migrationNames(migrationsDir: string): Promise<string[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

const scratchDirs: string[] = [];
async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ticketing-prisma-test-'));
  scratchDirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(scratchDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe.each(databases)('$name migrations', (database) => {
  it('capture every change in schema.prisma (no drift)', async () => {
    expect(await detectDrift(database.schemaPath, database.migrationsDir)).toBeUndefined();
  });

  it('apply to an empty PostgreSQL database the way prisma migrate deploy records them', async () => {
    const url = uniqueTestDatabaseUrl(`migrate_${database.name}`);
    try {
      const open = await database.open({ kind: 'postgres', url });
      const names = await migrationNames(database.migrationsDir);
      expect(open.appliedMigrations).toEqual(names);

      const status = await migrationStatus(open.connection.adapterFactory, database.migrationsDir);
      expect(status).toEqual({
        upToDate: true,
        pending: [],
        edited: [],
        failed: [],
        unknown: [],
      });
      await open.close();

      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query(
        `SELECT migration_name, checksum, finished_at, rolled_back_at, applied_steps_count
           FROM _prisma_migrations ORDER BY migration_name`,
      );
      await client.end();
      const expected = await Promise.all(
        names.map(async (name) => ({
          migration_name: name,
          checksum: createHash('sha256')
            .update(await readFile(join(database.migrationsDir, name, 'migration.sql')))
            .digest('hex'),
          rolled_back_at: null,
          applied_steps_count: 1,
        })),
      );
      expect(rows.map(({ finished_at: _, ...row }) => row)).toEqual(expected);
      expect(rows.every((row) => row.finished_at instanceof Date)).toBe(true);

      const reopened = await database.open({ kind: 'postgres', url });
      expect(reopened.appliedMigrations).toEqual([]);
      await reopened.close();
    } finally {
      await dropDatabase(url);
    }
  });

  it('apply to an embedded PGlite database', async () => {
    const dataDir = await scratchDir();
    const open = await database.open({ kind: 'pglite', dataDir });
    try {
      expect(open.appliedMigrations).toEqual(await migrationNames(database.migrationsDir));
      const status = await migrationStatus(open.connection.adapterFactory, database.migrationsDir);
      expect(status.upToDate).toBe(true);
      expect(await open.seedDemoData()).toBe(true);
      expect(await open.seedDemoData()).toBe(false);
    } finally {
      await open.close();
    }
  });
});

describe('migration status', () => {
  const [users] = databases;

  it('lists every migration as pending on a database that has none applied', async () => {
    const url = uniqueTestDatabaseUrl('status_pending');
    try {
      const open = await users.open({ kind: 'postgres', url }, { migrate: false });
      const status = await migrationStatus(open.connection.adapterFactory, users.migrationsDir);
      await open.close();
      expect(status.upToDate).toBe(false);
      expect(status.pending).toEqual(await migrationNames(users.migrationsDir));
    } finally {
      await dropDatabase(url);
    }
  });

  it('reports an applied migration whose file was edited afterwards', async () => {
    const dataDir = await scratchDir();
    const open = await users.open({ kind: 'pglite', dataDir });
    const editedDir = join(await scratchDir(), 'migrations');
    await cp(users.migrationsDir, editedDir, { recursive: true });
    const [first] = await migrationNames(editedDir);
    const file = join(editedDir, first as string, 'migration.sql');
    await writeFile(file, `${await readFile(file, 'utf8')}\n-- edited after it was applied\n`);
    try {
      const status = await migrationStatus(open.connection.adapterFactory, editedDir);
      expect(status.upToDate).toBe(false);
      expect(status.edited).toEqual([first]);
    } finally {
      await open.close();
    }
  });
});

describe('a migration that fails', () => {
  const [users] = databases;

  it('fails on an embedded PGlite database, and is not recorded as applied', async () => {
    const dataDir = await scratchDir();
    const open = await users.open({ kind: 'pglite', dataDir });
    const brokenDir = join(await scratchDir(), 'migrations');
    await cp(users.migrationsDir, brokenDir, { recursive: true });
    const broken = '29991231000000_broken';
    await mkdir(join(brokenDir, broken));
    await writeFile(
      join(brokenDir, broken, 'migration.sql'),
      'CREATE TABLE "broken_probe" ("id" INTEGER);\nSELECT 1 / 0;\n',
    );
    try {
      await expect(applyMigrations(open.connection.adapterFactory, brokenDir)).rejects.toThrow(
        /division by zero/,
      );
      const status = await migrationStatus(open.connection.adapterFactory, brokenDir);
      expect(status.upToDate).toBe(false);
      expect([...status.failed, ...status.pending]).toEqual([broken]);
      const adapter = await open.connection.adapterFactory.connect();
      const { rows } = await adapter.queryRaw({
        sql: `SELECT to_regclass('broken_probe') IS NULL AS gone`,
        args: [],
        argTypes: [],
      });
      expect(rows).toEqual([[true]]);
    } finally {
      await open.close();
    }
  });
});

describe('drift check', () => {
  it('fails when schema.prisma changes without a migration, and names the change', async () => {
    const [users] = databases;
    const schemaPath = join(await scratchDir(), 'schema.prisma');
    const schema = await readFile(users.schemaPath, 'utf8');
    const changed = schema.replace(/^(\s+name\s+String)$/m, '$1\n  nickname String?');
    expect(changed).not.toBe(schema);
    await writeFile(schemaPath, changed);
    const sql = await detectDrift(schemaPath, users.migrationsDir);
    expect(sql).toMatch(/ALTER TABLE "users" ADD COLUMN\s+"nickname" TEXT/);
  });
});

describe('service databases', () => {
  it('are separate: one service cannot read another service’s tables', async () => {
    const [users, events] = databases;
    const usersUrl = uniqueTestDatabaseUrl('isolation_users');
    const eventsUrl = uniqueTestDatabaseUrl('isolation_events');
    try {
      await (await users.open({ kind: 'postgres', url: usersUrl })).close();
      await (await events.open({ kind: 'postgres', url: eventsUrl })).close();
      const client = new pg.Client({ connectionString: eventsUrl });
      await client.connect();
      try {
        await expect(client.query('SELECT count(*) FROM users')).rejects.toThrow(
          /relation "users" does not exist/,
        );
        const { rows } = await client.query("SELECT to_regclass('events') AS events");
        expect(rows[0].events).toBe('events');
      } finally {
        await client.end();
      }
    } finally {
      await dropDatabase(usersUrl);
      await dropDatabase(eventsUrl);
    }
  });
});

describe('a service database on PostgreSQL', () => {
  it('survives the server ending its idle connections, and reports each once, without the connection', async () => {
    const [users] = databases;
    const url = uniqueTestDatabaseUrl('connection_lost');
    const lost: Error[] = [];
    const open = await users.open(
      { kind: 'postgres', url },
      { onConnectionLost: (error) => lost.push(error) },
    );
    try {
      await open.ping();
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const { rowCount } = await admin.query(
        // Each server process is waited for until it exited: its connection's end is sent.
        'SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      await admin.end();
      expect(rowCount).toBeGreaterThan(0);
      const started = Date.now();
      while (lost.length < (rowCount ?? 0) && Date.now() - started < 5_000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(lost[0]?.message).toMatch(/terminating connection/);
      // The pool reported each again, with the connection attached (pg-pool's `client`):
      // logged, that was kilobytes of a line with its cancel key (`secretKey`), its
      // parameters and TLS settings (a client certificate's private key among them).
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(lost).toHaveLength(rowCount ?? 0);
      for (const error of lost) {
        expect(Object.keys(error)).not.toContain('client');
        expect(JSON.stringify(error)).not.toMatch(/secretKey|processID|connectionParameters/);
      }
      await open.ping();
    } finally {
      await open.close();
      await dropDatabase(url);
    }
  });
});

describe('replicas of one service on one new PostgreSQL database', () => {
  it('create and migrate it at once, and hold no migration lock while they run', async () => {
    const [users] = databases;
    const url = uniqueTestDatabaseUrl('replicas');
    // Five replicas starting at the same instant: each finds the database missing, and one
    // applies every migration while the others wait for it.
    const opened = await Promise.all(
      Array.from({ length: 5 }, () => users.open({ kind: 'postgres', url })),
    );
    try {
      expect(opened.map((open) => open.appliedMigrations.length).sort()).toEqual([
        0,
        0,
        0,
        0,
        (await migrationNames(users.migrationsDir)).length,
      ]);
      // Prisma Migrate's lock must not outlive the migration: a third replica, started
      // while these two serve, migrates at once rather than waiting for the lock.
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query(
          "SELECT count(*)::int AS held FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        );
        expect(rows[0].held).toBe(0);
        // Each migration recorded once, as applied.
        const recorded = await client.query(
          'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name',
        );
        expect(recorded.rows.map((row) => row.migration_name)).toEqual(
          await migrationNames(users.migrationsDir),
        );
      } finally {
        await client.end();
      }
      const third = await users.open({ kind: 'postgres', url });
      expect(third.appliedMigrations).toEqual([]);
      await third.close();
    } finally {
      await Promise.all(opened.map((open) => open.close()));
      await dropDatabase(url);
    }
  });
});
