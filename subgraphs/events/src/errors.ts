import { failures } from '@ticketing/platform';

/** The codes of the events service's own failures; the README's "Error codes" says what each means. */
export const eventsErrorCodes = [
  'INVALID_STATE_TRANSITION',
  'EVENT_IN_PAST',
  'EVENT_ENDED',
  'TOO_MANY_EVENTS',
  'IDEMPOTENCY_KEY_IN_USE',
  'IDEMPOTENCY_KEY_REUSED',
] as const;

export type EventsErrorCode = (typeof eventsErrorCodes)[number];

/** A failure of this service, with one of its codes (or a common one). */
export const failure = failures<EventsErrorCode>();
