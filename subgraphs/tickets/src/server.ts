import { readFileSync } from 'node:fs';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { DateTime } from '@ticketing/platform';
import { parse } from 'graphql';
import type { TicketsContext } from './context.ts';
import { Event } from './resolvers/Event.ts';
import { Query } from './resolvers/Query.ts';
import { Ticket } from './resolvers/Ticket.ts';
import { TicketTier } from './resolvers/TicketTier.ts';

export const typeDefs = parse(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8'));

export const resolvers = { DateTime, Query, Event, Ticket, TicketTier };

/** The tickets subgraph, not yet listening: tests call `executeOperation` on it. */
export function createTicketsServer(plugins: ApolloServerPlugin<TicketsContext>[] = []) {
  return new ApolloServer<TicketsContext>({
    schema: buildSubgraphSchema([{ typeDefs, resolvers }]),
    plugins,
  });
}
