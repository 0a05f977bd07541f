import { isOwnerOrAdmin } from '@ticketing/auth';
import { pageSize } from '@ticketing/platform';
import type { Ticket as TicketRow, TicketTransferOffer } from '@ticketing/prisma/tickets';
import type { TicketsContext } from '../context.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';

const unconfigured = () => new Error('This context was built without transfers');
function transfersOf(context: TicketsContext) {
  if (!context.transfers) throw unconfigured();
  return context.transfers;
}

// Thin: transfer offers, handed to the transfer service with the caller.
export const TransferMutation = {
  transferTicket: (
    _: unknown,
    { id, toEmail }: { id: string; toEmail: string },
    context: TicketsContext,
  ) => transfersOf(context).transfer(context.viewer, id, toEmail),

  acceptTicketTransfer: (_: unknown, { id }: { id: string }, context: TicketsContext) =>
    transfersOf(context).accept(context.viewer, id),

  declineTicketTransfer: (_: unknown, { id }: { id: string }, context: TicketsContext) =>
    transfersOf(context).decline(context.viewer, id),

  cancelTicketTransfer: (_: unknown, { id }: { id: string }, context: TicketsContext) =>
    transfersOf(context).cancel(context.viewer, id),
};

export const TransferQuery = {
  async myTicketTransfers(
    _: unknown,
    args: { first: number; after?: string | null },
    context: TicketsContext,
  ) {
    const first = pageSize(args.first);
    const position = args.after ? decodeCursor(args.after, 'transfers') : undefined;
    const page = await transfersOf(context).pending(
      context.viewer,
      first,
      position && { createdAt: position.purchasedAt, id: position.id },
    );
    const edges = page.offers.map((offer) => ({
      cursor: encodeCursor('transfers', { purchasedAt: offer.createdAt, id: offer.id }),
      node: offer,
    }));
    return {
      edges,
      totalCount: page.totalCount,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
    };
  },
};

/**
 * The ticket's open offer, for its owner (the giver), the offer's receiver and admins; null
 * for anyone else and when there is none.
 */
export async function pendingTransfer(
  ticket: TicketRow,
  _: unknown,
  { loaders, viewer }: TicketsContext,
) {
  const offer = await loaders.openTransferByTicketId.load(ticket.id);
  if (!offer) return null;
  const party = viewer?.userId === offer.toUserId || isOwnerOrAdmin(viewer, ticket.ownerId);
  return party ? offer : null;
}

export const TicketTransfer = {
  /** The ticket: its code and QR token stay its owner's (FORBIDDEN to the receiver until accepted). */
  async ticket(offer: TicketTransferOffer, _: unknown, { loaders }: TicketsContext) {
    const ticket = await loaders.ticketById.load(offer.ticketId);
    if (!ticket) throw new Error(`Ticket ${offer.ticketId} is missing`);
    return ticket;
  },

  /** The users subgraph resolves the rest of the giver and receiver. */
  from: (offer: TicketTransferOffer) => ({ __typename: 'User', id: offer.fromUserId }),
  to: (offer: TicketTransferOffer) => ({ __typename: 'User', id: offer.toUserId }),

  /** An offer past its expiry that nobody settled is EXPIRED, whatever its row says yet. */
  status: (offer: TicketTransferOffer) =>
    offer.status === 'PENDING' && offer.expiresAt <= new Date() ? 'EXPIRED' : offer.status,
};
