import type { Ticket as TicketRow } from '@ticketing/prisma/tickets';
import type { TicketsContext } from '../context.ts';

export const Ticket = {
  __resolveReference(reference: { id: string }, { loaders }: TicketsContext) {
    return loaders.ticketById.load(reference.id);
  },

  tier(ticket: TicketRow, _: unknown, { loaders }: TicketsContext) {
    return loaders.tierById.load(ticket.tierId);
  },

  /** The events subgraph resolves the rest of the event. */
  event(ticket: TicketRow) {
    return { __typename: 'Event', id: ticket.eventId };
  },

  /** The users subgraph resolves the rest of the owner. */
  owner(ticket: TicketRow) {
    return { __typename: 'User', id: ticket.ownerId };
  },
};
