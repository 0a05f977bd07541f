// What the page says for an error, chosen by its stable extensions.code, never by its text.
import { CombinedGraphQLErrors } from '@apollo/client/errors';

const messages: Record<string, string> = {
  INVALID_CREDENTIALS: 'The email or password is wrong.',
  UNAUTHENTICATED: 'Please log in again.',
  FORBIDDEN: 'You are not allowed to do that.',
  EMAIL_TAKEN: 'An account with this email exists already. Log in instead?',
  SOLD_OUT: 'Not enough tickets are left in this tier.',
  SALES_CLOSED: 'This event is not on sale.',
  HOLD_EXPIRED: 'Your hold has expired. Hold the tickets again.',
  HOLD_NOT_FOUND: 'That hold is not yours any more.',
  ORDER_LIMIT_EXCEEDED: 'That is more than one order may hold.',
  PURCHASE_LIMIT_REACHED: 'You have reached the most tickets one person may buy for this event.',
  IDEMPOTENCY_KEY_IN_USE: 'Your purchase is still being placed; try again in a moment.',
  TICKET_ALREADY_CANCELLED: 'This ticket is cancelled already.',
  INVALID_STATE_TRANSITION: 'The event cannot do that in its current state.',
  EVENT_IN_PAST: 'The event must start in the future.',
  SERVICE_UNAVAILABLE: 'A service is unavailable; try again shortly.',
};

const retryLater: Record<string, string> = {
  TOO_MANY_ATTEMPTS: 'Too many attempts.',
  TOO_MANY_REQUESTS: 'The service is busy.',
};

export interface ShownError {
  code: string;
  message: string;
  /** The argument's path the API named (`input.title`), for input errors. */
  field?: string;
}

/** The code and the sentence to show; BAD_USER_INPUT shows the API's own plain words. */
export function describeError(error: unknown): ShownError | null {
  if (!error) return null;
  if (CombinedGraphQLErrors.is(error)) {
    const [first] = error.errors;
    const code = String(first?.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
    // Too many logins or sign-ups (TOO_MANY_ATTEMPTS), or password hashing busy
    // (TOO_MANY_REQUESTS): both say when to try again.
    if (code in retryLater) {
      const seconds = Number(first?.extensions?.retryAfterSeconds ?? 0);
      return { code, message: `${retryLater[code]} Try again in ${seconds} seconds.` };
    }
    if (code === 'BAD_USER_INPUT') {
      const field = first?.extensions?.field;
      return {
        code,
        message: first?.message ?? 'Check the form.',
        ...(typeof field === 'string' ? { field } : {}),
      };
    }
    return { code, message: messages[code] ?? 'Something went wrong. Please try again.' };
  }
  return { code: 'NETWORK_ERROR', message: 'The service cannot be reached. Please try again.' };
}
