import { readFileSync } from 'node:fs';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { DateTime } from '@ticketing/platform';
import { parse } from 'graphql';
import type { EventsContext } from './context.ts';
import { Event } from './resolvers/Event.ts';
import { Query } from './resolvers/Query.ts';

export const typeDefs = parse(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8'));

export const resolvers = { DateTime, Query, Event };

/** The events subgraph, not yet listening: tests call `executeOperation` on it. */
export function createEventsServer(plugins: ApolloServerPlugin<EventsContext>[] = []) {
  return new ApolloServer<EventsContext>({
    schema: buildSubgraphSchema([{ typeDefs, resolvers }]),
    plugins,
  });
}
