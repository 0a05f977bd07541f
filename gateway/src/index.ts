// Starts one gateway instance over the committed supergraph.
import { startTelemetry } from '@ticketing/platform/telemetry';

// Tracing first, when configured: it hooks `http` as it loads, so the server and the
// subgraph client are imported only once it has started.
await startTelemetry('gateway', { instanceId: process.env.GATEWAY_NAME });
const { createLogger, loadConfig, runService } = await import('@ticketing/platform');
const { gatewaySettings, startGateway } = await import('./main.ts');

const { GATEWAY_NAME, LOG_LEVEL } = loadConfig(
  gatewaySettings.pick({ GATEWAY_NAME: true, LOG_LEVEL: true }),
);
const logger = createLogger(GATEWAY_NAME, LOG_LEVEL);

await runService(GATEWAY_NAME, logger, () => startGateway(process.env, logger));
