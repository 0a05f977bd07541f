// Starts the tickets subgraph on its own database (TICKETS_DATABASE_URL, or embedded PGlite).
import { runSubgraph } from '@ticketing/platform';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { createContext } from './context.ts';
import { createTicketsServer } from './server.ts';

await runSubgraph({
  name: 'tickets',
  defaultPort: 4003,
  database: ticketsDatabase,
  createServer: createTicketsServer,
  createContext,
});
