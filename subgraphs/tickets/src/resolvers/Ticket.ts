import type {
  Hold as HoldRow,
  Order as OrderRow,
  Ticket as TicketRow,
  TicketTier as TierRow,
} from '@ticketing/prisma/tickets';
import type { TicketsContext } from '../context.ts';
import { availableInTier, type StockedTier } from '../repositories/TicketRepository.ts';
import { mayAdmitWith, visibleOrder } from '../services/TicketAccess.ts';
import { isOnSale } from '../services/TicketingService.ts';

/** The tier a ticket or hold refers to, which its foreign key guarantees exists. */
async function tierOf(tierId: string, { loaders }: TicketsContext): Promise<StockedTier> {
  const tier = await loaders.tierById.load(tierId);
  if (!tier) throw new Error(`Tier ${tierId} is missing`);
  return tier;
}

export const Ticket = {
  __resolveReference(reference: { id: string }, { loaders }: TicketsContext) {
    return loaders.ticketById.load(reference.id);
  },

  tier(ticket: TicketRow, _: unknown, context: TicketsContext) {
    return tierOf(ticket.tierId, context);
  },

  /** The events subgraph resolves the rest of the event. */
  event(ticket: TicketRow) {
    return { __typename: 'Event', id: ticket.eventId };
  },

  /** The users subgraph resolves the rest of the owner. */
  owner(ticket: TicketRow) {
    return { __typename: 'User', id: ticket.ownerId };
  },

  /**
   * Its order, for the order's buyer and admins: whoever was given the ticket sees neither
   * what the giver paid nor the giver's other tickets.
   */
  order(ticket: TicketRow, _: unknown, { loaders, viewer }: TicketsContext) {
    return ticket.orderId
      ? visibleOrder(viewer, ticket.orderId, (id) => loaders.orderById.load(id))
      : null;
  },

  /** The admission code: for the ticket's owner and admins only (null for its giver). */
  async code(ticket: TicketRow, _: unknown, { loaders, viewer }: TicketsContext) {
    const shown = await mayAdmitWith(viewer, ticket, 'code', (id) => loaders.orderById.load(id));
    return shown ? ticket.code : null;
  },
};

export const TicketTier = {
  __resolveReference(reference: { id: string }, { loaders }: TicketsContext) {
    return loaders.tierById.load(reference.id);
  },

  event(tier: TierRow) {
    return { __typename: 'Event', id: tier.eventId };
  },

  /**
   * Exact whatever the sweeper has done: unexpired holds are read with the tier. None once
   * the event is cancelled, whatever stock the tier still counts.
   */
  async available(tier: TierRow | StockedTier, _: unknown, { loaders }: TicketsContext) {
    const [stocked, snapshot] = await Promise.all([
      'holds' in tier ? tier : loaders.tierById.load(tier.id),
      loaders.snapshotByEventId.load(tier.eventId),
    ]);
    if (!stocked || snapshot?.status === 'CANCELLED') return 0;
    return availableInTier(stocked);
  },

  /** The same rule that holds and purchases apply (TicketingService), as a flag. */
  async onSale(tier: TierRow, _: unknown, { loaders }: TicketsContext) {
    const snapshot = await loaders.snapshotByEventId.load(tier.eventId);
    return isOnSale(snapshot, tier, new Date());
  },
};

export const Order = {
  tickets(order: OrderRow, _: unknown, { loaders }: TicketsContext) {
    return loaders.ticketsByOrderId.load(order.id);
  },

  /** An order is of one tier: its tickets name the event (its currency is its own column). */
  async event(order: OrderRow, _: unknown, { loaders }: TicketsContext) {
    const [ticket] = await loaders.ticketsByOrderId.load(order.id);
    if (!ticket) throw new Error(`Order ${order.id} has no tickets`);
    return { __typename: 'Event', id: ticket.eventId };
  },
};

export const Hold = {
  tier(hold: HoldRow, _: unknown, context: TicketsContext) {
    return tierOf(hold.tierId, context);
  },
  // A hold past its end is expired, whether or not the sweeper has marked it so yet.
  status(hold: HoldRow) {
    return hold.status === 'ACTIVE' && hold.expiresAt <= new Date() ? 'EXPIRED' : hold.status;
  },
};
