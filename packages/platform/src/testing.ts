// Test support for in-process subgraph servers.
import type { ApolloServer, BaseContext } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';

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
