import { unwrapResolverError } from '@apollo/server/errors';
import { passwordQueueExtension } from '@ticketing/auth';
import { cutPathForLog, type Logger } from '@ticketing/platform';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { FailedFetch } from './failed-fields.ts';

/** Codes that say only that something failed inside the supergraph. */
const internalCodes = new Set([undefined, 'INTERNAL_SERVER_ERROR', 'DOWNSTREAM_SERVICE_ERROR']);

/** Extensions no client sees; the others are the code and what our services add on purpose. */
const hiddenExtensions = new Set([
  'serviceName',
  'exception',
  'stacktrace',
  'response',
  // Which password queue refused (the gateway's admission reads it: password-admission.ts).
  passwordQueueExtension,
]);

/** A subgraph request that got no HTTP answer at all (refused, reset, timed out). */
export class SubgraphUnreachableError extends Error {
  override name = 'SubgraphUnreachableError';

  constructor(subgraph: string, cause: unknown) {
    // fetch says only "fetch failed", with the reason (ECONNREFUSED, …) in its cause;
    // undici's request throws the reason itself.
    const failure = cause as { code?: string; message?: string; cause?: typeof failure };
    const reason = failure?.cause ?? failure;
    super(
      `The ${subgraph} subgraph could not be reached: ${reason?.code ?? reason?.message ?? String(cause)}`,
      { cause },
    );
  }
}

/**
 * An error Apollo Server raised itself, before execution, about the request (an
 * unsupported persisted-query version, a hash that does not match its document): it sets
 * a 4xx status and no code. It is the client's error, and its message says why.
 */
function isRefusedRequest(error: unknown): boolean {
  if (!(error instanceof GraphQLError) || error.path || error.extensions.code !== undefined) {
    return false;
  }
  const status = httpStatusOf(error);
  return status !== undefined && status >= 400 && status < 500;
}

/** The HTTP status an error raised before execution answers with, if it sets one. */
function httpStatusOf(error: unknown): number | undefined {
  if (!(error instanceof GraphQLError)) return undefined;
  return (error.extensions.http as { status?: number } | undefined)?.status;
}

/** The status and URL of a subgraph's HTTP error, as `@apollo/gateway` puts it on an error. */
function httpErrorOf(response: unknown): { status?: unknown; url?: unknown } {
  if (typeof response !== 'object' || response === null) return {};
  const { status, url } = response as { status?: unknown; url?: unknown };
  return { status, url };
}

/**
 * What clients see of an error. Expected failures (a code the services chose: NOT_FOUND,
 * SOLD_OUT, BAD_USER_INPUT, …) keep their message and code, without the name of the
 * subgraph that raised them. Anything else that went wrong behind the gateway is masked
 * with a stable code, and its detail goes to the log with the request's id:
 *
 * - SERVICE_UNAVAILABLE when a subgraph gave no GraphQL answer (unreachable, timed out, an
 *   HTTP error, or a body that is not a GraphQL result: its URL and body must not reach
 *   clients);
 * - INTERNAL_SERVER_ERROR for an error without a code of its own.
 */
export function maskSubgraphErrors(logger: Logger) {
  const logged = new WeakSet<FailedFetch>();
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const extensions = formatted.extensions ?? {};
    const code = extensions.code as string | undefined;
    const failed = unwrapResolverError(error);
    const original = failed instanceof FailedFetch ? failed.cause : failed;
    // A subgraph request that ended without a GraphQL result: unreachable, an HTTP error,
    // or a body that is not one (malformed JSON, a proxy's page).
    const noAnswer =
      (failed instanceof FailedFetch && !failed.answered) ||
      'response' in extensions ||
      original instanceof SubgraphUnreachableError;
    const location = formatted.path ? { path: formatted.path } : {};
    if (isRefusedRequest(error)) {
      return { message: formatted.message, extensions: { code: 'BAD_REQUEST' } };
    }
    // A method the endpoint does not take (PUT, or a mutation sent with GET): Apollo Server
    // says BAD_REQUEST, NGINX's own 405 METHOD_NOT_ALLOWED. One status, one code.
    if (httpStatusOf(error) === 405 && !formatted.path) {
      return { message: formatted.message, extensions: { code: 'METHOD_NOT_ALLOWED' } };
    }
    if (noAnswer || internalCodes.has(code)) {
      const masked = noAnswer ? 'SERVICE_UNAVAILABLE' : 'INTERNAL_SERVER_ERROR';
      // A failed fetch is one error for each field it left null: its detail is logged once.
      if (!(failed instanceof FailedFetch) || !logged.has(failed)) {
        if (failed instanceof FailedFetch) logged.add(failed);
        logger.error(
          {
            err: original,
            code,
            subgraph: extensions.serviceName,
            // An HTTP error's status and the subgraph URL that answered it; not its body,
            // which may be a proxy's page of any size echoing the request, variables and
            // all (the logger redacts it on `err` too).
            ...httpErrorOf(extensions.response),
            // Its aliases are the client's: each cut like an access line's path.
            ...(formatted.path ? { path: cutPathForLog(formatted.path) } : {}),
          },
          `masked an error as ${masked}`,
        );
      }
      return {
        message:
          masked === 'SERVICE_UNAVAILABLE'
            ? 'A service is unavailable; try again shortly.'
            : 'Internal server error',
        ...location,
        extensions: { code: masked },
      };
    }
    return {
      ...formatted,
      // graphql-armor words its limits as syntax errors ("Syntax Error: Query depth limit of
      // 7 exceeded"); the operation parsed, and failed validation.
      ...(code === 'GRAPHQL_VALIDATION_FAILED'
        ? { message: formatted.message.replace(/^Syntax Error: /, '') }
        : {}),
      extensions: Object.fromEntries(
        Object.entries(extensions).filter(([name]) => !hiddenExtensions.has(name)),
      ),
    };
  };
}

/**
 * In production, no error suggests anything ("Did you mean …?"): not fields, enum values,
 * argument, input field or type names, from wherever the message came. Suggestions map the
 * schema for someone without introspection.
 */
export function withoutSuggestions(
  format: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError,
) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const result = format(formatted, error);
    const message = result.message.replace(/\s*Did you mean [^?]*\?/g, '');
    return message === result.message ? result : { ...result, message };
  };
}
