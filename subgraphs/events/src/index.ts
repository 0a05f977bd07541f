// Starts the events subgraph on its own database (EVENTS_DATABASE_URL, or embedded PGlite).
import { runSubgraph } from '@ticketing/platform';
import { eventsDatabase } from '@ticketing/prisma/events';
import { createContext } from './context.ts';
import { createEventsServer } from './server.ts';

await runSubgraph({
  name: 'events',
  defaultPort: 4002,
  database: eventsDatabase,
  createServer: createEventsServer,
  createContext,
});
