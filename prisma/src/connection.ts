import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  DriverAdapterError,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
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

/**
 * Deadlines for a service's work on a PostgreSQL server, so that a slow or gone database
 * fails a request instead of holding it (and its pooled connection) without end.
 */
export interface DatabaseDeadlines {
  /** Opening one connection: TCP, TLS and authentication. */
  connectMs: number;
  /**
   * Waiting for a pooled connection when all are busy (a rush queues here). Below the
   * gateway's subgraph deadline, so that a request the gateway gave up on is refused here
   * before it writes anything.
   */
  poolWaitMs: number;
  /** One statement, lock waits included (`statement_timeout`). */
  statementMs: number;
  /** Waiting for a row or table lock (`lock_timeout`). */
  lockMs: number;
  /** A transaction left open by a client that went away (`idle_in_transaction_session_timeout`). */
  idleInTransactionMs: number;
}

/**
 * Comfortably above what any request needs, even queued behind a purchase rush on a hot
 * tier's row, and well below NGINX's 30 s read timeout and the gateway's subgraph deadline.
 */
export const defaultDatabaseDeadlines: DatabaseDeadlines = {
  connectMs: 5_000,
  poolWaitMs: 10_000,
  statementMs: 10_000,
  lockMs: 5_000,
  idleInTransactionMs: 30_000,
};

export interface DatabaseConnection {
  /** Serves both Prisma Client and the schema engine. */
  readonly adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  /** Where it is, for logs: a URL without its password, or the PGlite folder. */
  readonly description: string;
  /** The pool under the adapter (PostgreSQL only), with the same deadlines. */
  readonly pool?: pg.Pool;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Told when the server ends a pooled connection (restart, failover, termination). */
  onConnectionLost?: (error: Error) => void;
  /**
   * Deadlines for a service's own work (PostgreSQL only). Left out for migrations, whose
   * statements (index builds) may rightly take longer.
   */
  deadlines?: DatabaseDeadlines;
  /**
   * How long to wait for another process to let go of an embedded database before giving up
   * (PGlite only; default `embeddedLockWaitMs`).
   */
  lockWaitMs?: number;
  /**
   * Opens the pool for migrations (PostgreSQL only): no statement deadline (an index build
   * may take its time), but a bounded wait for each lock (`lockWaitMs`; `scriptLockWaitMs`
   * within a migration's script), named `applicationName` so that `watchLockWaits` finds
   * its sessions.
   */
  migration?: { lockWaitMs: number; scriptLockWaitMs: number; applicationName: string };
}

/**
 * How long a migration waits for Prisma Migrate's advisory lock (held by another replica's
 * migration) before it gives up. Without it, a start waited for good, and a
 * stop asked for meanwhile waited with it; given up, the service exits non-zero and its
 * orchestrator starts it again. Within a Kubernetes startup probe's 120 s.
 */
export const migrationLockWaitMs = 30_000;

/**
 * How long a migration's own statements wait for a lock on a table they change: shorter,
 * because while an ALTER TABLE waits for its lock, every query of that table queues behind
 * it, and the services' requests fail after their own lock wait (5 s, `lockMs`). The
 * migration then gives up first, and is tried again at the next start.
 */
export const migrationScriptLockWaitMs = defaultDatabaseDeadlines.lockMs;

/** How often a migration's session checks, while a statement runs, that its process lives. */
export const migrationClientCheckMs = 1_000;

/**
 * Longer than a service whose runner went away takes to stop (10 s): the next `npm start`
 * opens the database once the service of the run before has let go of it.
 */
export const embeddedLockWaitMs = 15_000;

/** Opens a connection pool (PostgreSQL) or the embedded database (PGlite). */
export async function openDatabase(
  location: DatabaseLocation,
  {
    onConnectionLost,
    deadlines,
    lockWaitMs = embeddedLockWaitMs,
    migration,
  }: OpenDatabaseOptions = {},
): Promise<DatabaseConnection> {
  if (location.kind === 'pglite') {
    await mkdir(location.dataDir, { recursive: true });
    const unlock = await lockEmbedded(location.dataDir, lockWaitMs);
    try {
      const db = await PGlite.create(location.dataDir, { extensions: pgliteExtensions });
      return {
        adapterFactory: new PrismaPGliteAwaitedScripts(db, deadlines?.poolWaitMs),
        description: `embedded PGlite in ${location.dataDir}`,
        close: () => db.close().finally(unlock),
      };
    } catch (error) {
      await unlock();
      throw error;
    }
  }
  const pool = new pg.Pool({
    connectionString: location.url,
    max: location.poolSize ?? 10,
    ...(deadlines
      ? {
          // pg-pool applies this one deadline to the wait for a free connection, and each
          // client to opening its connection: the client class below gets its own, and a
          // deadline on each statement's answer.
          connectionTimeoutMillis: deadlines.poolWaitMs,
          Client: clientWithDeadlines(deadlines),
          statement_timeout: deadlines.statementMs,
          lock_timeout: deadlines.lockMs,
          idle_in_transaction_session_timeout: deadlines.idleInTransactionMs,
        }
      : {}),
    ...(migration
      ? {
          connectionTimeoutMillis: defaultDatabaseDeadlines.connectMs,
          Client: MigrationClient,
          lock_timeout: migration.lockWaitMs,
          application_name: migration.applicationName,
        }
      : {}),
  });
  // A connection the server ends (a restart, `pg_terminate_backend`) emits 'error'. Without
  // a listener, Node treats that as uncaught and stops the whole service. The pool listens
  // only while a connection is idle; Prisma's adapter only while a transaction is open, and
  // not between its statements' callbacks and the release. So every connection gets a
  // listener of its own for its whole life: the request that used it fails with the error,
  // and the pool drops it and opens another on demand. The pool then emits the same error
  // for an idle connection, with the connection attached (`client`): reported once, and as
  // the server's error alone, never with the connection's cancel key, parameters and TLS
  // settings.
  const reported = new WeakSet<Error>();
  const lost = (error: Error) => {
    if (reported.has(error)) return;
    reported.add(error);
    onConnectionLost?.(withoutConnection(error));
  };
  pool.on('error', lost);
  pool.on('connect', (client) => {
    client.on('error', lost);
  });
  return {
    adapterFactory: new PrismaPgWholeScripts(pool, migration?.scriptLockWaitMs),
    description: redactPassword(location.url),
    pool,
    close: () => pool.end(),
  };
}

/** A copy of `error` (its class, message, stack and fields) without pg-pool's `client`. */
function withoutConnection(error: Error): Error {
  const { client: _client, ...fields } = error as Error & { client?: unknown };
  return Object.assign(Object.create(Object.getPrototypeOf(error)) as Error, fields, {
    message: error.message,
    stack: error.stack,
  });
}

/**
 * Prisma's pg adapter, except that a migration's script reaches the server whole, as
 * `prisma migrate deploy` sends it. The adapter's own `executeScript` cuts a script at
 * every `;` and sends the pieces one by one, which breaks any statement that holds a `;`,
 * such as a function's body. A query without parameters goes by PostgreSQL's simple query
 * protocol, which runs a script of several statements, and runs it as one transaction.
 */
class PrismaPgWholeScripts extends PrismaPg {
  readonly #scriptLockWaitMs: number | undefined;

  /** `scriptLockWaitMs`: each script's wait for a lock (`lock_timeout` in its transaction). */
  constructor(pool: pg.Pool, scriptLockWaitMs?: number) {
    super(pool);
    this.#scriptLockWaitMs = scriptLockWaitMs;
  }

  override async connect(): ReturnType<PrismaPg['connect']> {
    return wholeScripts(await super.connect(), this.#scriptLockWaitMs);
  }

  override async connectToShadowDb(): ReturnType<PrismaPg['connectToShadowDb']> {
    return wholeScripts(await super.connectToShadowDb(), this.#scriptLockWaitMs);
  }
}

function wholeScripts<Adapter extends Awaited<ReturnType<PrismaPg['connect']>>>(
  adapter: Adapter,
  lockWaitMs: number | undefined,
): Adapter {
  adapter.executeScript = async (script) => {
    const sql =
      lockWaitMs === undefined ? script : `SET LOCAL lock_timeout = ${lockWaitMs};\n${script}`;
    await adapter.executeRaw({ sql, args: [], argTypes: [] });
  };
  return adapter;
}

/**
 * Prisma's PGlite adapter, except that a migration's script is awaited, and that the
 * database's one connection is taken in turn within a deadline (`EmbeddedTurns`). The
 * adapter's own `executeScript` starts the script and returns at once: a script that failed
 * was taken for applied, so that the schema engine recorded its migration as done with none
 * of it in the database, and the error surfaced later as an unhandled rejection.
 */
export class PrismaPGliteAwaitedScripts extends PrismaPGlite {
  readonly #db: PGlite;
  /** Shared by every adapter this factory makes: they all use the one connection. */
  readonly #turns: EmbeddedTurns;

  /** `waitMs`: how long a statement or transaction waits for the connection (none if left out). */
  constructor(db: PGlite, waitMs?: number) {
    super(db);
    this.#db = db;
    this.#turns = new EmbeddedTurns(waitMs);
  }

  override async connect(): Promise<SqlDriverAdapter> {
    const adapter = await super.connect();
    adapter.executeScript = async (script) => {
      try {
        // `exec` runs a script of several statements, as one transaction.
        await this.#db.exec(script);
      } catch (error) {
        throw asDriverAdapterError(error);
      }
    };
    return this.#turns.guard(adapter);
  }
}

/**
 * Turns at an embedded database's one connection: a statement outside a transaction takes
 * it for its run, a transaction from its start to its commit or rollback. PGlite queues
 * them as well, but without a deadline: behind a transaction that takes its time, or a
 * rush, a statement waited without end, and ran (a purchase committed) after the gateway
 * had told its client SERVICE_UNAVAILABLE. Here it waits at most `waitMs`, as a pooled one
 * waits for a connection on PostgreSQL (`poolWaitMs`), and is then refused without running,
 * as `TooManyConnections` (SERVICE_UNAVAILABLE to clients). Turns go first come, first served.
 */
class EmbeddedTurns {
  readonly #waitMs: number | undefined;
  #taken = false;
  /** Those waiting, in order: each is handed the connection by the turn before it. */
  readonly #waiting: (() => void)[] = [];

  constructor(waitMs: number | undefined) {
    this.#waitMs = waitMs;
  }

  /** Waits for the connection; resolves with its release, which hands it to the next. */
  async take(): Promise<() => void> {
    if (!this.#taken) {
      this.#taken = true;
    } else {
      await new Promise<void>((resolve, reject) => {
        const handOver = () => {
          clearTimeout(timer);
          resolve();
        };
        const waitMs = this.#waitMs;
        const timer =
          waitMs === undefined
            ? undefined
            : setTimeout(() => {
                this.#waiting.splice(this.#waiting.indexOf(handOver), 1);
                reject(
                  new DriverAdapterError({
                    kind: 'TooManyConnections',
                    cause: `the embedded database's connection was busy for ${waitMs} ms`,
                  }),
                );
              }, waitMs);
        this.#waiting.push(handOver);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#taken = false;
    };
  }

  /** `adapter`, its statements and transactions each run in a turn of their own. */
  guard(adapter: SqlDriverAdapter): SqlDriverAdapter {
    const inTurn =
      <Args extends unknown[], Result>(run: (...args: Args) => Promise<Result>) =>
      async (...args: Args): Promise<Result> => {
        const release = await this.take();
        try {
          return await run(...args);
        } finally {
          release();
        }
      };
    adapter.queryRaw = inTurn(adapter.queryRaw.bind(adapter));
    adapter.executeRaw = inTurn(adapter.executeRaw.bind(adapter));
    adapter.executeScript = inTurn(adapter.executeScript.bind(adapter));
    const startTransaction = adapter.startTransaction.bind(adapter);
    adapter.startTransaction = async (isolationLevel) => {
      const release = await this.take();
      try {
        const transaction = await startTransaction(isolationLevel);
        const commit = transaction.commit.bind(transaction);
        const rollback = transaction.rollback.bind(transaction);
        transaction.commit = () => commit().finally(release);
        transaction.rollback = () => rollback().finally(release);
        return transaction;
      } catch (error) {
        release();
        throw error;
      }
    };
    return adapter;
  }
}

/** A PostgreSQL error from PGlite as the adapter reports one (other errors as they are). */
function asDriverAdapterError(error: unknown): unknown {
  const { code, severity, message, detail, column, hint } = error as Record<string, unknown>;
  if (typeof code !== 'string' || typeof severity !== 'string' || typeof message !== 'string') {
    return error;
  }
  const optional = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return new DriverAdapterError({
    kind: 'postgres',
    code,
    severity,
    message,
    detail: optional(detail),
    column: optional(column),
    hint: optional(hint),
  });
}

/**
 * How long past `statement_timeout` a statement's answer may be awaited. The server ends a
 * statement at its timeout and says so; an answer later than this means that the server or
 * the path to it is stuck (a frozen process, a network partition that sends no reset),
 * which no server-side timeout can end and TCP does not notice.
 */
export const statementGraceMs = 2_000;

type QueryCallback = (error: Error | null, result?: unknown) => void;

/**
 * pg's client, opening its connection within `connectMs` whatever the pool's setting, and
 * giving up a connection whose statement has no answer within `statementMs` plus the grace
 * above: the connection is destroyed, so the statement fails with "Connection terminated"
 * (SERVICE_UNAVAILABLE to clients), the pool drops it and opens another on demand, and no
 * pooled connection stays stuck until the server comes back. pg's own `query_timeout`
 * leaves a sent statement's connection open and busy.
 */
/**
 * A migration's connection. A migration's process killed mid-script (out of memory, a
 * deleted pod) ends its session at once, rolling the script back: otherwise the server ran
 * the script on to its end, and committed it, with the migration recorded as unfinished.
 * Set once connected, before the pool hands the connection out (set on the pool's
 * `connect` event, it ran beside the first statement, and pg warned of it on stderr); a
 * server without the setting (before PostgreSQL 14, or outside Linux) refuses it, and
 * migrates all the same.
 */
class MigrationClient extends pg.Client {
  override connect(): Promise<pg.Client>;
  override connect(
    callback: ((error: Error) => void) | ((error: null, client: pg.Client) => void),
  ): void;
  override connect(
    callback?: ((error: Error) => void) | ((error: null, client: pg.Client) => void),
  ): Promise<pg.Client> | undefined {
    const connected = super.connect().then(async () => {
      await super
        .query(`SET client_connection_check_interval = ${migrationClientCheckMs}`)
        .catch(() => {});
      return this as pg.Client;
    });
    if (!callback) return connected;
    const done = callback as (error: Error | null, client?: pg.Client) => void;
    connected.then((client) => done(null, client), done);
    return undefined;
  }
}

function clientWithDeadlines({ connectMs, statementMs }: DatabaseDeadlines): typeof pg.Client {
  const answerMs = statementMs + statementGraceMs;
  return class extends pg.Client {
    constructor(config?: string | pg.ClientConfig) {
      super({
        ...(typeof config === 'string' ? { connectionString: config } : config),
        connectionTimeoutMillis: connectMs,
      });
      const query = this.query.bind(this) as (...args: unknown[]) => unknown;
      const giveUp = () => {
        const stream = (this as unknown as { connection?: { stream?: { destroy(): void } } })
          .connection?.stream;
        stream?.destroy();
      };
      (this as unknown as { query: (...args: unknown[]) => unknown }).query = (...args) => {
        const last = args.at(-1);
        // A cursor or stream (a submittable) manages its own reads.
        if (typeof (args[0] as { submit?: unknown } | undefined)?.submit === 'function') {
          return query(...args);
        }
        const timer = setTimeout(giveUp, answerMs);
        timer.unref();
        if (typeof last === 'function') {
          const callback = last as QueryCallback;
          return query(...args.slice(0, -1), (error: Error | null, result?: unknown) => {
            clearTimeout(timer);
            callback(error, result);
          });
        }
        const result = query(...args) as Promise<unknown>;
        result.then(
          () => clearTimeout(timer),
          () => clearTimeout(timer),
        );
        return result;
      };
    }
  };
}

/**
 * Watches the sessions named `applicationName` (a migration's) on the database at `url`
 * while they run, from a connection of its own (the migration may hold all of its pool's):
 * every `everyMs`, which session holds a lock one of them waits for, told to `onWaiting` when
 * it first shows or changes. `holder()` is the last one seen, to name in the error when the
 * wait gives up.
 */
export function watchLockWaits(
  url: string,
  applicationName: string,
  onWaiting: (holder: string) => void,
  everyMs = 1_000,
): { holder(): string | undefined; stop(): Promise<void> } {
  let holder: string | undefined;
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: defaultDatabaseDeadlines.connectMs,
    statement_timeout: defaultDatabaseDeadlines.statementMs,
  });
  client.on('error', () => {});
  const connected = client.connect();
  // A watcher that cannot connect sees nothing; the migration goes on without it.
  connected.catch(() => {});
  const look = async () => {
    await connected;
    const { rows } = await client.query<{
      pid: number;
      application_name: string;
      state: string | null;
      xact_start: Date | null;
      query: string;
    }>(
      `SELECT blocker.pid, blocker.application_name, blocker.state, blocker.xact_start,
              left(blocker.query, 200) AS query
         FROM pg_stat_activity waiting
        CROSS JOIN LATERAL unnest(pg_blocking_pids(waiting.pid)) AS blocking(pid)
         JOIN pg_stat_activity blocker ON blocker.pid = blocking.pid
        WHERE waiting.application_name = $1
        LIMIT 1`,
      [applicationName],
    );
    const [row] = rows;
    if (!row) return;
    const seen =
      `session ${row.pid} (${row.application_name || 'no application name'}, ${row.state ?? 'unknown state'}` +
      `${row.xact_start ? `, in a transaction since ${row.xact_start.toISOString()}` : ''}; ` +
      `its last statement: ${row.query.replace(/\s+/g, ' ').trim()})`;
    if (seen !== holder) onWaiting(seen);
    holder = seen;
  };
  // One look at a time: the next waits for the last one's answer.
  let looking: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    looking = looking.then(look).catch(() => {});
  }, everyMs);
  timer.unref();
  return {
    holder: () => holder,
    async stop() {
      clearInterval(timer);
      await looking;
      await client.end().catch(() => {});
    },
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
  const client = new pg.Client({
    connectionString: maintenance.toString(),
    connectionTimeoutMillis: defaultDatabaseDeadlines.connectMs,
  });
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

/** Whether process `pid` exists (without `ps`, as when the lock was written). */
function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** When a process started, as `ps` tells it: with its pid, it names the process for good. */
function startedAt(pid: number): string | undefined {
  try {
    return execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** Whether the process a lock names (`<pid> <start time>`, or a bare pid) still runs. */
function holderAlive(holder: string): boolean {
  const [pid = '', ...started] = holder.split(' ');
  const holderPid = Number(pid);
  return (
    Number.isInteger(holderPid) &&
    holderPid > 0 &&
    (started.length > 0 ? startedAt(holderPid) === started.join(' ') : exists(holderPid))
  );
}

/** The process a lock file names, or undefined when there is no such file. */
async function lockHolder(path: string): Promise<string | undefined> {
  return (await readFile(path, 'utf8').catch(() => undefined))?.trim();
}

/**
 * Creates `path` holding `owner`, unless it exists: the file appears with its content
 * whole (written aside, then linked into place, which fails if `path` exists), so a reader
 * never takes a lock being written for an empty, stale one.
 */
async function createExclusive(path: string, owner: string): Promise<boolean> {
  const draft = `${path}.${process.pid}.${randomUUID()}`;
  await writeFile(draft, `${owner}\n`);
  try {
    await link(draft, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  } finally {
    await rm(draft, { force: true });
  }
}

/**
 * Removes the lock `path` if the process it names is gone. Checking and removing are two
 * steps, so they happen under a lock of their own, `<path>.break`: two processes that find
 * the lock stale at once cannot both remove it, the second one a lock the first has taken
 * since. The guard is held for a few milliseconds; one its process left (killed meanwhile)
 * is removed the same way.
 */
async function removeIfStale(path: string, owner: string): Promise<void> {
  const guard = `${path}.break`;
  while (!(await createExclusive(guard, owner))) {
    const holder = await lockHolder(guard);
    if (holder !== undefined && !holderAlive(holder)) await removeIfStale(guard, owner);
    else await sleep(10);
  }
  try {
    const holder = await lockHolder(path);
    if (holder !== undefined && !holderAlive(holder)) await rm(path, { force: true });
  } finally {
    await rm(guard, { force: true });
  }
}

/**
 * Takes the lock of an embedded database: `<dataDir>.lock`, naming this process (its pid
 * and start time). PGlite runs PostgreSQL inside the process and does not stop a second
 * process from opening the same folder; two at once corrupt it (it no longer opens). So a
 * process that finds the lock held by a live process waits for it, up to `waitMs`, then
 * fails naming that process; a lock whose process is gone (killed, crashed: it never
 * closed) is taken over at once, by one process even when several find it stale at the
 * same instant. Returns the release, which removes the file if it is still this process's.
 */
export async function lockEmbedded(dataDir: string, waitMs: number): Promise<() => Promise<void>> {
  const path = `${dataDir}.lock`;
  const owner = `${process.pid} ${startedAt(process.pid) ?? ''}`.trim();
  const release = async () => {
    if ((await lockHolder(path)) === owner) await rm(path, { force: true });
  };
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (await createExclusive(path, owner)) return release;
    const holder = await lockHolder(path);
    // Released meanwhile: try again at once.
    if (holder === undefined) continue;
    if (!holderAlive(holder)) {
      // Its process is gone (or the pid is another program's now): the lock is stale.
      await removeIfStale(path, owner);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `The embedded database in ${dataDir} is in use by process ${holder.split(' ')[0]}; stop that process first (it holds ${path}).`,
      );
    }
    await sleep(100);
  }
}
