// Test support for in-process subgraph servers.
import { ApolloServer, type BaseContext } from '@apollo/server';
import type express from 'express';
import type { GraphQLFormattedError } from 'graphql';
import { type RunningService, serveGraphQL } from './http.ts';
import { createLogger } from './logger.ts';

export interface ExecutionResult<Data> {
  data?: Data | null;
  errors?: readonly GraphQLFormattedError[];
}

/**
 * Returns a function that runs one operation against `server` (started) with a fresh
 * context, as a request would get, and returns its single result.
 */
export function executorFor<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  createContext: () => TContext,
) {
  return async <Data = Record<string, unknown>>(
    query: string,
    variables: Record<string, unknown> = {},
  ): Promise<ExecutionResult<Data>> => {
    const response = await server.executeOperation(
      { query, variables },
      { contextValue: createContext() },
    );
    if (response.body.kind !== 'single')
      throw new Error('Expected a single, non-incremental result');
    return response.body.singleResult as ExecutionResult<Data>;
  };
}

/**
 * Serves a one-field schema (`{ ok }`, true) through the HTTP layer every service uses
 * (`serveGraphQL`), on a free port, silently: for tests of that layer alone.
 */
export function serveOkService(
  name: string,
  configure?: (app: express.Express) => void,
): Promise<RunningService> {
  return serveGraphQL({
    name,
    drainDeadlineMs: 0,
    host: '127.0.0.1',
    port: 0,
    logger: createLogger(name, 'silent'),
    createApolloServer: (plugins) =>
      new ApolloServer({
        typeDefs: 'type Query { ok: Boolean }',
        resolvers: { Query: { ok: () => true } },
        plugins,
      }),
    context: async () => ({}),
    ...(configure ? { configure } : {}),
  });
}
