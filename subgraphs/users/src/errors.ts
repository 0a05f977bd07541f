import { failures } from '@ticketing/platform';

/** The codes of the users service's own failures; the README's "Error codes" says what each means. */
export const usersErrorCodes = [
  'INVALID_CREDENTIALS',
  'TOO_MANY_ATTEMPTS',
  'EMAIL_TAKEN',
  'ACCOUNT_HAS_TICKETS',
  'ACCOUNT_HAS_EVENTS',
  'ACCOUNT_DELETION_INCOMPLETE',
  'ACCOUNT_DELETION_PENDING',
] as const;

export type UsersErrorCode = (typeof usersErrorCodes)[number];

/** A failure of this service, with one of its codes (or a common one). */
export const failure = failures<UsersErrorCode>();
