export { DateTimeResolver as DateTime } from 'graphql-scalars';
export { inRequestedOrder } from './batch.ts';
export {
  baseSettings,
  ConfigurationError,
  flagSetting,
  loadConfig,
  portSetting,
} from './config.ts';
export {
  type RunningService,
  runService,
  type ServeOptions,
  serveGraphQL,
  stopOnSignals,
} from './http.ts';
export { createLogger, type Logger } from './logger.ts';
export { runSubgraph, type SubgraphDefinition } from './subgraph.ts';
export { createSubgraphServer, readSchema } from './subgraph-server.ts';
