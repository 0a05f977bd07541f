import { GraphQLError } from 'graphql';
import type { EventPosition } from './repositories/EventRepository.ts';

// Cursors are opaque to clients: base64url of the sort key, which they must not parse.

export function encodeCursor({ startsAt, id }: EventPosition): string {
  return Buffer.from(JSON.stringify([startsAt.toISOString(), id])).toString('base64url');
}

export function decodeCursor(cursor: string): EventPosition {
  try {
    const [startsAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const date = new Date(startsAt);
    if (typeof id === 'string' && !Number.isNaN(date.getTime())) return { startsAt: date, id };
  } catch {
    // Reported below as the client's error.
  }
  throw new GraphQLError('`after` is not a cursor returned by this API.', {
    extensions: { code: 'BAD_USER_INPUT', argumentName: 'after' },
  });
}
