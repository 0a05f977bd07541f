import type { SubgraphDefinition } from '@ticketing/platform';
import { type PrismaClient, ticketsDatabase } from '@ticketing/prisma/tickets';
import { createContext, type TicketsContext } from './context.ts';
import { createTicketsServer } from './server.ts';

export const ticketsSubgraph: SubgraphDefinition<
  PrismaClient,
  ReturnType<typeof ticketsDatabase.locate>,
  TicketsContext
> = {
  name: 'tickets',
  defaultPort: 4003,
  database: ticketsDatabase,
  createServer: createTicketsServer,
  setUp: (prisma) => ({ createContext: (request) => createContext(prisma, request) }),
};
