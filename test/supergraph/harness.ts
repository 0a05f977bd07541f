// The supergraph in-process, for tests that go through the gateway: the three subgraphs
// and gateway instances as real HTTP servers on free ports, each subgraph on its own fresh
// PostgreSQL database. Faster than processes, and the tests can reach into the databases.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BaseContext } from '@apollo/server';
import type { Identity } from '@ticketing/auth';
import { eventsSubgraph } from '@ticketing/events-subgraph/subgraph';
import { startGateway } from '@ticketing/gateway/main';
import {
  ConfigurationError,
  currentRequestId,
  type Logger,
  type RunningService,
  type SubgraphDefinition,
  startSubgraph,
} from '@ticketing/platform';
import type { QueryListener } from '@ticketing/prisma';
import { type PrismaClient as EventsPrisma, eventsDatabase } from '@ticketing/prisma/events';
import { dropDatabase, uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { type PrismaClient as TicketsPrisma, ticketsDatabase } from '@ticketing/prisma/tickets';
import { type PrismaClient as UsersPrisma, usersDatabase } from '@ticketing/prisma/users';
import { ticketsSubgraph } from '@ticketing/tickets-subgraph/subgraph';
import { usersSubgraph } from '@ticketing/users-subgraph/subgraph';
import type { JWK } from 'jose';
import pg from 'pg';
import { freePort } from '../../scripts/ports.ts';

export interface GraphQLResult<Data = Record<string, unknown>> {
  status: number;
  data?: Data | null;
  errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
}

export interface Statement {
  sql: string;
  params: unknown[];
  /** The request it was sent for; undefined for a background job's (a timer's). */
  requestId: string | undefined;
}

/**
 * The statements of `log` sent for requests: a background job's (the hold sweeper, the
 * retention schedule, the outbox relay, which a request may wake) are sent at any moment.
 */
export function requestStatements(log: readonly Statement[]): Statement[] {
  return log.filter(
    ({ sql, requestId }) =>
      requestId !== undefined &&
      !sql.includes('outbox_messages') &&
      !sql.includes('WITH expired AS'),
  );
}

export interface RequestOptions {
  token?: string;
  /** Raw Authorization header, for malformed ones. */
  authorization?: string;
  headers?: Record<string, string>;
  /** Which gateway instance to send to (default the first). */
  gateway?: number;
}

export interface Supergraph extends AsyncDisposable {
  readonly gatewayUrls: string[];
  /** Each subgraph's own GraphQL endpoint, for requests that bypass the gateway. */
  readonly subgraphUrls: { users: string; events: string; tickets: string };
  readonly databases: { users: UsersPrisma; events: EventsPrisma; tickets: TicketsPrisma };
  /** Each subgraph's database, for a process of its own started beside these. */
  readonly databaseUrls: { users: string; events: string; tickets: string };
  /** The data directory the services share (the users service's signing keys). */
  readonly dataDir: string;
  /** Who the events subgraph saw as the caller, request by request. */
  readonly eventsViewers: (Identity | null)[];
  /** The statements each subgraph sent to its database, in order. */
  readonly sql: Record<'users' | 'events' | 'tickets', Statement[]>;
  /** The users service's signing key, for forging tokens in tests. */
  signingKey(): Promise<JWK>;
  request<Data = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: RequestOptions,
  ): Promise<GraphQLResult<Data>>;
  stop(): Promise<void>;
}

/** A request of a race, and the text of its statement that waits for the test's lock. */
export interface QueuedRequest<Answer> {
  send: () => Promise<Answer>;
  waitsAt: string;
}

/**
 * Sends `requests` while a transaction of the test's own holds `lock` in `database`, each
 * only once the one before waits for that lock (its statement, named by `waitsAt`, seen
 * waiting in pg_stat_activity), then lets the lock go. So the requests were in the database
 * together, each past what it read before the lock and none committed, and they take the
 * lock in the order sent. Fails, naming the statement, when a request never comes to wait:
 * its race was not run.
 */
export async function queuedBehindLock<const Requests extends readonly QueuedRequest<unknown>[]>(
  supergraph: Supergraph,
  database: keyof Supergraph['databaseUrls'],
  lock: { sql: string; params: unknown[] },
  requests: Requests,
  /** Runs once every request waits, before the lock goes, in the lock's transaction. */
  beforeRelease?: (holder: pg.Client) => Promise<void>,
): Promise<{ [K in keyof Requests]: Awaited<ReturnType<Requests[K]['send']>> }> {
  const holder = new pg.Client({ connectionString: supergraph.databaseUrls[database] });
  await holder.connect();
  const answers: Promise<unknown>[] = [];
  try {
    await holder.query('BEGIN');
    await holder.query(lock.sql, lock.params);
    for (const [index, { send, waitsAt }] of requests.entries()) {
      answers.push(send());
      // A statement named by `waitsAt` may be one an earlier request waits at already (the
      // same text, or one containing it): this one waits once one more than those does.
      const waiters = requests
        .slice(0, index + 1)
        .filter((earlier) => earlier.waitsAt.includes(waitsAt)).length;
      const deadline = Date.now() + 10_000;
      for (;;) {
        if ((await lockWaiters(holder, waitsAt)) >= waiters) break;
        if (Date.now() > deadline) {
          throw new Error(`No statement "${waitsAt}" came to wait for the test's lock`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    await beforeRelease?.(holder);
    await holder.query('COMMIT');
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    await holder.end();
    await Promise.allSettled(answers);
  }
  return (await Promise.all(answers)) as {
    [K in keyof Requests]: Awaited<ReturnType<Requests[K]['send']>>;
  };
}

/**
 * Whether a statement containing `statement` waits for a lock in the database `observer`
 * (a connection of the test's, in or out of a transaction) is connected to.
 */
export async function waitsForLock(observer: pg.Client, statement: string): Promise<boolean> {
  return (await lockWaiters(observer, statement)) > 0;
}

/** How many statements containing `statement` wait for a lock, as `waitsForLock` sees them. */
async function lockWaiters(observer: pg.Client, statement: string): Promise<number> {
  // The activity a transaction reads is kept until it ends, unless cleared.
  await observer.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await observer.query<{ waiting: number }>(
    `SELECT count(*)::int AS waiting FROM pg_stat_activity
     WHERE datname = current_database() AND wait_event_type = 'Lock'
       AND position($1 in query) > 0`,
    [statement],
  );
  return rows[0]?.waiting ?? 0;
}

/**
 * A gateway of a test's own over `supergraph`: the test settings, `env` over them, logging to
 * `logger` (by `LOG_LEVEL` otherwise). The caller stops it.
 */
export function gatewayOver(
  supergraph: Supergraph,
  env: NodeJS.ProcessEnv = {},
  logger?: Logger,
): Promise<RunningService> {
  const settings = { NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', DRAIN_DEADLINE_MS: '0' };
  return startGateway({ ...settings, ...subgraphsOf(supergraph), ...env }, logger);
}

/** Where a gateway of a test's own finds this supergraph: its subgraphs and the users service's keys. */
export function subgraphsOf(supergraph: Supergraph): NodeJS.ProcessEnv {
  return {
    AUTH_JWKS_URL: new URL('/.well-known/jwks.json', supergraph.subgraphUrls.users).toString(),
    USERS_URL: supergraph.subgraphUrls.users,
    EVENTS_URL: supergraph.subgraphUrls.events,
    TICKETS_URL: supergraph.subgraphUrls.tickets,
  };
}

export interface SupergraphOptions {
  gateways?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * How the services reach their databases, from the URL of each (e.g. through the statement
   * counter's relay); the tests' own clients connect directly.
   */
  serviceDatabaseUrl?: (url: string) => string;
  /** The PostgreSQL server of every database (the maintenance database's URL; default: the tests' server). */
  databaseServerUrl?: string;
}

/** Wraps a subgraph so that each request's viewer is recorded. */
function observingViewers<Client, Location, TContext extends { viewer: Identity | null }>(
  subgraph: SubgraphDefinition<Client, Location, TContext>,
  viewers: (Identity | null)[],
): SubgraphDefinition<Client, Location, TContext> {
  return {
    ...subgraph,
    async setUp(prisma, options) {
      const setup = await subgraph.setUp(prisma, options);
      return {
        ...setup,
        createContext(request) {
          const context = setup.createContext(request);
          viewers.push(context.viewer);
          return context;
        },
      };
    },
  };
}

/** Opens a subgraph's database with every statement's SQL recorded in `log`. */
function recordingSql<Client, Location, TContext extends BaseContext>(
  subgraph: SubgraphDefinition<Client, Location, TContext>,
  open: (
    location: Location,
    options: { onQuery: QueryListener; onConnectionLost?: (error: Error) => void },
  ) => ReturnType<SubgraphDefinition<Client, Location, TContext>['database']['open']>,
  log: Statement[],
): SubgraphDefinition<Client, Location, TContext> {
  return {
    ...subgraph,
    database: {
      ...subgraph.database,
      open: (location, options) =>
        open(location, {
          ...options,
          onQuery: (sql, params) => log.push({ sql, params, requestId: currentRequestId() }),
        }),
    },
  };
}

/**
 * The settings of a service a test starts in-process, sharing the data directory `dataDir`:
 * quiet, on a free loopback port, without demo data, and stopping at once, as no proxy in
 * front holds idle connections that a stopping service should wait for.
 */
export function inProcessServiceSettings(dataDir: string): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    SEED_DEMO_DATA: 'false',
    DRAIN_DEADLINE_MS: '0',
    DATA_DIR: dataDir,
  };
}

/**
 * The supergraph, started. The events and tickets services call each other, so their ports
 * are drawn before either listens; a test process running beside this one may listen on one
 * of them meanwhile (seen once in a CI run: `Cannot listen on HOST 127.0.0.1, PORT …: it is
 * already in use`). Then what had started is stopped, and all of it starts again on ports
 * drawn anew, three times at most.
 */
export async function startSupergraph(options: SupergraphOptions = {}): Promise<Supergraph> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSupergraphOnce(options);
    } catch (error) {
      const portTaken = error instanceof ConfigurationError && /already in use/.test(error.message);
      if (!portTaken || attempt >= 3) throw error;
    }
  }
}

async function startSupergraphOnce(options: SupergraphOptions): Promise<Supergraph> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ticketing-supergraph-'));
  const urls = {
    USERS_DATABASE_URL: uniqueTestDatabaseUrl('sg_users', options.databaseServerUrl),
    EVENTS_DATABASE_URL: uniqueTestDatabaseUrl('sg_events', options.databaseServerUrl),
    TICKETS_DATABASE_URL: uniqueTestDatabaseUrl('sg_tickets', options.databaseServerUrl),
  };
  const env: NodeJS.ProcessEnv = {
    ...inProcessServiceSettings(dataDir),
    // Every test here signs up from the same address; the limit has tests of its own.
    SIGN_UPS_PER_ADDRESS: '100000',
    // The users service settles deletions left half-done at its start only: a sweep's
    // statements would count as a request's (deletion-recovery.test.ts runs its own).
    DELETION_SWEEP_INTERVAL_MS: '3600000',
    ...Object.fromEntries(
      Object.entries(urls).map(([name, url]) => [name, options.serviceDatabaseUrl?.(url) ?? url]),
    ),
    ...options.env,
  };
  const running: RunningService[] = [];
  const eventsViewers: (Identity | null)[] = [];
  const sql: Supergraph['sql'] = { users: [], events: [], tickets: [] };
  const stop = async () => {
    for (const service of running.toReversed()) await service.stop();
    await Promise.all([users, events, tickets].map((database) => database?.close()));
    await Promise.all(Object.values(urls).map(dropDatabase));
    await rm(dataDir, { recursive: true, force: true });
  };
  let users: Awaited<ReturnType<typeof usersDatabase.open>> | undefined;
  let events: Awaited<ReturnType<typeof eventsDatabase.open>> | undefined;
  let tickets: Awaited<ReturnType<typeof ticketsDatabase.open>> | undefined;
  try {
    // The events relay and the tickets service call each other, and the users service calls
    // the tickets service: their ports are chosen first.
    const [eventsPort, ticketsPort] = [await freePort(), await freePort()];
    const usersService = await startSubgraph(
      recordingSql(usersSubgraph, usersDatabase.open, sql.users),
      { ...env, TICKETS_URL: `http://127.0.0.1:${ticketsPort}/graphql` },
    );
    running.push(usersService);
    const authEnv = {
      ...env,
      AUTH_JWKS_URL: new URL('/.well-known/jwks.json', usersService.url).toString(),
    };
    const ticketsService = await startSubgraph(
      recordingSql(ticketsSubgraph, ticketsDatabase.open, sql.tickets),
      {
        ...authEnv,
        PORT: String(ticketsPort),
        EVENTS_URL: `http://127.0.0.1:${eventsPort}/graphql`,
        USERS_URL: usersService.url,
      },
    );
    running.push(ticketsService);
    const eventsService = await startSubgraph(
      recordingSql(
        observingViewers(eventsSubgraph, eventsViewers),
        eventsDatabase.open,
        sql.events,
      ),
      {
        ...authEnv,
        PORT: String(eventsPort),
        EVENT_CHANGES_URL: `http://127.0.0.1:${ticketsPort}/internal/event-changes`,
        EVENT_RELAY_INTERVAL_MS: '100',
      },
    );
    running.push(eventsService);
    const gateways: RunningService[] = [];
    for (let i = 0; i < (options.gateways ?? 1); i++) {
      const gateway = await startGateway({
        ...authEnv,
        GATEWAY_NAME: `gateway-${i + 1}`,
        USERS_URL: usersService.url,
        EVENTS_URL: eventsService.url,
        TICKETS_URL: ticketsService.url,
      });
      running.push(gateway);
      gateways.push(gateway);
    }
    users = await usersDatabase.open(
      { kind: 'postgres', url: urls.USERS_DATABASE_URL },
      { migrate: false },
    );
    events = await eventsDatabase.open(
      { kind: 'postgres', url: urls.EVENTS_DATABASE_URL },
      { migrate: false },
    );
    tickets = await ticketsDatabase.open(
      { kind: 'postgres', url: urls.TICKETS_DATABASE_URL },
      { migrate: false },
    );
    const databases = { users: users.prisma, events: events.prisma, tickets: tickets.prisma };

    return {
      gatewayUrls: gateways.map((gateway) => gateway.url),
      subgraphUrls: {
        users: usersService.url,
        events: eventsService.url,
        tickets: ticketsService.url,
      },
      databases,
      databaseUrls: {
        users: urls.USERS_DATABASE_URL,
        events: urls.EVENTS_DATABASE_URL,
        tickets: urls.TICKETS_DATABASE_URL,
      },
      dataDir,
      eventsViewers,
      sql,
      async signingKey() {
        const ring = JSON.parse(await readFile(join(dataDir, 'auth', 'signing-keys.json'), 'utf8'));
        return ring.keys.find((key: JWK) => key.kid === ring.active);
      },
      async request(query, variables = {}, requestOptions = {}) {
        const headers: Record<string, string> = {
          'content-type': 'application/json',
          ...requestOptions.headers,
        };
        const authorization =
          requestOptions.authorization ??
          (requestOptions.token ? `Bearer ${requestOptions.token}` : undefined);
        if (authorization !== undefined) headers.authorization = authorization;
        const url = gateways[requestOptions.gateway ?? 0]?.url;
        if (!url) throw new Error(`No gateway ${requestOptions.gateway}`);
        const response = await fetch(url, {
          method: 'POST',
          headers,
          body: JSON.stringify({ query, variables }),
        });
        return { status: response.status, ...(await response.json()) };
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
