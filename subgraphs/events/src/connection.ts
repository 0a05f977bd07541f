import type { Event } from '@ticketing/prisma/events';
import { type EventOrder, encodeCursor } from './cursor.ts';
import type { EventPage } from './repositories/EventRepository.ts';

/** A page of events as a Relay-style connection. */
export function toConnection(page: EventPage, order: EventOrder) {
  const edges = page.events.map((event: Event) => ({
    cursor: encodeCursor(order, event),
    node: event,
  }));
  return {
    edges,
    totalCount: page.totalCount,
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
  };
}
