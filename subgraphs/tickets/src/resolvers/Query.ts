import { unauthenticated } from '@ticketing/auth';
import { pageSize } from '@ticketing/platform';
import { toConnection } from '../connection.ts';
import type { TicketsContext } from '../context.ts';
import { decodeCursor } from '../cursor.ts';

export const Query = {
  /** Your ticket (or any, for an admin); null otherwise, so ids reveal nothing. */
  async ticket(_: unknown, { id }: { id: string }, { loaders, viewer }: TicketsContext) {
    const ticket = await loaders.ticketById.load(id);
    if (!ticket || !viewer || (ticket.ownerId !== viewer.userId && viewer.role !== 'ADMIN'))
      return null;
    return ticket;
  },

  async myTickets(
    _: unknown,
    args: { first: number; after?: string | null },
    { loaders, viewer }: TicketsContext,
  ) {
    if (!viewer) throw unauthenticated('Log in to see your tickets.', 'required');
    const first = pageSize(args.first);
    if (args.after) decodeCursor(args.after);
    const page = await loaders.ticketPages.load({
      ownerId: viewer.userId,
      first,
      after: args.after ?? undefined,
    });
    for (const ticket of page.tickets) loaders.ticketById.prime(ticket.id, ticket);
    return toConnection(page);
  },
};
