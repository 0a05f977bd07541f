import type { ApolloServer, ApolloServerPlugin, BaseContext } from '@apollo/server';
import type express from 'express';
import { z } from 'zod';
import {
  baseSettings,
  ConfigurationError,
  httpUrlSetting,
  loadConfig,
  optionalFlagSetting,
  optionalTextSetting,
  optionalUrlSetting,
  portSetting,
  postgresUrlSetting,
  seedsDemoData,
  warnOfNearMisses,
} from './config.ts';
import {
  assertionHeader,
  assertionParts,
  GatewayAssertionVerifier,
  redisUsedAssertions,
  subgraphSecret,
  subgraphSecretSettings,
  UntrustedRequestError,
  type VerifiedRequest,
} from './gateway-assertion.ts';
import {
  maxBodyBytes,
  type RunningService,
  runService,
  serveGraphQL,
  shutdownSettings,
} from './http.ts';
import { createLogger, type Logger } from './logger.ts';
import { connectRedis, type RedisConnection, redisSettings } from './redis.ts';
import { localServiceUrl, type SubgraphName, serviceRoutes, tokenIssuer } from './services.ts';
import { signedBody } from './signed-body.ts';

/** Where access tokens come from and how their keys are found; the same for every service. */
export const authSettings = z.object({
  AUTH_ISSUER: z.string().min(1).default('urn:ticketing:users'),
  AUTH_AUDIENCE: z.string().min(1).default('urn:ticketing:api'),
  AUTH_JWKS_URL: httpUrlSetting().default(localServiceUrl(tokenIssuer, serviceRoutes.jwks)),
});

/** What a subgraph knows about one request: what the gateway's signed assertion says. */
export type RequestInfo = VerifiedRequest;

/** The part of a service's database definition (`@ticketing/prisma/<service>`) used here. */
interface SubgraphDatabase<Client, Location> {
  /** `<NAME>_DATABASE_URL`: the variable that names the service's PostgreSQL database. */
  urlVariable: string;
  /** Where the database is, from the settings; throws when they name none it may use. */
  locate(env: NodeJS.ProcessEnv): Location;
  open(
    location: Location,
    options?: {
      onConnectionLost?: (error: Error) => void;
      onMigrationWaiting?: (holder: string) => void;
      onMigrationRolledBack?: (migration: string, startedAt: Date) => void;
    },
  ): Promise<{
    prisma: Client;
    connection: { description: string };
    appliedMigrations: string[];
    ping(): Promise<void>;
    seedDemoData(): Promise<boolean>;
    close(): Promise<void>;
  }>;
}

/** What a subgraph prepares once its database is ready. */
export interface SubgraphSetup<TContext extends BaseContext> {
  createContext(request: RequestInfo): TContext;
  /** Routes besides /graphql, e.g. the users service's JWKS. */
  configure?(app: express.Express): void;
  /** Stops background work (e.g. an outbox relay) before the database closes. */
  stop?(): Promise<void>;
  /** Apollo Server plugins of this service's own, besides the platform's. */
  plugins?: ApolloServerPlugin<TContext>[];
}

export interface SetUpOptions {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Redis shared by the replicas (REDIS_URL), if configured; it may be down at times. */
  redis?: RedisConnection | undefined;
  /** Prefixes the gateways' response cache keys in Redis (CACHE_NAMESPACE). */
  cacheNamespace: string;
}

export interface SubgraphDefinition<Client, Location, TContext extends BaseContext> {
  name: SubgraphName;
  defaultPort: number;
  /**
   * The service's own settings, which `setUp` reads: checked at start before anything
   * else, so that a bad one stops the service before its database is migrated or seeded.
   */
  settings: z.ZodObject;
  database: SubgraphDatabase<Client, Location>;
  /** Apollo Server's own messages are lines of `logger`. */
  createServer(plugins: ApolloServerPlugin<TContext>[], logger?: Logger): ApolloServer<TContext>;
  setUp(
    prisma: Client,
    options: SetUpOptions,
  ): SubgraphSetup<TContext> | Promise<SubgraphSetup<TContext>>;
}

/** A request that passed the gateway check, with what its assertion says. */
interface TrustedLocals {
  forwarded: VerifiedRequest;
}

/**
 * Serves `/graphql` only to requests carrying a valid gateway assertion for their exact
 * body: everything else gets 401 or 403 with a stable code, before Apollo sees it. The
 * health endpoints (and routes such as the JWKS) stay open.
 */
function requireGatewayAssertion(
  app: express.Express,
  verifier: GatewayAssertionVerifier,
  logger: Logger,
) {
  /** Answers `error` if it is a refusal (logged; 401 or 403): false for any other error. */
  const refused = (error: unknown, request: express.Request, response: express.Response) => {
    if (!(error instanceof UntrustedRequestError)) return false;
    logger.warn(
      { reason: error.message, address: request.socket.remoteAddress },
      'refused an untrusted request',
    );
    response.status(error.status).json({
      errors: [{ message: error.message, extensions: { code: error.code } }],
    });
    return true;
  };
  const assertionOf = (request: express.Request) => {
    const header = request.headers[assertionHeader];
    return typeof header === 'string' ? header : undefined;
  };
  app.use(
    '/graphql',
    // A request without an assertion of the right shape is refused before its body is read
    // (inflated, parsed): what the body holds, and how it is read, is no one else's business.
    signedBody({
      check: (request) => assertionParts(assertionOf(request)),
      read: 'json',
      limit: maxBodyBytes,
      async verify(request, response: express.Response<unknown, TrustedLocals>, body) {
        response.locals.forwarded = await verifier.verify(assertionOf(request), body);
      },
      refuse: refused,
    }),
  );
}

/** What every subgraph reads at start, besides its own settings. */
export const subgraphStartSettings = (defaultPort: number) =>
  baseSettings
    .extend(redisSettings.shape)
    .extend(shutdownSettings.shape)
    .extend({
      PORT: portSetting(defaultPort),
      /** Default: on outside production, off in production (see seedsDemoData). */
      SEED_DEMO_DATA: optionalFlagSetting(),
      /** Where the embedded database lives when `<NAME>_DATABASE_URL` is not set. */
      DATA_DIR: optionalTextSetting(),
    });

/**
 * How long a subgraph's readiness waits for its database's answer. A probe must answer
 * within its own deadline, not the statement's (12 s on a frozen server): below a
 * Kubernetes probe's default timeout (1 s), and well below the gateways' wait for a
 * subgraph's readiness (2 s), which then reads `not ready` rather than `unreachable`.
 */
export const readinessDeadlineMs = 800;

/**
 * How long a stopping subgraph waits, once its drain is over, for its background work and
 * its database connections. A frozen database holds a statement up to its answer deadline
 * (12 s): waited for, that came on top of the drain, past a pod's grace period. What is
 * still at the database then is left as a crash would leave it (a purchase to be retried
 * with its idempotency key).
 */
export const stopWaitMs = 2_000;

/** `work`, or a rejection saying `what` when it has not settled within `ms`. */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A subgraph's own database URL (`<NAME>_DATABASE_URL`) and gateway secret. */
const subgraphOwnSettings = (name: SubgraphName, urlVariable: string) =>
  subgraphSecretSettings(name).extend({
    [urlVariable]: optionalUrlSetting(postgresUrlSetting()),
  });

/**
 * Starts a subgraph with the settings in `env`: migrates its database, seeds the demo data
 * into an empty one (outside production unless SEED_DEMO_DATA=false; in production only
 * with SEED_DEMO_DATA=true), then serves it. Tests call this
 * in-process; the start module wraps it in `runSubgraph`.
 */
export async function startSubgraph<Client, Location, TContext extends BaseContext>(
  subgraph: SubgraphDefinition<Client, Location, TContext>,
  env: NodeJS.ProcessEnv,
  logger: Logger = createLogger(subgraph.name, loadConfig(baseSettings, env).LOG_LEVEL),
): Promise<RunningService> {
  const config = loadConfig(subgraphStartSettings(subgraph.defaultPort), env);
  const { urlVariable } = subgraph.database;
  const ownSettings = subgraphOwnSettings(subgraph.name, urlVariable);
  const own = loadConfig(ownSettings, env);
  const secret = subgraphSecret(subgraph.name, { ...own, NODE_ENV: config.NODE_ENV });
  loadConfig(subgraph.settings, env);
  warnOfNearMisses(logger, env, subgraphStartSettings(0), ownSettings, subgraph.settings);
  let redis: RedisConnection | undefined;
  // Where the database is follows from the settings alone: what it refuses is one of them.
  let location: Location;
  try {
    location = subgraph.database.locate({
      NODE_ENV: config.NODE_ENV,
      DATA_DIR: config.DATA_DIR,
      [urlVariable]: own[urlVariable] as string | undefined,
    });
  } catch (error) {
    throw new ConfigurationError((error as Error).message);
  }
  const database = await subgraph.database.open(location, {
    onConnectionLost: (error) =>
      logger.warn({ err: error }, 'database connection lost; reconnecting on demand'),
    onMigrationWaiting: (holder) =>
      logger.warn({ holder }, `migrations wait for a lock held by ${holder}`),
    onMigrationRolledBack: (migration, startedAt) =>
      logger.warn(
        { migration, startedAt },
        `migration ${migration}, cut short since ${startedAt.toISOString()}, marked rolled back: applying it again`,
      ),
  });
  // What the set-up started (a relay, sweepers on a timer), stopped before the database
  // closes, whether the service stops or fails to start (its port taken, say).
  let stopSetUp: (() => Promise<void>) | undefined;
  const closeDatabase = async () => {
    try {
      await stopSetUp?.();
    } finally {
      await database.close();
    }
  };
  try {
    logger.info(
      { database: database.connection.description, applied: database.appliedMigrations },
      'database migrated',
    );
    if (seedsDemoData(config)) {
      if (await database.seedDemoData()) {
        logger.info('seeded the demo data set into the empty database');
      }
    } else if (config.SEED_DEMO_DATA === undefined) {
      logger.info('production: no demo data seeded (SEED_DEMO_DATA=true would seed it)');
    }
    redis = config.REDIS_URL
      ? // Used gateway assertions are kept there, so that a request captured at one
        // replica is refused at the others. Without it (or while it is down) each process
        // refuses replays to itself alone.
        connectRedis(config.REDIS_URL, {
          timeoutMs: config.REDIS_TIMEOUT_MS,
          logger,
          name: `${subgraph.name} used assertions`,
        })
      : undefined;
    const setup = await subgraph.setUp(database.prisma, {
      env,
      logger,
      redis,
      cacheNamespace: config.CACHE_NAMESPACE,
    });
    stopSetUp = setup.stop?.bind(setup);
    // One ping at a time: a probe that comes while one is unanswered awaits it, so that a
    // frozen database does not collect a ping (and a wait for a pooled connection) a probe.
    let ping: Promise<void> | undefined;
    const pingDatabase = () => {
      ping ??= database.ping().finally(() => {
        ping = undefined;
      });
      return ping;
    };
    // Why the last claim of a used id failed on a live connection (Redis refusing writes:
    // out of memory, a read-only replica; or too slow), until one succeeds again. A replay
    // to another replica is not refused meanwhile: logged once, and readiness says so. A
    // lost connection is logged once by connectRedis.
    let claimsFailing: string | undefined;
    const usedIds = redis && redisUsedAssertions(redis.client);
    const verifier = new GatewayAssertionVerifier(subgraph.name, secret, {
      shared: usedIds && {
        async claim(id, ttlMs) {
          const fresh = await usedIds.claim(id, ttlMs);
          if (claimsFailing !== undefined) {
            claimsFailing = undefined;
            logger.info('used-assertion ids are kept in redis again');
          }
          return fresh;
        },
      },
      onSharedStoreError: (error) => {
        if (!redis?.available || claimsFailing !== undefined) return;
        claimsFailing = `redis did not keep a used-assertion id: ${(error as Error).message}`;
        logger.warn(
          { err: error },
          'used-assertion check in redis failed; checked locally until it works again',
        );
      },
    });
    return await serveGraphQL<TContext>({
      name: subgraph.name,
      host: config.HOST,
      port: config.PORT,
      logger,
      drainDeadlineMs: config.DRAIN_DEADLINE_MS,
      createApolloServer: (plugins) =>
        subgraph.createServer([...plugins, ...(setup.plugins ?? [])], logger),
      context: async ({ res }) =>
        setup.createContext((res as express.Response<unknown, TrustedLocals>).locals.forwarded),
      checkReadiness: async () => {
        const [, unreachable] = await Promise.all([
          within(pingDatabase(), readinessDeadlineMs, 'the database did not answer'),
          redis?.problem(),
        ]);
        const problem = [unreachable, claimsFailing].filter(Boolean).join('; ');
        return problem ? { status: 'degraded', problems: { redis: problem } } : undefined;
      },
      configure(app) {
        requireGatewayAssertion(app, verifier, logger);
        setup.configure?.(app);
      },
      onStop: async () => {
        await within(
          closeDatabase(),
          stopWaitMs,
          'background work and database did not stop',
        ).catch((error: unknown) =>
          logger.warn({ err: error }, 'stopping without waiting further'),
        );
        await redis?.close();
      },
    });
  } catch (error) {
    await closeDatabase();
    await redis?.close();
    throw error;
  }
}

/** A subgraph's start module in one call: `startSubgraph` on this process's environment. */
export async function runSubgraph<Client, Location, TContext extends BaseContext>(
  subgraph: SubgraphDefinition<Client, Location, TContext>,
): Promise<void> {
  await runService(subgraph.name, (logger) => startSubgraph(subgraph, process.env, logger));
}
