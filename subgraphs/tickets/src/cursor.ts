import { badUserInput, isStorableDate, isUuid } from '@ticketing/platform';
import type { TicketPosition } from './repositories/TicketRepository.ts';

// Opaque to clients: base64url of the sort key, newest first.

export function encodeCursor({ purchasedAt, id }: TicketPosition): string {
  return Buffer.from(JSON.stringify([purchasedAt.toISOString(), id])).toString('base64url');
}

export function decodeCursor(cursor: string): TicketPosition {
  try {
    const [purchasedAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const date = new Date(purchasedAt);
    // Checked as the database will need them: a forged cursor is the caller's error.
    if (typeof id === 'string' && isUuid(id) && isStorableDate(date)) {
      return { purchasedAt: date, id };
    }
  } catch {
    // Reported below as the client's error.
  }
  throw badUserInput('`after` is not a cursor returned by this API.', 'after');
}
