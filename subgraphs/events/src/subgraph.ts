import type { SubgraphDefinition } from '@ticketing/platform';
import { eventsDatabase, type PrismaClient } from '@ticketing/prisma/events';
import { createContext, type EventsContext } from './context.ts';
import { createEventsServer } from './server.ts';

export const eventsSubgraph: SubgraphDefinition<
  PrismaClient,
  ReturnType<typeof eventsDatabase.locate>,
  EventsContext
> = {
  name: 'events',
  defaultPort: 4002,
  database: eventsDatabase,
  createServer: createEventsServer,
  setUp: (prisma) => ({ createContext: (request) => createContext(prisma, request) }),
};
