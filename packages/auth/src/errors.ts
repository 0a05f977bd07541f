import { GraphQLError } from 'graphql';

// Field-level errors carry no HTTP status: one would become the status of the whole
// response, and the gateway would then discard the data of every other field.

/**
 * The caller presented credentials that cannot be accepted, or none where some are needed.
 * `reason` lets a client tell an expired token (refresh it) from a bad or revoked one.
 */
export function unauthenticated(
  message = 'The access token is invalid.',
  reason: 'invalid' | 'expired' | 'required' | 'revoked' = 'invalid',
): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', reason } });
}

/** The caller is known but may not do this. */
export function forbidden(message = 'You are not allowed to do this.'): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'FORBIDDEN' } });
}

/** The whole request is refused for its credentials: HTTP 401, no field is resolved. */
export function rejectRequest(error: GraphQLError): GraphQLError {
  return new GraphQLError(error.message, {
    extensions: { ...error.extensions, http: { status: 401 } },
  });
}
