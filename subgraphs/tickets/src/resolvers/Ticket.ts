import { forbidden } from '@ticketing/auth';
import type {
  Hold as HoldRow,
  Order as OrderRow,
  Ticket as TicketRow,
  TicketTier as TierRow,
} from '@ticketing/prisma/tickets';
import type { TicketsContext } from '../context.ts';
import { availableInTier, type StockedTier } from '../repositories/TicketRepository.ts';

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

  /** The admission code: for the ticket's owner and admins only. */
  code(ticket: TicketRow, _: unknown, { viewer }: TicketsContext) {
    if (viewer?.userId === ticket.ownerId || viewer?.role === 'ADMIN') return ticket.code;
    throw forbidden('Only the ticket’s owner can see its code.');
  },
};

export const TicketTier = {
  __resolveReference(reference: { id: string }, { loaders }: TicketsContext) {
    return loaders.tierById.load(reference.id);
  },

  event(tier: TierRow) {
    return { __typename: 'Event', id: tier.eventId };
  },

  /** Exact whatever the sweeper has done: unexpired holds are read with the tier. */
  async available(tier: TierRow | StockedTier, _: unknown, { loaders }: TicketsContext) {
    const stocked = 'holds' in tier ? tier : await loaders.tierById.load(tier.id);
    return stocked ? availableInTier(stocked) : 0;
  },
};

export const Order = {
  tickets(order: OrderRow, _: unknown, { loaders }: TicketsContext) {
    return loaders.ticketsByOrderId.load(order.id);
  },
};

export const Hold = {
  tier(hold: HoldRow, _: unknown, { loaders }: TicketsContext) {
    return loaders.tierById.load(hold.tierId);
  },
};
