import { readFileSync } from 'node:fs';
import { KeyvAdapter } from '@apollo/utils.keyvadapter';
import KeyvRedis from '@keyv/redis';
import { AccessTokenVerifier, remoteKeySet } from '@ticketing/auth';
import {
  authSettings,
  baseSettings,
  connectRedis,
  createLogger,
  flagSetting,
  jsonBody,
  type Logger,
  loadConfig,
  portSetting,
  RevocationList,
  type RunningService,
  requestIdOf,
  type SubgraphName,
  serveGraphQL,
  subgraphSecret,
} from '@ticketing/platform';
import Keyv from 'keyv';
import proxyAddr from 'proxy-addr';
import { z } from 'zod';
import { supergraphPath } from './compose.ts';
import { defaultMaxDocumentBytes, limitDocumentSize } from './document-size.ts';
import { manifestPath, readManifest } from './safelist.ts';
import { createGatewayServer, type GatewayContext, supergraphHash } from './server.ts';
import { subgraphSources } from './subgraphs.ts';

export const gatewaySettings = baseSettings.extend(authSettings.shape).extend({
  PORT: portSetting(4000),
  /** Names this instance in logs and in the `x-served-by` response header. */
  GATEWAY_NAME: z.string().min(1).default('gateway'),
  SUPERGRAPH_PATH: z.string().min(1).default(supergraphPath),
  USERS_URL: z.url().optional(),
  EVENTS_URL: z.url().optional(),
  TICKETS_URL: z.url().optional(),
  /** Redis for the persisted-query cache that all instances share (e.g. redis://127.0.0.1:6379). */
  REDIS_URL: z.url().optional(),
  /** Run only the operations in the committed safelist manifest. */
  SAFELIST: flagSetting(false),
  /** Send identical subgraph queries that are in flight at the same time only once. */
  DEDUPLICATE_INFLIGHT: flagSetting(true),
  /** Sizes of the document and query plan caches, in MiB as Apollo weighs them. */
  DOCUMENT_CACHE_MIB: z.coerce.number().int().min(1).default(8),
  QUERY_PLAN_CACHE_MIB: z.coerce.number().int().min(1).default(8),
  SAFELIST_MANIFEST: z.string().min(1).default(manifestPath),
  /** The largest GraphQL document accepted, in bytes; persisted queries included. */
  MAX_DOCUMENT_BYTES: z.coerce.number().int().min(1_024).default(defaultMaxDocumentBytes),
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

/** Starts one gateway instance over the committed supergraph, with the settings in `env`. */
export async function startGateway(
  env: NodeJS.ProcessEnv,
  logger?: Logger,
): Promise<RunningService> {
  const config = loadConfig(gatewaySettings, env);
  const log = logger ?? createLogger(config.GATEWAY_NAME, config.LOG_LEVEL);
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
    subgraphSources.map((source) => [source.name, subgraphSecret(source.name, env)]),
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
  const sharedCache = config.REDIS_URL
    ? new Keyv<string>({ store: new KeyvRedis(config.REDIS_URL), namespace: 'ticketing:apq' })
    : undefined;
  // Revoked sessions and users, published by the users service: checked in memory on
  // every request (see revocations.ts in the platform package).
  const revocations = config.REDIS_URL
    ? new RevocationList(
        connectRedis(config.REDIS_URL, log, 'revocations (subscriber)'),
        connectRedis(config.REDIS_URL, log, 'revocations'),
        log,
      )
    : undefined;
  const verifier = new AccessTokenVerifier(
    remoteKeySet(config.AUTH_JWKS_URL),
    { issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE },
    revocations ? { isRevoked: (token) => revocations.isRevoked(token) } : {},
  );

  const service = await serveGraphQL<GatewayContext>({
    name: config.GATEWAY_NAME,
    host: config.HOST,
    port: config.PORT,
    logger: log,
    createApolloServer: (plugins) =>
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
        production: config.NODE_ENV === 'production',
        ...(sharedCache
          ? {
              // The same keyv 5 class, typed twice (its ESM and CommonJS declarations); the
              // adapter only calls get and set.
              persistedQueriesCache: new KeyvAdapter(
                sharedCache as unknown as ConstructorParameters<typeof KeyvAdapter<string>>[0],
              ),
            }
          : {}),
        plugins,
      }),
    // An invalid token fails the request here, with UNAUTHENTICATED: never anonymous access.
    context: async ({ req }) => ({
      viewer: await verifier.authenticate(req.headers.authorization),
      clientAddress: req.ip,
      requestId: requestIdOf(req),
    }),
    configure(app) {
      // NGINX sets X-Forwarded-For to the address it saw, overwriting the client's. Only a
      // trusted proxy's header counts: req.ip is the right-most untrusted address.
      app.set('trust proxy', config.TRUSTED_PROXIES);
      app.use('/graphql', jsonBody, limitDocumentSize(config.MAX_DOCUMENT_BYTES));
      app.use((_req, res, next) => {
        res.setHeader('x-served-by', config.GATEWAY_NAME);
        next();
      });
    },
    // Ready when every subgraph answers its own readiness check.
    async checkReadiness() {
      const subgraphs = await Promise.all(
        Object.entries(subgraphUrls).map(async ([name, url]) => {
          const response = await fetch(new URL('/health/ready', url), {
            signal: AbortSignal.timeout(2_000),
          });
          if (!response.ok) throw new Error(`subgraph ${name} is not ready (${response.status})`);
          return name;
        }),
      );
      return { supergraph: hash, subgraphs, ...revocations?.readiness() };
    },
  });
  return {
    ...service,
    async stop() {
      await service.stop();
      await sharedCache?.disconnect();
      await revocations?.close();
    },
  };
}
