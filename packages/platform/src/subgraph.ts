import type { ApolloServer, ApolloServerPlugin, BaseContext } from '@apollo/server';
import { baseSettings, flagSetting, loadConfig, portSetting } from './config.ts';
import { runService, serveGraphQL } from './http.ts';
import { createLogger } from './logger.ts';

/** The part of a service's database definition (`@ticketing/prisma/<service>`) used here. */
interface SubgraphDatabase<Client, Location> {
  locate(): Location;
  open(location: Location): Promise<{
    prisma: Client;
    connection: { description: string };
    appliedMigrations: string[];
    ping(): Promise<void>;
    close(): Promise<void>;
  }>;
  seedDemoData(prisma: Client): Promise<boolean>;
}

export interface SubgraphDefinition<Client, Location, TContext extends BaseContext> {
  name: string;
  defaultPort: number;
  database: SubgraphDatabase<Client, Location>;
  createServer(plugins: ApolloServerPlugin<TContext>[]): ApolloServer<TContext>;
  createContext(prisma: Client): TContext;
}

/**
 * A subgraph's start module in one call: reads its settings, migrates its database, seeds
 * the demo data into an empty one (unless SEED_DEMO_DATA=false), then serves it.
 */
export async function runSubgraph<Client, Location, TContext extends BaseContext>(
  subgraph: SubgraphDefinition<Client, Location, TContext>,
): Promise<void> {
  const config = loadConfig(
    baseSettings.extend({
      PORT: portSetting(subgraph.defaultPort),
      SEED_DEMO_DATA: flagSetting(true),
    }),
  );
  const logger = createLogger(subgraph.name, config.LOG_LEVEL);
  await runService(subgraph.name, logger, async () => {
    const database = await subgraph.database.open(subgraph.database.locate());
    logger.info(
      { database: database.connection.description, applied: database.appliedMigrations },
      'database migrated',
    );
    if (config.SEED_DEMO_DATA && (await subgraph.database.seedDemoData(database.prisma))) {
      logger.info('seeded the demo data set into the empty database');
    }
    return serveGraphQL({
      name: subgraph.name,
      host: config.HOST,
      port: config.PORT,
      logger,
      createApolloServer: subgraph.createServer,
      context: async () => subgraph.createContext(database.prisma),
      checkReadiness: async () => {
        await database.ping();
        return undefined;
      },
      onStop: () => database.close(),
    });
  });
}
