// Starts the tickets subgraph on its own database (TICKETS_DATABASE_URL, or embedded PGlite).
import { startTelemetry } from '@ticketing/platform/telemetry';

// Tracing first, when configured: it hooks `http` as it loads, so the server is imported
// only once it has started.
await startTelemetry('tickets');
const { runSubgraph } = await import('@ticketing/platform');
const { ticketsSubgraph } = await import('./subgraph.ts');

await runSubgraph(ticketsSubgraph);
