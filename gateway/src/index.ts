// Starts one gateway instance over the committed supergraph.
import { startTelemetry } from '@ticketing/platform/telemetry';

// Tracing first, when configured: it hooks `http` as it loads, so the server and the
// subgraph client are imported only once it has started.
await startTelemetry('gateway', { instanceId: process.env.GATEWAY_NAME });
const { runService } = await import('@ticketing/platform');
const { gatewaySettings, startGateway } = await import('./main.ts');

// Named in its log lines from the start; a bad GATEWAY_NAME is reported by the settings' check.
const name = gatewaySettings.shape.GATEWAY_NAME.safeParse(process.env.GATEWAY_NAME);

await runService(name.success ? name.data : 'gateway', (logger) =>
  startGateway(process.env, logger),
);
