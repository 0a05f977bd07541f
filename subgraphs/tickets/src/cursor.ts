import { badUserInput, isStorableDate, isUuid } from '@ticketing/platform';
import type { TicketPosition } from './repositories/TicketRepository.ts';

/**
 * The lists this service pages, each newest first by its own sort key: a ticket's purchase,
 * an order's or an offer's creation, an attendee's ticket's purchase.
 */
export type CursorList = 'tickets' | 'orders' | 'transfers' | 'attendees';

// Opaque to clients: base64url of the list and the sort key. A cursor continues only the list
// it came from (another list's would name a position in another sort), and is taken only as
// it was issued: base64's other spellings of it (padding, `+` and `/`, characters the decoder
// skips) are refused, as the events service refuses them.

export function encodeCursor(list: CursorList, { purchasedAt, id }: TicketPosition): string {
  return Buffer.from(JSON.stringify([list, purchasedAt.toISOString(), id])).toString('base64url');
}

export function decodeCursor(cursor: string, list: CursorList): TicketPosition {
  try {
    const [cursorList, purchasedAt, id] = JSON.parse(
      Buffer.from(cursor, 'base64url').toString('utf8'),
    );
    const date = new Date(purchasedAt);
    // Checked as the database will need them: a forged cursor is the caller's error.
    if (cursorList === list && typeof id === 'string' && isUuid(id) && isStorableDate(date)) {
      const position = { purchasedAt: date, id };
      if (encodeCursor(list, position) === cursor) return position;
    }
  } catch {
    // Reported below as the client's error.
  }
  throw badUserInput('`after` is not a cursor returned by this API for this list.', 'after');
}
