import type { ApolloServerPlugin } from '@apollo/server';
import { createSubgraphServer, DateTime, readSchema } from '@ticketing/platform';
import type { TicketsContext } from './context.ts';
import { Event } from './resolvers/Event.ts';
import { Query } from './resolvers/Query.ts';
import { Ticket } from './resolvers/Ticket.ts';
import { TicketTier } from './resolvers/TicketTier.ts';

export const typeDefs = readSchema(new URL('../schema.graphql', import.meta.url));

export const resolvers = { DateTime, Event, Query, Ticket, TicketTier };

/** The tickets subgraph, not yet listening: tests call `executeOperation` on it. */
export function createTicketsServer(plugins: ApolloServerPlugin<TicketsContext>[] = []) {
  return createSubgraphServer<TicketsContext>(typeDefs, resolvers, plugins);
}
