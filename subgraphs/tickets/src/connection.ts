import { encodeCursor } from './cursor.ts';
import type { TicketPage } from './repositories/TicketRepository.ts';

/** A page of tickets as a Relay-style connection. */
export function toConnection(page: TicketPage) {
  const edges = page.tickets.map((ticket) => ({
    cursor: encodeCursor('tickets', ticket),
    node: ticket,
  }));
  return {
    edges,
    totalCount: page.totalCount,
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
  };
}
