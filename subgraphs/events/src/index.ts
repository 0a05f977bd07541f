// Starts the events subgraph on its own database (EVENTS_DATABASE_URL, or embedded PGlite).
import { runSubgraph } from '@ticketing/platform';
import { eventsSubgraph } from './subgraph.ts';

await runSubgraph(eventsSubgraph);
