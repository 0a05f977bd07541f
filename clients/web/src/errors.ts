// What the page says for an error, chosen by its stable extensions.code, never by its text.
// An answer that is not a GraphQL result (an HTTP refusal of the edge or a gateway, or a
// page that is not JSON at all) is named by the code its body gives, else by its status:
// only a request that got no answer at all is "cannot be reached".
import { CombinedGraphQLErrors, ServerError, ServerParseError } from '@apollo/client/errors';
import { InvariantError } from '@apollo/client/utilities/invariant';

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
  PURCHASE_LIMIT_REACHED:
    'You have reached the most tickets one person may have for this event, bought or accepted.',
  IDEMPOTENCY_KEY_IN_USE: 'Your request is still being handled; try again in a moment.',
  TICKET_ALREADY_CANCELLED: 'This ticket is cancelled already.',
  TICKET_CANCELLED: 'This ticket is cancelled: it can no longer be given away or accepted.',
  TICKET_CHECKED_IN:
    'This ticket was admitted at the door already: it cannot be given away, accepted or cancelled.',
  EVENT_STARTED: 'The event has started: its tickets can no longer be given away.',
  RECIPIENT_NOT_FOUND: 'No account has this email. Check it, or ask them to sign up first.',
  TRANSFER_TO_SELF: "This ticket is yours already: enter the other person's email.",
  TRANSFER_PENDING:
    'This ticket is offered to someone already: cancel that offer first to give it to someone else.',
  TRANSFER_EXPIRED: 'This offer has expired. Ask the sender to offer the ticket again.',
  TRANSFER_NOT_PENDING:
    'This offer is no longer open: it was declined, cancelled or accepted already.',
  INVALID_STATE_TRANSITION: 'The event cannot do that in its current state.',
  EVENT_IN_PAST: 'The event must start in the future.',
  TIER_IN_USE:
    'Tickets were sold or held from this tier, or buyers queued for it, so it cannot be deleted: end its sales instead.',
  NOT_FOUND: 'That is not there any more, or not yours to see. Reload the page.',
  ACCOUNT_HAS_EVENTS:
    'This account organizes events that are not over: cancel them before deleting the account.',
  ACCOUNT_HAS_TICKETS:
    'This account holds tickets for events that are not over: the account cannot be deleted yet.',
  ACCOUNT_DELETION_INCOMPLETE:
    'The account could not be deleted completely. Please try again, or ask for help.',
  ACCOUNT_DELETION_PENDING: 'This account is being deleted: it can no longer log in.',
  EVENT_ENDED: 'The event is over: that can no longer be done.',
  TOO_MANY_EVENTS: 'You have as many upcoming events and drafts as one organizer may have.',
  TOO_MANY_HOLDS: 'You are holding as many tickets as you may: buy or release a hold first.',
  TOO_MANY_TIERS: 'This event has as many tiers as an event may have.',
  TOO_MANY_DOOR_STAFF: 'This event has as much door staff as an event may have.',
  CAPACITY_BELOW_SOLD: 'The capacity cannot be less than what is sold and held already.',
  IDEMPOTENCY_KEY_REUSED: 'This request was used for something else already. Reload the page.',
  ALREADY_CHECKED_IN: 'This ticket was admitted already.',
  TICKET_NOT_FOUND: 'No ticket has this code.',
  WRONG_EVENT: 'This ticket is for another event.',
  TOKEN_REVOKED: 'This code was replaced when the ticket was given to someone else.',
  INVALID_TOKEN: 'This code is not a ticket for this event.',
  NOT_CHECKED_IN: 'This ticket was not admitted, so there is nothing to undo.',
  USER_NOT_FOUND: 'No account has this email.',
  ALREADY_REFUNDED: 'This ticket was refunded already.',
  REFUND_WINDOW_CLOSED: 'It is too close to the event: this ticket can no longer be cancelled.',
  TICKET_TRANSFERRED: 'You gave this ticket to someone else: only the organizer can cancel it now.',
  TIER_NOT_SOLD_OUT: 'This tier is not sold out: its tickets can be bought now.',
  ALREADY_ON_WAITLIST: 'You are on the waiting list for this tier already.',
  NOT_ON_WAITLIST: 'You are not on the waiting list for this tier.',
  TOO_MANY_WAITLIST_ENTRIES: 'You are on as many waiting lists as you may be.',
  SERVICE_UNAVAILABLE: 'A service is unavailable; try again shortly.',
  PAYLOAD_TOO_LARGE: 'The request is larger than the service accepts.',
  DOCUMENT_TOO_LARGE: 'The request is larger than the service accepts.',
  BAD_REQUEST: 'The service could not read the request. Reload the page and try again.',
  // The page's operations are checked against the schema when the app is built: refused now,
  // the service was updated under an open page (or its safelist no longer lists them).
  GRAPHQL_VALIDATION_FAILED: 'This page is out of date with the service. Reload the page.',
  PERSISTED_QUERY_NOT_IN_LIST: 'This page is out of date with the service. Reload the page.',
  REQUEST_TIMEOUT: 'The request did not reach the service in time. Please try again.',
  UNREADABLE_RESPONSE:
    "The service's answer could not be read (a proxy's page, not the API's answer). Please try again.",
};

/** What a refusal that says when to try again is, before it says when. */
const retryLater: Record<string, string> = {
  TOO_MANY_ATTEMPTS: 'Too many attempts',
  TOO_MANY_REQUESTS: 'Too many requests',
  SERVICE_UNAVAILABLE: 'A service is unavailable',
};

/** The code an HTTP refusal stands for when its body names none. */
function codeOfStatus(status: number): string {
  if (status === 400) return 'BAD_REQUEST';
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 413) return 'PAYLOAD_TOO_LARGE';
  if (status === 429) return 'TOO_MANY_REQUESTS';
  if (status === 502 || status === 503 || status === 504) return 'SERVICE_UNAVAILABLE';
  return status < 300 ? 'UNREADABLE_RESPONSE' : 'INTERNAL_SERVER_ERROR';
}

export interface ShownError {
  code: string;
  message: string;
  /** The argument's path the API named (`input.title`), for input errors. */
  field?: string;
}

interface AnsweredError {
  message?: string;
  extensions?: Record<string, unknown>;
}

/** Whole seconds, if `value` is a positive number of them (an extension or a header). */
function seconds(value: unknown): number | undefined {
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof parsed === 'number' && Number.isFinite(parsed) && parsed > 0
    ? Math.ceil(parsed)
    : undefined;
}

/** The sentence for `code`, with when to try again if the answer said. */
function shown(code: string, retryAfter: number | undefined, fallback?: string): ShownError {
  const what = retryLater[code];
  if (what && retryAfter !== undefined) {
    const unit = retryAfter === 1 ? 'second' : 'seconds';
    return { code, message: `${what}: try again in ${retryAfter} ${unit}.` };
  }
  if (what && !messages[code]) return { code, message: `${what}. Please try again shortly.` };
  return { code, message: messages[code] ?? fallback ?? 'Something went wrong. Please try again.' };
}

/** A GraphQL error as the page shows it; BAD_USER_INPUT shows the API's own plain words. */
function describeAnswered(first: AnsweredError | undefined, retryAfterHeader?: unknown) {
  const code = String(first?.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
  if (code === 'BAD_USER_INPUT') {
    const field = first?.extensions?.field;
    return {
      code,
      message: first?.message ?? 'Check the form.',
      ...(typeof field === 'string' ? { field } : {}),
    };
  }
  return shown(code, seconds(first?.extensions?.retryAfterSeconds) ?? seconds(retryAfterHeader));
}

/** The GraphQL errors an HTTP answer's body holds, if it is JSON that has any. */
function errorsIn(bodyText: string): AnsweredError[] {
  try {
    const body = JSON.parse(bodyText) as { errors?: unknown };
    return Array.isArray(body?.errors) ? (body.errors as AnsweredError[]) : [];
  } catch {
    return [];
  }
}

/** An answer that is not a GraphQL result: a refusal by status, or a page that is not JSON. */
function describeHttp(error: ServerError | ServerParseError): ShownError {
  const status = error.statusCode;
  const retryAfter = error.response.headers.get('retry-after');
  const [first] = errorsIn(error.bodyText);
  // A gateway that did not answer in time: the edge's code (SERVICE_UNAVAILABLE), said as it is.
  if (status === 504 && retryAfter === null) {
    return {
      code: String(first?.extensions?.code ?? codeOfStatus(status)),
      message: 'The service took too long to answer. Please try again.',
    };
  }
  if (first?.extensions?.code) return describeAnswered(first, retryAfter);
  return shown(codeOfStatus(status), seconds(retryAfter));
}

/** The code and the sentence to show. */
export function describeError(error: unknown): ShownError | null {
  if (!error) return null;
  // A request Apollo Client gave up itself, the cache emptied while it was on its way (a
  // sign-in or sign-out, in this tab or another: apollo.ts): the page is asked for again at
  // once, as the person signed in now. Nothing failed, and nothing is said.
  if (error instanceof InvariantError) return null;
  if (CombinedGraphQLErrors.is(error)) return describeAnswered(error.errors[0]);
  if (ServerError.is(error) || ServerParseError.is(error)) return describeHttp(error);
  return { code: 'NETWORK_ERROR', message: 'The service cannot be reached. Please try again.' };
}
