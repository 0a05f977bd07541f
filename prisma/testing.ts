// Test support: a fresh, migrated PostgreSQL database per test suite, dropped afterwards.
// Tests run against the real PostgreSQL server named by TEST_DATABASE_URL (default: the
// local server, as .ci/run provides it).
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { OpenServiceDatabase } from './src/service.ts';

/** A connection URL to the test server's maintenance database. */
export const testServerUrl =
  process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

/** A URL for a database on the test server (or `serverUrl`'s) that no other test uses. */
export function uniqueTestDatabaseUrl(label: string, serverUrl = testServerUrl): string {
  const url = new URL(serverUrl);
  url.pathname = `/test_${label}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  return url.toString();
}

/** Drops the database named in `url`, closing whatever connections remain. */
export async function dropDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({
    connectionString: maintenance.toString(),
    connectionTimeoutMillis: 10_000,
  });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export interface TestDatabase<Client> extends OpenServiceDatabase<Client>, AsyncDisposable {
  readonly url: string;
}

interface Openable<Client> {
  name: string;
  open(location: {
    kind: 'postgres';
    url: string;
    poolSize?: number;
  }): Promise<OpenServiceDatabase<Client>>;
}

/**
 * Creates and migrates a fresh database for `database`'s service (at `url`, one no other test
 * uses); disposing drops it.
 */
export async function createTestDatabase<Client>(
  database: Openable<Client>,
  url = uniqueTestDatabaseUrl(database.name),
): Promise<TestDatabase<Client>> {
  const open = await database.open({ kind: 'postgres', url, poolSize: 4 });
  const drop = async () => {
    await open.close();
    await dropDatabase(url);
  };
  return { ...open, url, close: drop, [Symbol.asyncDispose]: drop };
}
