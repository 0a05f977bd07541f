// Starts the tickets subgraph on its own database (TICKETS_DATABASE_URL, or embedded PGlite).
import { runSubgraph } from '@ticketing/platform';
import { ticketsSubgraph } from './subgraph.ts';

await runSubgraph(ticketsSubgraph);
