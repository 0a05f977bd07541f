import { isOwnerOrAdmin, requireViewer } from '@ticketing/auth';
import { isUuid, pageSize } from '@ticketing/platform';
import { toConnection } from '../connection.ts';
import type { TicketsContext } from '../context.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';

export const Query = {
  /** Your ticket (or any, for an admin); null otherwise, so ids reveal nothing. */
  async ticket(_: unknown, { id }: { id: string }, { loaders, viewer }: TicketsContext) {
    const ticket = await loaders.ticketById.load(id);
    return ticket && isOwnerOrAdmin(viewer, ticket.ownerId) ? ticket : null;
  },

  async myTickets(
    _: unknown,
    args: { first: number; after?: string | null },
    { loaders, viewer }: TicketsContext,
  ) {
    const caller = requireViewer(viewer, 'Log in to see your tickets.');
    const first = pageSize(args.first);
    if (args.after) decodeCursor(args.after);
    const page = await loaders.ticketPages.load({
      ownerId: caller.userId,
      first,
      after: args.after ?? undefined,
    });
    for (const ticket of page.tickets) loaders.ticketById.prime(ticket.id, ticket);
    return toConnection(page);
  },

  /** Your order (or any, for an admin); null otherwise, like `ticket`. */
  async order(_: unknown, { id }: { id: string }, { loaders, viewer }: TicketsContext) {
    if (!viewer || !isUuid(id)) return null;
    const order = await loaders.orderById.load(id);
    return order && isOwnerOrAdmin(viewer, order.buyerId) ? order : null;
  },

  async myOrders(
    _: unknown,
    args: { first: number; after?: string | null },
    { orders, loaders, viewer }: TicketsContext,
  ) {
    const caller = requireViewer(viewer, 'Log in to see your orders.');
    const first = pageSize(args.first);
    const position = args.after ? decodeCursor(args.after) : undefined;
    const page = await orders.pageByBuyer(
      caller.userId,
      first,
      position && { createdAt: position.purchasedAt, id: position.id },
    );
    const edges = page.orders.map((order) => {
      loaders.orderById.prime(order.id, order);
      return { cursor: encodeCursor({ purchasedAt: order.createdAt, id: order.id }), node: order };
    });
    return {
      edges,
      totalCount: page.totalCount,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
    };
  },

  myHolds(_: unknown, __: unknown, { orders, viewer }: TicketsContext) {
    return orders.activeHolds(requireViewer(viewer, 'Log in to see your holds.').userId);
  },
};
