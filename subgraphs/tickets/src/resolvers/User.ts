import { pageSize } from '@ticketing/platform';
import { toConnection } from '../connection.ts';
import type { TicketsContext } from '../context.ts';
import { decodeCursor } from '../cursor.ts';
import { requireTicketsOf } from '../services/TicketAccess.ts';

/** A user as this subgraph knows one: by id alone (federation's reference). */
export interface UserReference {
  id: string;
}

/** This subgraph's field of the User entity, which the users subgraph owns. */
export const User = {
  __resolveReference(reference: { id: string }) {
    return { id: reference.id };
  },

  async tickets(
    user: { id: string },
    args: { first: number; after?: string | null },
    { loaders, viewer }: TicketsContext,
  ) {
    requireTicketsOf(viewer, user.id);
    const first = pageSize(args.first);
    if (args.after) decodeCursor(args.after, 'tickets');
    return toConnection(
      await loaders.ticketPages.load({ ownerId: user.id, first, after: args.after ?? undefined }),
    );
  },
};
