import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';

/**
 * The PostgreSQL extensions the schemas use (datasource `extensions`), which PGlite loads
 * only when asked. A PostgreSQL server ships them as contrib modules.
 */
export const pgliteExtensions = { pg_trgm };

/** Where a service's data lives: a PostgreSQL server, or an embedded PGlite folder. */
export type DatabaseLocation =
  | { kind: 'postgres'; url: string; poolSize?: number }
  | { kind: 'pglite'; dataDir: string };

export interface DatabaseConnection {
  /** Serves both Prisma Client and the schema engine. */
  readonly adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  /** Where it is, for logs: a URL without its password, or the PGlite folder. */
  readonly description: string;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Told when the server ends an idle pooled connection (restart, failover, termination). */
  onConnectionLost?: (error: Error) => void;
}

/** Opens a connection pool (PostgreSQL) or the embedded database (PGlite). */
export async function openDatabase(
  location: DatabaseLocation,
  { onConnectionLost }: OpenDatabaseOptions = {},
): Promise<DatabaseConnection> {
  if (location.kind === 'pglite') {
    await mkdir(location.dataDir, { recursive: true });
    const db = await PGlite.create(location.dataDir, { extensions: pgliteExtensions });
    return {
      adapterFactory: new PrismaPGlite(db),
      description: `embedded PGlite in ${location.dataDir}`,
      close: () => db.close(),
    };
  }
  const pool = new pg.Pool({ connectionString: location.url, max: location.poolSize ?? 10 });
  // The pool drops a connection the server ended while it sat idle, and opens another on
  // demand. Without a listener, Node would treat that 'error' event as uncaught and stop
  // the whole service on a database restart.
  pool.on('error', (error) => onConnectionLost?.(error));
  return {
    adapterFactory: new PrismaPg(pool),
    description: redactPassword(location.url),
    close: () => pool.end(),
  };
}

export function redactPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/**
 * Creates the database named in `url` when the server does not have it yet, so that a
 * fresh PostgreSQL server needs no manual set-up. Connects to the server's `postgres`
 * maintenance database to do so.
 */
export async function ensurePostgresDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name) throw new Error(`Database URL names no database: ${redactPassword(url)}`);
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    } catch (error) {
      // Another process created it between the check and the CREATE: duplicate_database,
      // or, when both CREATEs run at once, unique_violation on pg_database's name index.
      if (!['42P04', '23505'].includes((error as { code?: string }).code ?? '')) throw error;
      return false;
    }
    return true;
  } finally {
    await client.end();
  }
}
