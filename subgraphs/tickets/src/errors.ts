import { failures } from '@ticketing/platform';

/** The codes of the tickets service's own failures; the README's "Error codes" says what each means. */
export const ticketsErrorCodes = [
  'SOLD_OUT',
  'SALES_CLOSED',
  'ORDER_LIMIT_EXCEEDED',
  'PURCHASE_LIMIT_REACHED',
  'TOO_MANY_HOLDS',
  'CAPACITY_BELOW_SOLD',
  'IDEMPOTENCY_KEY_IN_USE',
  'IDEMPOTENCY_KEY_REUSED',
  'HOLD_NOT_FOUND',
  'HOLD_EXPIRED',
  'TICKET_ALREADY_CANCELLED',
] as const;

export type TicketsErrorCode = (typeof ticketsErrorCodes)[number];

/** A failure of this service, with one of its codes (or a common one). */
export const failure = failures<TicketsErrorCode>();
