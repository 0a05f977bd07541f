import { GraphQLError } from 'graphql';

// Expected failures, each with a stable `extensions.code` that clients can branch on.

/** Input the caller can fix; `field` names the argument or input field at fault. */
export function badUserInput(message: string, field?: string): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code: 'BAD_USER_INPUT', ...(field ? { field } : {}) },
  });
}

export function notFound(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'NOT_FOUND' } });
}

/** An application-specific failure, e.g. EMAIL_TAKEN or TOO_MANY_ATTEMPTS. */
export function failure(
  code: string,
  message: string,
  extensions: Record<string, unknown> = {},
): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else cannot name a row and must not reach a uuid column. */
export function isUuid(id: string): boolean {
  return uuidPattern.test(id);
}
