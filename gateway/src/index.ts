// Starts one gateway instance over the committed supergraph.
import { createLogger, loadConfig, runService } from '@ticketing/platform';
import { gatewaySettings, startGateway } from './main.ts';

const { GATEWAY_NAME, LOG_LEVEL } = loadConfig(
  gatewaySettings.pick({ GATEWAY_NAME: true, LOG_LEVEL: true }),
);
const logger = createLogger(GATEWAY_NAME, LOG_LEVEL);

await runService(GATEWAY_NAME, logger, () => startGateway(process.env, logger));
