// For the tests of the tickets database's SQL on its own (its functions and triggers, called
// straight over SQL without the service in front): a fresh, migrated database for the test
// file, and a pg pool to it, both gone after the file's tests.
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase, uniqueTestDatabaseUrl } from '../testing.ts';
import { ticketsDatabase } from '../tickets/index.ts';

type Tickets = Awaited<ReturnType<typeof ticketsDatabase.open>>['prisma'];

/**
 * A pool of at most `maxConnections` to a tickets database created before the file's tests
 * (its hooks are registered here) and dropped after them. The pool connects on first use.
 */
export function ticketsSqlPool(maxConnections: number): pg.Pool {
  const url = uniqueTestDatabaseUrl(ticketsDatabase.name);
  const pool = new pg.Pool({ connectionString: url, max: maxConnections });
  // Dropping the database at the end ends connections that are still closing (the pool's
  // end resolves before their sockets do): their goodbye from the server is expected. The
  // pool passes an idle connection's error on as its own, so both need a listener.
  pool.on('connect', (client) => client.on('error', () => {}));
  pool.on('error', () => {});
  let database: TestDatabase<Tickets> | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(ticketsDatabase, url);
  });
  afterAll(async () => {
    await pool.end();
    await database?.close();
  });
  return pool;
}
