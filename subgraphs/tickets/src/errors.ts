import { failures, isClosedAccount, serviceUnavailable } from '@ticketing/platform';

/** The codes of the tickets service's own failures; the README's "Error codes" says what each means. */
export const ticketsErrorCodes = [
  'SOLD_OUT',
  'SALES_CLOSED',
  'ORDER_LIMIT_EXCEEDED',
  'PURCHASE_LIMIT_REACHED',
  'TOO_MANY_HOLDS',
  'TOO_MANY_TIERS',
  'TOO_MANY_DOOR_STAFF',
  'CAPACITY_BELOW_SOLD',
  'TIER_IN_USE',
  'IDEMPOTENCY_KEY_IN_USE',
  'IDEMPOTENCY_KEY_REUSED',
  'HOLD_NOT_FOUND',
  'HOLD_EXPIRED',
  'TICKET_ALREADY_CANCELLED',
  'ALREADY_CHECKED_IN',
  'TICKET_NOT_FOUND',
  'WRONG_EVENT',
  'TICKET_CANCELLED',
  'TOKEN_REVOKED',
  'INVALID_TOKEN',
  'NOT_CHECKED_IN',
  'USER_NOT_FOUND',
  'RECIPIENT_NOT_FOUND',
  'TRANSFER_TO_SELF',
  'TRANSFER_PENDING',
  'TRANSFER_EXPIRED',
  'TRANSFER_NOT_PENDING',
  'EVENT_STARTED',
  'TICKET_CHECKED_IN',
  'ALREADY_REFUNDED',
  'REFUND_WINDOW_CLOSED',
  'TICKET_TRANSFERRED',
  'TIER_NOT_SOLD_OUT',
  'ALREADY_ON_WAITLIST',
  'NOT_ON_WAITLIST',
  'TOO_MANY_WAITLIST_ENTRIES',
  'INVALID_STATE_TRANSITION',
  'EVENT_ENDED',
  'ACCOUNT_HAS_TICKETS',
  'ACCOUNT_HAS_EVENTS',
] as const;

export type TicketsErrorCode = (typeof ticketsErrorCodes)[number];

/** A failure of this service, with one of its codes (or a common one). */
export const failure = failures<TicketsErrorCode>();

/**
 * What `work` gives, or `refusal` when the database refused it for an account another caller
 * named that was closed meanwhile (migration `closed_accounts`): for them, an account that
 * no longer exists, not their own session's end (UNAUTHENTICATED, how an unexpected refusal
 * is answered).
 */
export async function unlessClosed<T>(work: Promise<T>, refusal: () => Error): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (isClosedAccount(error)) throw refusal();
    throw error;
  }
}

/**
 * TICKET_CHECKED_IN for tickets admitted at the door, naming them: they stay sold, as their
 * seats are taken. Undoing the check-in (recorded) makes them cancellable again.
 */
export const admitted = (ticketIds: readonly string[]) =>
  failure(
    'TICKET_CHECKED_IN',
    'A ticket admitted at the door cannot be cancelled or refunded; undo its check-in first.',
    { ticketIds: [...ticketIds] },
  );

/**
 * What `attempt` gives, tried again while it gives undefined, three times in all, then
 * SERVICE_UNAVAILABLE. For a change judged on a ticket as read and refused by its own
 * conditional update, when what refused it is gone by the time the refusal is explained
 * (a check-in undone in between): the ticket is neither cancelled nor admitted, and the
 * change is asked again rather than refused for a reason that no longer holds. Each retry
 * needs another write to the ticket in that moment.
 */
export async function againWhileChanged<T>(attempt: () => Promise<T | undefined>): Promise<T> {
  for (let attempts = 1; attempts <= 3; attempts++) {
    const result = await attempt();
    if (result !== undefined) return result;
  }
  throw serviceUnavailable();
}
