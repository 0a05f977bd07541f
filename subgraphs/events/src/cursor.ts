import { badUserInput, isStorableDate, isUuid } from '@ticketing/platform';

export type EventOrder = 'STARTS_AT_ASC' | 'STARTS_AT_DESC';

/**
 * The ordering asked for. GraphQL passes an explicit `orderBy: null` on as null, not as
 * the default (and codegen's types say it cannot be): it would have listed in reverse.
 */
export function eventOrder(order: EventOrder | null | undefined): EventOrder {
  if (order === 'STARTS_AT_ASC' || order === 'STARTS_AT_DESC') return order;
  throw badUserInput('`orderBy` must be STARTS_AT_ASC or STARTS_AT_DESC.', 'orderBy');
}

/** Where a page starts: after the event with this start time and id, in this order. */
export interface EventPosition {
  startsAt: Date;
  id: string;
}

// Cursors are opaque to clients: base64url of the order and the sort key, which they must
// not parse. A cursor only continues the ordering it came from, and is taken only as it was
// issued: base64's other spellings of it (padding, `+` and `/`, characters the decoder
// skips) would each be another key of the response cache for the same page.

export function encodeCursor(order: EventOrder, { startsAt, id }: EventPosition): string {
  return Buffer.from(JSON.stringify([order, startsAt.toISOString(), id])).toString('base64url');
}

export function decodeCursor(cursor: string, order: EventOrder): EventPosition {
  try {
    const [cursorOrder, startsAt, id] = JSON.parse(
      Buffer.from(cursor, 'base64url').toString('utf8'),
    );
    const date = new Date(startsAt);
    // Checked as the database will need them: a forged cursor is the caller's error.
    if (cursorOrder === order && typeof id === 'string' && isUuid(id) && isStorableDate(date)) {
      const position = { startsAt: date, id };
      if (encodeCursor(order, position) === cursor) return position;
    }
  } catch {
    // Reported below as the client's error.
  }
  throw badUserInput('`after` is not a cursor returned by this API for this ordering.', 'after');
}
