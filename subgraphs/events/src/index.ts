// Starts the events subgraph on its own database (EVENTS_DATABASE_URL, or embedded PGlite).
import { startTelemetry } from '@ticketing/platform/telemetry';

// Tracing first, when configured: it hooks `http` as it loads, so the server is imported
// only once it has started.
await startTelemetry('events');
const { runSubgraph } = await import('@ticketing/platform');
const { eventsSubgraph } = await import('./subgraph.ts');

await runSubgraph(eventsSubgraph);
