import { badUserInput, isStorableDate, isUuid } from '@ticketing/platform';

export type EventOrder = 'STARTS_AT_ASC' | 'STARTS_AT_DESC';

/** Where a page starts: after the event with this start time and id, in this order. */
export interface EventPosition {
  startsAt: Date;
  id: string;
}

// Cursors are opaque to clients: base64url of the order and the sort key, which they must
// not parse. A cursor only continues the ordering it came from.

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
      return { startsAt: date, id };
    }
  } catch {
    // Reported below as the client's error.
  }
  throw badUserInput('`after` is not a cursor returned by this API for this ordering.', 'after');
}
