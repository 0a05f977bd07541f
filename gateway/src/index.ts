// Starts one gateway instance over the committed supergraph.
import { readFileSync } from 'node:fs';
import {
  baseSettings,
  createLogger,
  loadConfig,
  portSetting,
  runService,
  serveGraphQL,
} from '@ticketing/platform';
import { z } from 'zod';
import { supergraphPath } from './compose.ts';
import { createGatewayServer, supergraphHash } from './server.ts';
import { subgraphSources } from './subgraphs.ts';

const config = loadConfig(
  baseSettings.extend({
    PORT: portSetting(4000),
    /** Names this instance in logs and in the `x-served-by` response header. */
    GATEWAY_NAME: z.string().min(1).default('gateway'),
    SUPERGRAPH_PATH: z.string().min(1).default(supergraphPath),
    USERS_URL: z.url().optional(),
    EVENTS_URL: z.url().optional(),
    TICKETS_URL: z.url().optional(),
  }),
);
const logger = createLogger(config.GATEWAY_NAME, config.LOG_LEVEL);

const subgraphUrls = Object.fromEntries(
  subgraphSources.map((source) => [
    source.name,
    { users: config.USERS_URL, events: config.EVENTS_URL, tickets: config.TICKETS_URL }[
      source.name
    ] ?? source.defaultUrl,
  ]),
);

await runService(config.GATEWAY_NAME, logger, async () => {
  const supergraphSdl = readFileSync(config.SUPERGRAPH_PATH, 'utf8');
  const hash = supergraphHash(supergraphSdl);
  return serveGraphQL({
    name: config.GATEWAY_NAME,
    host: config.HOST,
    port: config.PORT,
    logger,
    createApolloServer: (plugins) =>
      createGatewayServer({
        supergraphSdl,
        subgraphUrls,
        production: config.NODE_ENV === 'production',
        plugins,
      }),
    context: async () => ({}),
    configure(app) {
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
      return { supergraph: hash, subgraphs };
    },
  });
});
