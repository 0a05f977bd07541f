import { readFileSync } from 'node:fs';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { DateTime } from '@ticketing/platform';
import { parse } from 'graphql';
import type { UsersContext } from './context.ts';
import { User } from './resolvers/User.ts';

export const typeDefs = parse(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8'));

export const resolvers = { DateTime, User };

/** The users subgraph, not yet listening: tests call `executeOperation` on it. */
export function createUsersServer(plugins: ApolloServerPlugin<UsersContext>[] = []) {
  return new ApolloServer<UsersContext>({
    schema: buildSubgraphSchema([{ typeDefs, resolvers }]),
    plugins,
  });
}
