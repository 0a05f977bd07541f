import type { ApolloServerPlugin } from '@apollo/server';
import { createSubgraphServer, DateTime, type Logger, readSchema } from '@ticketing/platform';
import type { UsersContext } from './context.ts';
import type { Resolvers } from './generated/resolvers.ts';
import { issuedTokensPlugin } from './issued-tokens.ts';
import { Mutation } from './resolvers/Mutation.ts';
import { Query } from './resolvers/Query.ts';
import { User } from './resolvers/User.ts';

export const typeDefs = readSchema(new URL('../schema.graphql', import.meta.url));

export const resolvers: Resolvers = { DateTime, Query, Mutation, User };

/**
 * The users subgraph, not yet listening: tests call `executeOperation` on it. Apollo
 * Server's own messages are lines of `logger`.
 */
export function createUsersServer(
  plugins: ApolloServerPlugin<UsersContext>[] = [],
  logger?: Logger,
) {
  return createSubgraphServer<UsersContext>(
    typeDefs,
    resolvers,
    [issuedTokensPlugin(), ...plugins],
    logger,
  );
}
