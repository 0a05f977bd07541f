import { currentRequestAbandoned, failures, serviceUnavailable } from '@ticketing/platform';
import type { Prisma } from '@ticketing/prisma/events';

/** The codes of the events service's own failures; the README's "Error codes" says what each means. */
export const eventsErrorCodes = [
  'INVALID_STATE_TRANSITION',
  'EVENT_IN_PAST',
  'EVENT_ENDED',
  'TOO_MANY_EVENTS',
] as const;

export type EventsErrorCode = (typeof eventsErrorCodes)[number];

/** A failure of this service, with one of its codes (or a common one). */
export const failure = failures<EventsErrorCode>();

/**
 * `work`, for a write's transaction, refusing last to commit once the client stopped
 * waiting: the gateway, past its deadline for this subgraph, answered SERVICE_UNAVAILABLE,
 * and a client told that tries again. Committed anyway, a publication would answer its
 * retry INVALID_STATE_TRANSITION, and a creation make a second draft: it is rolled back.
 */
export function whileAwaited<T>(
  work: (tx: Prisma.TransactionClient) => Promise<T>,
): (tx: Prisma.TransactionClient) => Promise<T> {
  return async (tx) => {
    const outcome = await work(tx);
    if (currentRequestAbandoned()) throw serviceUnavailable();
    return outcome;
  };
}
