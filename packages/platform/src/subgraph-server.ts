import { readFileSync } from 'node:fs';
import { ApolloServer, type ApolloServerPlugin, type BaseContext } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';

import { buildSubgraphSchema, type GraphQLResolverMap } from '@apollo/subgraph';
import { type DocumentNode, type GraphQLFormattedError, parse } from 'graphql';
import { isClosedAccount, isDatabaseUnavailable, serviceUnavailable } from './errors.ts';
import { withCanonicalIds } from './ids.ts';
import { apolloLogger, type Logger } from './logger.ts';

/**
 * Expected failures carry their own code and message. A database that is unreachable,
 * restarting or past a deadline is SERVICE_UNAVAILABLE: the client may retry (a purchase
 * with the same idempotency key). Anything else (a bug) reaches the client as a bare
 * INTERNAL_SERVER_ERROR: its message could reveal SQL, table names or data. serveGraphQL
 * logs the original.
 */
function maskUnexpectedError(
  formatted: GraphQLFormattedError,
  error: unknown,
): GraphQLFormattedError {
  if (formatted.extensions?.code !== 'INTERNAL_SERVER_ERROR') return formatted;
  if (isClosedAccount(unwrapResolverError(error))) {
    // Its deletion won a race with this request, which changed nothing.
    return {
      message: 'This account no longer exists.',
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: 'UNAUTHENTICATED', reason: 'invalid' },
    };
  }
  const unavailable = isDatabaseUnavailable(unwrapResolverError(error));
  return {
    message: unavailable ? serviceUnavailable().message : 'Internal server error',
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: { code: unavailable ? 'SERVICE_UNAVAILABLE' : 'INTERNAL_SERVER_ERROR' },
  };
}

/** Parses a subgraph's SDL file (SDL first: the schema file is the source of truth). */
export function readSchema(schemaFile: URL): DocumentNode {
  return parse(readFileSync(schemaFile, 'utf8'));
}

/**
 * A subgraph's Apollo Server over its SDL and resolvers, not yet listening. Its resolvers
 * receive every ID canonical (`withCanonicalIds`). Apollo Server's own messages are lines of
 * `logger` (none without one: tests that call `executeOperation`).
 */
export function createSubgraphServer<TContext extends BaseContext>(
  typeDefs: DocumentNode,
  // biome-ignore lint/suspicious/noExplicitAny: resolvers type their own parents and arguments.
  resolvers: GraphQLResolverMap<any>,
  plugins: ApolloServerPlugin<TContext>[] = [],
  logger?: Logger,
): ApolloServer<TContext> {
  return new ApolloServer<TContext>({
    ...(logger ? { logger: apolloLogger(logger) } : {}),
    schema: withCanonicalIds(buildSubgraphSchema([{ typeDefs, resolvers }])),
    // Inline traces (ftv1) only feed Apollo's hosted studio, which this project does not use.
    plugins: [...plugins, ApolloServerPluginInlineTraceDisabled()],
    includeStacktraceInErrorResponses: false,
    formatError: maskUnexpectedError,
    // The service handles SIGTERM itself (stopOnSignals). Apollo's own handler, on by default
    // outside tests, would stop the server too and then raise the signal again, which ends
    // the process with code 1 before the service has released what it holds.
    stopOnTerminationSignals: false,
  });
}
