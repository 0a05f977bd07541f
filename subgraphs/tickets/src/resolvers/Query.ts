import { pageSize } from '@ticketing/platform';
import { toConnection } from '../connection.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { QueryResolvers } from '../generated/resolvers.ts';
import { requireHolder, visibleOrder, visibleTicket } from '../services/TicketAccess.ts';

export const Query: QueryResolvers = {
  /** Your ticket (or any, for an admin); null otherwise, so ids reveal nothing. */
  async ticket(_, { id }, { loaders, viewer }) {
    return visibleTicket(viewer, await loaders.ticketById.load(id));
  },

  async myTickets(_, args, { loaders, viewer }) {
    const caller = requireHolder(viewer, 'tickets');
    const first = pageSize(args.first);
    if (args.after) decodeCursor(args.after, 'tickets');
    const page = await loaders.ticketPages.load({
      ownerId: caller.userId,
      first,
      after: args.after ?? undefined,
    });
    for (const ticket of page.tickets) loaders.ticketById.prime(ticket.id, ticket);
    return toConnection(page);
  },

  /** Your order (or any, for an admin); null otherwise, like `ticket`. */
  async order(_, { id }, { loaders, viewer }) {
    return visibleOrder(viewer, id, (orderId) => loaders.orderById.load(orderId));
  },

  async myOrders(_, args, { orders, loaders, viewer }) {
    const caller = requireHolder(viewer, 'orders');
    const first = pageSize(args.first);
    const position = args.after ? decodeCursor(args.after, 'orders') : undefined;
    const page = await orders.pageByBuyer(
      caller.userId,
      first,
      position && { createdAt: position.purchasedAt, id: position.id },
    );
    const edges = page.orders.map((order) => {
      loaders.orderById.prime(order.id, order);
      return {
        cursor: encodeCursor('orders', { purchasedAt: order.createdAt, id: order.id }),
        node: order,
      };
    });
    return {
      edges,
      totalCount: page.totalCount,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
    };
  },

  myHolds(_, __, { orders, viewer }) {
    return orders.activeHolds(requireHolder(viewer, 'holds').userId);
  },
};
