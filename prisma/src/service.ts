import { join, resolve } from 'node:path';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type pg from 'pg';
import {
  type DatabaseConnection,
  type DatabaseDeadlines,
  type DatabaseLocation,
  defaultDatabaseDeadlines,
  migrationLockWaitMs as defaultMigrationLockWaitMs,
  ensurePostgresDatabase,
  migrationScriptLockWaitMs,
  openDatabase,
  watchLockWaits,
} from './connection.ts';
import { applyMigrations } from './migrations.ts';

export type ServiceName = 'users' | 'events' | 'tickets';

export const serviceNames: readonly ServiceName[] = ['users', 'events', 'tickets'];

/** Project-local, git-ignored home of the embedded databases. */
export const defaultDataRoot = resolve(import.meta.dirname, '..', '..', '.data');

interface ServiceDatabaseDefinition<Client> {
  name: ServiceName;
  /** The folder holding schema.prisma, migrations/ and the generated client. */
  directory: string;
  /** `onQuery`, when given, receives the SQL of every statement the client sends. */
  createClient(
    adapterFactory: SqlMigrationAwareDriverAdapterFactory,
    onQuery?: QueryListener,
  ): Client;
  /** Writes the demo data set when the database holds no data; says whether it did. */
  seedDemoData(client: Client): Promise<boolean>;
}

export interface OpenServiceDatabase<Client> {
  readonly prisma: Client;
  readonly connection: DatabaseConnection;
  /** Migrations applied by this open, oldest first. */
  readonly appliedMigrations: string[];
  /** Resolves when the database answers a query. */
  ping(): Promise<void>;
  /** Writes the demo data set if the database holds no data; says whether it did. */
  seedDemoData(): Promise<boolean>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Apply pending migrations first (default true). */
  migrate?: boolean;
  /** Receives every statement the client sends (tests count them and explain them). */
  onQuery?: QueryListener;
  /** Told when the server ends a pooled connection. */
  onConnectionLost?: (error: Error) => void;
  /** Deadlines for the client's statements (PostgreSQL; default: defaultDatabaseDeadlines). */
  deadlines?: DatabaseDeadlines;
  /**
   * How long a migration waits for Prisma Migrate's lock (PostgreSQL; default:
   * migrationLockWaitMs, 30 s); its scripts wait for a table's at most this, and at most 5 s.
   */
  migrationLockWaitMs?: number;
  /** Told which session holds a lock the migration waits for, when it first does. */
  onMigrationWaiting?: (holder: string) => void;
  /** Told of each migration cut short before (its process killed) marked rolled back. */
  onMigrationRolledBack?: (migration: string, startedAt: Date) => void;
}

/** Prisma Migrate's advisory lock, which a migrating process holds from start to end. */
const prismaMigrateLock = 72707369;

/**
 * Marks rolled back, as `prisma migrate resolve --rolled-back` does, each migration whose
 * process was killed mid-script (out of memory, a deleted pod), and returns them. The
 * engine refused every later start for such a row until someone resolved it by hand. Its
 * script ran as one transaction, which the server rolled back whole when the connection
 * died: the row says it was started, and neither finished (`finished_at`, and
 * `applied_steps_count`, counted once the script committed) nor failed with an error of its
 * own (`logs`). Only under Prisma Migrate's lock: a process that holds it is migrating
 * still, and any other's migration has ended.
 */
async function rollBackKilledMigrations(pool: pg.Pool) {
  const session = await pool.connect();
  try {
    await session.query('BEGIN');
    // Waits as the engine would (the pool's lock_timeout), and fails as it would.
    await session.query(`SELECT pg_advisory_xact_lock(${prismaMigrateLock})`);
    const { rows } = await session.query<{ migration_name: string; started_at: Date }>(
      `UPDATE _prisma_migrations SET rolled_back_at = now()
        WHERE finished_at IS NULL AND rolled_back_at IS NULL AND logs IS NULL
          AND applied_steps_count = 0
        RETURNING migration_name, started_at`,
    );
    await session.query('COMMIT');
    session.release();
    return rows;
  } catch (error) {
    // Its transaction failed: the connection is not handed back to the pool.
    session.release(error as Error);
    // undefined_table: a database never migrated has nothing to roll back.
    if ((error as { code?: string }).code === '42P01') return [];
    throw error;
  }
}

/** Receives a statement's SQL and its parameters. */
export type QueryListener = (sql: string, params: unknown[]) => void;

/** A statement with `$1`-style parameters, prepared once a connection under `name`. */
export interface PreparedQuery {
  name: string;
  text: string;
  values: unknown[];
}

/** Sends a prepared statement and returns its rows. */
export type SendPrepared = <Row>(query: PreparedQuery) => Promise<Row[]>;

const preparedSenders = new WeakMap<object, SendPrepared>();

/**
 * Sends statements by name straight to the pool under `client`'s adapter, on PostgreSQL:
 * for the few hot statements whose cost in Prisma's query handling shows (a purchase), with
 * the pool's deadlines and `onQuery` as the client's own statements have. Undefined on
 * PGlite, and for a client this module did not open: use the client there.
 */
export function preparedStatements(client: object): SendPrepared | undefined {
  return preparedSenders.get(client);
}

/** Prisma Client options over `adapter`; with `onQuery`, the client emits query events. */
export function clientOptions<Adapter>(adapter: Adapter, onQuery: QueryListener | undefined) {
  return onQuery
    ? { adapter, log: [{ level: 'query' as const, emit: 'event' as const }] }
    : { adapter };
}

/** Passes each statement of a client made with `clientOptions` to `onQuery`. */
export function reportingQueries<Client>(
  client: Client,
  onQuery: QueryListener | undefined,
): Client {
  if (onQuery) {
    type QueryEvent = { query: string; params: string };
    (client as { $on(event: 'query', listener: (event: QueryEvent) => void): void }).$on(
      'query',
      (event) => onQuery(event.query, JSON.parse(event.params)),
    );
  }
  return client;
}

/** What a Prisma Client offers that is used here. */
interface ClientBase {
  $disconnect(): Promise<void>;
  $executeRawUnsafe(sql: string): Promise<number>;
  $queryRawUnsafe<Row>(sql: string, ...values: unknown[]): Promise<Row>;
}

/**
 * The tables `client`'s models map to (Prisma's runtime data model) that the database does
 * not have: a migration recorded as applied whose table was dropped since, or a database
 * restored without it. Each request that needs one would fail as an internal error; the
 * service refuses to start instead, naming them.
 */
async function missingTables(client: ClientBase): Promise<string[]> {
  const { _runtimeDataModel: dataModel } = client as {
    _runtimeDataModel?: { models: Record<string, { dbName: string | null }> };
  };
  const tables = Object.entries(dataModel?.models ?? {}).map(
    ([model, { dbName }]) => dbName ?? model,
  );
  const rows = await client.$queryRawUnsafe<{ name: string }[]>(
    'SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(quote_ident(name)) IS NULL',
    tables,
  );
  return rows.map((row) => row.name);
}

export type ServiceDatabase<Client extends ClientBase> = ReturnType<
  typeof defineServiceDatabase<Client>
>;

/** Everything a service, a script or a test needs to reach one service's database. */
export function defineServiceDatabase<Client extends ClientBase>(
  definition: ServiceDatabaseDefinition<Client>,
) {
  const { name, directory } = definition;
  const urlVariable = `${name.toUpperCase()}_DATABASE_URL`;
  return {
    name,
    urlVariable,
    schemaPath: join(directory, 'schema.prisma'),
    migrationsDir: join(directory, 'migrations'),
    configPath: join(directory, 'prisma.config.ts'),

    /**
     * The service's own database URL when one is set; otherwise an embedded PGlite
     * folder under `DATA_DIR` (default: `.data/` at the project root), but never in
     * production: there the folder would be on the container's own disk, lost with it, and
     * each replica would keep a stock of its own, selling a tier once per replica.
     */
    locate(env: NodeJS.ProcessEnv = process.env): DatabaseLocation {
      const url = env[urlVariable];
      if (url) return { kind: 'postgres', url };
      if (env.NODE_ENV === 'production') {
        throw new Error(
          `${urlVariable} is required in production: without it, the ${name} service would ` +
            'keep its data in an embedded database on its own disk.',
        );
      }
      return { kind: 'pglite', dataDir: join(env.DATA_DIR ?? defaultDataRoot, name) };
    },

    /** Connects, creating the PostgreSQL database if missing, and applies pending migrations. */
    async open(
      location: DatabaseLocation,
      {
        migrate = true,
        onQuery,
        onConnectionLost,
        deadlines = defaultDatabaseDeadlines,
        migrationLockWaitMs = defaultMigrationLockWaitMs,
        onMigrationWaiting,
        onMigrationRolledBack,
      }: OpenOptions = {},
    ): Promise<OpenServiceDatabase<Client>> {
      const migrationsDir = join(directory, 'migrations');
      let appliedMigrations: string[] = [];
      if (location.kind === 'postgres') {
        await ensurePostgresDatabase(location.url);
        // Migrations on a connection of their own, closed afterwards: without the service's
        // deadlines (an index build may take longer), and because Prisma Migrate takes a
        // session-level advisory lock and leaves it held. On a connection the service kept
        // in its pool, that lock would last as long as the process, and another replica's
        // migration would wait on it for good.
        // Each lock it waits for, within migrationLockWaitMs: a replica whose migration is
        // stuck, or a client idle in a transaction on its table, fails this start, naming it.
        if (migrate) {
          const applicationName = `${name} migrations`;
          const migrating = await openDatabase(location, {
            onConnectionLost,
            migration: {
              lockWaitMs: migrationLockWaitMs,
              scriptLockWaitMs: Math.min(migrationScriptLockWaitMs, migrationLockWaitMs),
              applicationName,
            },
          });
          const waits = watchLockWaits(
            location.url,
            applicationName,
            (holder) => onMigrationWaiting?.(holder),
            // Seen a few times within the wait, so that the error can name it.
            Math.min(1_000, migrationLockWaitMs / 4),
          );
          try {
            if (migrating.pool) {
              for (const killed of await rollBackKilledMigrations(migrating.pool)) {
                onMigrationRolledBack?.(killed.migration_name, killed.started_at);
              }
            }
            appliedMigrations = await applyMigrations(migrating.adapterFactory, migrationsDir);
          } catch (error) {
            const holder = waits.holder();
            if (holder === undefined && !/lock timeout|advisory lock/i.test(String(error))) {
              throw error;
            }
            // A migration's script runs as one transaction, which the lock timeout rolled
            // back whole; the engine recorded it as failed all the same, and would refuse
            // every later start until someone resolved it by hand. Marked rolled back, as
            // `prisma migrate resolve --rolled-back` does, it is applied at the next start.
            await migrating.pool?.query(
              `UPDATE _prisma_migrations SET rolled_back_at = now()
                WHERE finished_at IS NULL AND rolled_back_at IS NULL AND logs LIKE '%lock timeout%'`,
            );
            throw new Error(
              `The ${name} database's migrations gave up waiting for a lock${holder ? ` held by ${holder}` : ''}: end that session or transaction, or let it finish, and start again.`,
              { cause: error },
            );
          } finally {
            await waits.stop();
            await migrating.close();
          }
        }
      }
      const connection = await openDatabase(location, { onConnectionLost, deadlines });
      try {
        if (location.kind === 'pglite' && migrate) {
          appliedMigrations = await applyMigrations(connection.adapterFactory, migrationsDir);
        }
        const prisma = definition.createClient(connection.adapterFactory, onQuery);
        // Once migrated, every table must be there (a status check opens without migrating).
        const missing = migrate ? await missingTables(prisma) : [];
        if (missing.length > 0) {
          throw new Error(
            `The ${name} database lacks the tables ${missing.join(', ')}, though its migrations are recorded as applied; restore them (or the database) before starting the service.`,
          );
        }
        const { pool } = connection;
        if (pool) {
          preparedSenders.set(prisma, async <Row>(query: PreparedQuery) => {
            onQuery?.(query.text, query.values);
            const client = await pool.connect();
            try {
              const { rows } = await client.query<Row & pg.QueryResultRow>(query);
              client.release();
              return rows;
            } catch (error) {
              // pg reports a failed statement as soon as the server does, and the server
              // does so before it has rolled the statement's transaction back and released
              // its locks (a purchase group's idempotency keys, which its members resent
              // alone then try). The connection's next query runs only after that rollback.
              await client.query('').then(
                () => client.release(),
                (lost: Error) => client.release(lost),
              );
              throw error;
            }
          });
        }
        return {
          prisma,
          connection,
          appliedMigrations,
          seedDemoData: () => definition.seedDemoData(prisma),
          async ping() {
            await prisma.$executeRawUnsafe('SELECT 1');
          },
          async close() {
            await prisma.$disconnect();
            await connection.close();
          },
        };
      } catch (error) {
        await connection.close();
        throw error;
      }
    },
  };
}
