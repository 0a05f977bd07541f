import type { ApolloServer, ApolloServerPlugin, BaseContext } from '@apollo/server';
import { AccessTokenVerifier, type Identity, remoteKeySet } from '@ticketing/auth';
import type express from 'express';
import type { JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { baseSettings, flagSetting, loadConfig, portSetting } from './config.ts';
import { type RunningService, runService, serveGraphQL } from './http.ts';
import { createLogger, type Logger } from './logger.ts';

/** Where access tokens come from and how their keys are found; the same for every service. */
export const authSettings = z.object({
  AUTH_ISSUER: z.string().min(1).default('urn:ticketing:users'),
  AUTH_AUDIENCE: z.string().min(1).default('urn:ticketing:api'),
  AUTH_JWKS_URL: z.url().default('http://127.0.0.1:4001/.well-known/jwks.json'),
});

/** What a subgraph knows about one request. */
export interface RequestInfo {
  /** The verified caller, or null for an anonymous request. */
  viewer: Identity | null;
  /** The client's address as the edge saw it, for throttling. */
  clientAddress: string | undefined;
  /** The caller's credentials, for calling another subgraph on their behalf. */
  authorization: string | undefined;
}

/** The part of a service's database definition (`@ticketing/prisma/<service>`) used here. */
interface SubgraphDatabase<Client, Location> {
  locate(env: NodeJS.ProcessEnv): Location;
  open(
    location: Location,
    options?: { onConnectionLost?: (error: Error) => void },
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
  /** Keys to verify access tokens with, instead of fetching the users service's (its own). */
  keySet?: JWTVerifyGetKey;
  /** Routes besides /graphql, e.g. the users service's JWKS. */
  configure?(app: express.Express): void;
  /** Stops background work (e.g. an outbox relay) before the database closes. */
  stop?(): Promise<void>;
}

export interface SetUpOptions {
  env: NodeJS.ProcessEnv;
  logger: Logger;
}

export interface SubgraphDefinition<Client, Location, TContext extends BaseContext> {
  name: string;
  defaultPort: number;
  database: SubgraphDatabase<Client, Location>;
  createServer(plugins: ApolloServerPlugin<TContext>[]): ApolloServer<TContext>;
  setUp(
    prisma: Client,
    options: SetUpOptions,
  ): SubgraphSetup<TContext> | Promise<SubgraphSetup<TContext>>;
}

/** The address of the client behind the gateway, which forwards it as `x-client-address`. */
function clientAddressOf(request: express.Request): string | undefined {
  const forwarded = request.headers['x-client-address'];
  return typeof forwarded === 'string' && forwarded ? forwarded : request.socket.remoteAddress;
}

/**
 * Starts a subgraph with the settings in `env`: migrates its database, seeds the demo data
 * into an empty one (unless SEED_DEMO_DATA=false), then serves it. Tests call this
 * in-process; the start module wraps it in `runSubgraph`.
 */
export async function startSubgraph<Client, Location, TContext extends BaseContext>(
  subgraph: SubgraphDefinition<Client, Location, TContext>,
  env: NodeJS.ProcessEnv,
  logger: Logger = createLogger(subgraph.name, loadConfig(baseSettings, env).LOG_LEVEL),
): Promise<RunningService> {
  const config = loadConfig(
    baseSettings.extend(authSettings.shape).extend({
      PORT: portSetting(subgraph.defaultPort),
      SEED_DEMO_DATA: flagSetting(true),
    }),
    env,
  );
  const database = await subgraph.database.open(subgraph.database.locate(env), {
    onConnectionLost: (error) =>
      logger.warn({ err: error }, 'database connection lost; reconnecting on demand'),
  });
  try {
    logger.info(
      { database: database.connection.description, applied: database.appliedMigrations },
      'database migrated',
    );
    if (config.SEED_DEMO_DATA && (await database.seedDemoData())) {
      logger.info('seeded the demo data set into the empty database');
    }
    const setup = await subgraph.setUp(database.prisma, { env, logger });
    const verifier = new AccessTokenVerifier(setup.keySet ?? remoteKeySet(config.AUTH_JWKS_URL), {
      issuer: config.AUTH_ISSUER,
      audience: config.AUTH_AUDIENCE,
    });
    return await serveGraphQL({
      name: subgraph.name,
      host: config.HOST,
      port: config.PORT,
      logger,
      createApolloServer: subgraph.createServer,
      context: async ({ req }) =>
        setup.createContext({
          viewer: await verifier.authenticate(req.headers.authorization),
          clientAddress: clientAddressOf(req),
          authorization: req.headers.authorization,
        }),
      checkReadiness: async () => {
        await database.ping();
        return undefined;
      },
      configure: setup.configure,
      onStop: async () => {
        await setup.stop?.();
        await database.close();
      },
    });
  } catch (error) {
    await database.close();
    throw error;
  }
}

/** A subgraph's start module in one call: `startSubgraph` on this process's environment. */
export async function runSubgraph<Client, Location, TContext extends BaseContext>(
  subgraph: SubgraphDefinition<Client, Location, TContext>,
): Promise<void> {
  const logger = createLogger(subgraph.name, loadConfig(baseSettings).LOG_LEVEL);
  await runService(subgraph.name, logger, () => startSubgraph(subgraph, process.env, logger));
}
