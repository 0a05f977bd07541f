import { readFileSync } from 'node:fs';
import type { ApolloServer } from '@apollo/server';
import { AccessTokenVerifier, remoteKeySet } from '@ticketing/auth';
import {
  authSettings,
  baseSettings,
  connectRedis,
  createLogger,
  defaultGatewayPort,
  flagSetting,
  httpUrlSetting,
  jsonBody,
  type Logger,
  loadConfig,
  millisecondsSetting,
  optionalUrlSetting,
  portSetting,
  RevocationList,
  type RunningService,
  redisSettings,
  requestIdOf,
  type SubgraphName,
  serveGraphQL,
  shutdownSettings,
  subgraphNames,
  subgraphSecret,
  subgraphSecretSettings,
  warnOfNearMisses,
} from '@ticketing/platform';
import proxyAddr from 'proxy-addr';
import { z } from 'zod';
import { requireClientAddress } from './client-address.ts';
import { supergraphPath } from './compose.ts';
import { limitDocumentSize } from './document-size.ts';
import { serveExplorer } from './explorer.ts';
import { LocalResponseCache } from './local-response-cache.ts';
import { PersistedQueryCache } from './persisted-queries.ts';
import { earlyHitMiddleware, varyByRequestHeaders } from './response-cache.ts';
import { manifestPath, readManifest } from './safelist.ts';
import {
  createGatewayServer,
  type GatewayContext,
  gatewayDefaults,
  supergraphHash,
} from './server.ts';
import { subgraphSources } from './subgraphs.ts';
import { warmedOnStart, warmUp } from './warm-up.ts';
import { WriteBudget, writeBudgetDefaults } from './write-budget.ts';

export const gatewaySettings = baseSettings
  .extend(authSettings.shape)
  .extend(redisSettings.shape)
  .extend(shutdownSettings.shape)
  .extend(subgraphSecretSettings(...subgraphNames).shape)
  .extend({
    PORT: portSetting(defaultGatewayPort),
    /** Names this instance in logs and in the `x-served-by` response header. */
    GATEWAY_NAME: z.string().min(1).default('gateway'),
    SUPERGRAPH_PATH: z.string().min(1).default(supergraphPath),
    USERS_URL: optionalUrlSetting(httpUrlSetting()),
    EVENTS_URL: optionalUrlSetting(httpUrlSetting()),
    TICKETS_URL: optionalUrlSetting(httpUrlSetting()),
    /**
     * The longest one subgraph request may take: past it, the fields it would have given are
     * null with a SERVICE_UNAVAILABLE error, and the rest of the answer still comes.
     */
    SUBGRAPH_TIMEOUT_MS: millisecondsSetting(gatewayDefaults.subgraphTimeoutMs, { min: 1 }),
    /**
     * The longest a whole operation may spend in subgraph requests, however many its plan
     * makes one after another. Below NGINX's 30 s read timeout, so that the gateway always
     * answers before NGINX gives up on it (and counts that against the gateway).
     */
    REQUEST_TIMEOUT_MS: millisecondsSetting(25_000, { min: 1 }),
    /** Run only the operations in the committed safelist manifest. */
    SAFELIST: flagSetting(false),
    /**
     * Cache anonymous queries' responses in Redis, shared by every gateway (README,
     * "Response cache"). Needs REDIS_URL; without Redis nothing is cached.
     */
    RESPONSE_CACHE: flagSetting(true),
    /**
     * The most memory, in MiB of response bodies, each gateway keeps of the response
     * cache's fresh entries (the first level, in front of Redis); 0 turns it off.
     */
    RESPONSE_CACHE_LOCAL_MIB: z.coerce.number().int().min(0).max(1024).default(32),
    /** Send identical subgraph queries that are in flight at the same time only once. */
    DEDUPLICATE_INFLIGHT: flagSetting(gatewayDefaults.deduplicateInflight),
    /** Sizes of the document and query plan caches, in MiB of the heap they hold. */
    DOCUMENT_CACHE_MIB: z.coerce
      .number()
      .int()
      .min(1)
      .default(gatewayDefaults.cacheSizes.documentsMiB),
    QUERY_PLAN_CACHE_MIB: z.coerce
      .number()
      .int()
      .min(1)
      .default(gatewayDefaults.cacheSizes.queryPlansMiB),
    SAFELIST_MANIFEST: z.string().min(1).default(manifestPath),
    /**
     * How long the warm-up at start may take, in ms, before the gateway listens: the
     * manifest's queries run once (warm-up.ts), so that clients' first requests find their
     * plans made and the subgraph connections open. 0 turns it off.
     */
    WARM_UP_TIMEOUT_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
    /**
     * Root mutation fields (aliases each count) one signed-in account may run a second,
     * on average, through all the gateways together; sign-ups, logins and session
     * refreshes are not counted (README, "Write budget").
     */
    ACCOUNT_WRITES_PER_SECOND: z.coerce
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(writeBudgetDefaults.perSecond),
    /** How many of them an account may run at once: the budget of each window. */
    ACCOUNT_WRITE_BURST: z.coerce
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(writeBudgetDefaults.burst),
    /** The largest GraphQL document accepted, in bytes; persisted queries included. */
    MAX_DOCUMENT_BYTES: z.coerce
      .number()
      .int()
      .min(1_024)
      .default(gatewayDefaults.maxDocumentBytes),
    /**
     * The proxies whose X-Forwarded-For the gateway believes: addresses, CIDR ranges or the
     * names `loopback`, `linklocal`, `uniquelocal`, comma-separated (proxy-addr's syntax).
     * The client's address is the right-most entry not sent by one of them. Default: only
     * NGINX on this host. Anything else could choose its own address.
     */
    TRUSTED_PROXIES: z
      .string()
      .default('loopback')
      .transform((value, context) => {
        try {
          return proxyAddr.compile(value.split(',').map((entry) => entry.trim()));
        } catch (error) {
          context.addIssue({ code: 'custom', message: (error as Error).message });
          return z.NEVER;
        }
      }),
  });

/** The committed client operations to warm up with, if the gateway has them. */
function manifestFor(log: Logger) {
  try {
    return readManifest();
  } catch (error) {
    log.warn({ err: error }, 'no persisted-query manifest: starting without a warm-up');
    return undefined;
  }
}

/**
 * How long a gateway's readiness waits for each subgraph's (answered within 0.8 s, see the
 * platform's `readinessDeadlineMs`). A subgraph that has not answered by then is reported
 * unreachable, and the gateway still answers `degraded`: its readiness as a whole answers
 * within this, whatever is frozen behind it.
 */
export const subgraphReadinessWaitMs = 2_000;

/** Starts one gateway instance over the committed supergraph, with the settings in `env`. */
export async function startGateway(
  env: NodeJS.ProcessEnv,
  logger?: Logger,
): Promise<RunningService> {
  const config = loadConfig(gatewaySettings, env);
  const log = logger ?? createLogger(config.GATEWAY_NAME, config.LOG_LEVEL);
  warnOfNearMisses(log, env, gatewaySettings);
  const configuredUrls = {
    users: config.USERS_URL,
    events: config.EVENTS_URL,
    tickets: config.TICKETS_URL,
  };
  const subgraphUrls = Object.fromEntries(
    subgraphSources.map((source) => [
      source.name,
      configuredUrls[source.name] ?? source.defaultUrl,
    ]),
  );
  const subgraphSecrets = Object.fromEntries(
    subgraphSources.map((source) => [source.name, subgraphSecret(source.name, config)]),
  ) as Record<SubgraphName, string>;
  const safelist = config.SAFELIST ? readManifest(config.SAFELIST_MANIFEST) : undefined;
  if (safelist) {
    log.info(
      { operations: safelist.operations.length },
      'safelist mode: only listed operations run',
    );
  }
  const supergraphSdl = readFileSync(config.SUPERGRAPH_PATH, 'utf8');
  const hash = supergraphHash(supergraphSdl);
  const redis = config.REDIS_URL
    ? connectRedis(config.REDIS_URL, {
        timeoutMs: config.REDIS_TIMEOUT_MS,
        logger: log,
        name: config.GATEWAY_NAME,
      })
    : undefined;
  // Revoked sessions and users, published by the users service: checked in memory on
  // every request (see revocations.ts in the platform package).
  const revocations =
    config.REDIS_URL && redis
      ? new RevocationList(
          connectRedis(config.REDIS_URL, {
            timeoutMs: config.REDIS_TIMEOUT_MS,
            logger: log,
            name: `${config.GATEWAY_NAME} revocations`,
          }),
          redis,
          log,
        )
      : undefined;
  // The response cache's first level listens for invalidations on a connection of its own.
  const local =
    config.REDIS_URL && redis && config.RESPONSE_CACHE && config.RESPONSE_CACHE_LOCAL_MIB > 0
      ? new LocalResponseCache({
          subscriber: connectRedis(config.REDIS_URL, {
            timeoutMs: config.REDIS_TIMEOUT_MS,
            logger: log,
            name: `${config.GATEWAY_NAME} response cache invalidations`,
          }),
          namespace: config.CACHE_NAMESPACE,
          maxBytes: config.RESPONSE_CACHE_LOCAL_MIB * 2 ** 20,
          logger: log,
        })
      : undefined;
  const verifier = new AccessTokenVerifier(
    remoteKeySet(config.AUTH_JWKS_URL),
    { issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE },
    revocations ? { isRevoked: (token) => revocations.isRevoked(token) } : {},
  );

  // Warmed with the operations clients send before it listens (warm-up.ts): its readiness
  // waits for that, within WARM_UP_TIMEOUT_MS.
  const warmUpManifest = config.WARM_UP_TIMEOUT_MS > 0 ? (safelist ?? manifestFor(log)) : undefined;
  const warmUpOnStart =
    <Plugins>(create: (plugins: Plugins) => ApolloServer<GatewayContext>) =>
    (plugins: Plugins) =>
      warmUpManifest
        ? warmedOnStart(create(plugins), (started) =>
            warmUp(started, {
              manifest: warmUpManifest,
              timeoutMs: config.WARM_UP_TIMEOUT_MS,
              logger: log,
            }),
          )
        : create(plugins);

  const service = await serveGraphQL<GatewayContext>({
    name: config.GATEWAY_NAME,
    host: config.HOST,
    port: config.PORT,
    logger: log,
    drainDeadlineMs: config.DRAIN_DEADLINE_MS,
    createApolloServer: warmUpOnStart((plugins) =>
      createGatewayServer({
        supergraphSdl,
        subgraphUrls,
        subgraphSecrets,
        safelist,
        deduplicateInflight: config.DEDUPLICATE_INFLIGHT,
        maxDocumentBytes: config.MAX_DOCUMENT_BYTES,
        cacheSizes: {
          documentsMiB: config.DOCUMENT_CACHE_MIB,
          queryPlansMiB: config.QUERY_PLAN_CACHE_MIB,
        },
        logger: log,
        accessTokens: verifier,
        production: config.NODE_ENV === 'production',
        ...(redis ? { persistedQueriesCache: new PersistedQueryCache(redis.client) } : {}),
        responseCache:
          redis && config.RESPONSE_CACHE
            ? {
                redis: redis.client,
                namespace: config.CACHE_NAMESPACE,
                schemaId: hash,
                logger: log,
                local,
              }
            : undefined,
        subgraphTimeoutMs: config.SUBGRAPH_TIMEOUT_MS,
        writeBudget: new WriteBudget({
          perSecond: config.ACCOUNT_WRITES_PER_SECOND,
          burst: config.ACCOUNT_WRITE_BURST,
          redis: redis?.client,
          namespace: config.CACHE_NAMESPACE,
        }),
        plugins,
      }),
    ),
    // maskSubgraphErrors logs each error it masks, with the subgraph and its answer.
    formatErrorLogsMasked: true,
    // An invalid token fails the request here, with UNAUTHENTICATED: never anonymous access.
    context: async ({ req }) => {
      // Counted from before the token is verified: a wait for the key set is part of the
      // request, and the answer must still come before NGINX gives up on the gateway.
      const deadline = Date.now() + config.REQUEST_TIMEOUT_MS;
      return {
        viewer: await verifier.authenticate(req.headers.authorization),
        clientAddress: req.ip,
        requestId: requestIdOf(req),
        deadline,
      };
    },
    configure(app) {
      // NGINX sets X-Forwarded-For to the address it saw, overwriting the client's. Only a
      // trusted proxy's header counts: req.ip is the right-most untrusted address.
      app.set('trust proxy', config.TRUSTED_PROXIES);
      // Before anything answers: every answer names the request headers it depends on.
      app.use(
        '/graphql',
        varyByRequestHeaders,
        jsonBody,
        requireClientAddress,
        limitDocumentSize(config.MAX_DOCUMENT_BYTES),
      );
      app.use((_req, res, next) => {
        res.setHeader('x-served-by', config.GATEWAY_NAME);
        next();
      });
      // A hit in this gateway's memory is answered here, before Apollo parses anything.
      if (local) {
        app.use(
          '/graphql',
          earlyHitMiddleware({ local, namespace: config.CACHE_NAMESPACE, schemaId: hash }),
        );
      }
      // GraphiQL from npm packages, for development: works offline (explorer.ts).
      if (config.NODE_ENV !== 'production') serveExplorer(app);
    },
    // A gateway serves as long as it runs: without a subgraph, the fields that subgraph
    // gives fail and the rest still answer; without Redis, persisted queries stay in this
    // process. Readiness says `degraded`, and why, but never takes a gateway out of
    // rotation for what every gateway shares.
    async checkReadiness() {
      // Redis is asked beside the subgraphs, not after them: the whole check answers within
      // the subgraphs' wait, below its probe's timeout (deploy/kubernetes).
      const redisAnswer = redis?.problem();
      const checks = await Promise.all(
        Object.entries(subgraphUrls).map(async ([name, url]) => {
          try {
            const response = await fetch(new URL('/health/ready', url), {
              signal: AbortSignal.timeout(subgraphReadinessWaitMs),
            });
            await response.body?.cancel();
            return { name, problem: response.ok ? undefined : `not ready (${response.status})` };
          } catch (error) {
            return { name, problem: `unreachable (${(error as Error).name})` };
          }
        }),
      );
      const subgraphs = checks.filter((check) => !check.problem).map((check) => check.name);
      const problems = Object.fromEntries(
        checks.flatMap((check) => (check.problem ? [[check.name, check.problem]] : [])),
      );
      const redisProblem = await redisAnswer;
      if (redisProblem) problems.redis = redisProblem;
      const revocationsProblem = revocations?.problem();
      if (revocationsProblem) problems.revocations = revocationsProblem;
      if (Object.keys(problems).length === 0) return { supergraph: hash, subgraphs };
      return { status: 'degraded', supergraph: hash, subgraphs, problems };
    },
  });
  return {
    ...service,
    async stop() {
      await service.stop();
      await redis?.close();
      await revocations?.close();
      await local?.close();
    },
  };
}
