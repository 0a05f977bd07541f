// Starts the users subgraph on its own database (USERS_DATABASE_URL, or embedded PGlite).
import { startTelemetry } from '@ticketing/platform/telemetry';

// Tracing first, when configured: it hooks `http` as it loads, so the server is imported
// only once it has started.
await startTelemetry('users');
const { runSubgraph } = await import('@ticketing/platform');
const { usersSubgraph } = await import('./subgraph.ts');

await runSubgraph(usersSubgraph);
