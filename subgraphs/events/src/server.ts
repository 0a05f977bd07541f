import type { ApolloServerPlugin } from '@apollo/server';
import { createSubgraphServer, DateTime, type Logger, readSchema } from '@ticketing/platform';
import type { EventsContext } from './context.ts';
import type { Resolvers } from './generated/resolvers.ts';
import { Event } from './resolvers/Event.ts';
import { Mutation } from './resolvers/Mutation.ts';
import { Query } from './resolvers/Query.ts';
import { User } from './resolvers/User.ts';

export const typeDefs = readSchema(new URL('../schema.graphql', import.meta.url));

export const resolvers: Resolvers = { DateTime, Query, Mutation, Event, User };

/**
 * The events subgraph, not yet listening: tests call `executeOperation` on it. Apollo
 * Server's own messages are lines of `logger`.
 */
export function createEventsServer(
  plugins: ApolloServerPlugin<EventsContext>[] = [],
  logger?: Logger,
) {
  return createSubgraphServer<EventsContext>(typeDefs, resolvers, plugins, logger);
}
