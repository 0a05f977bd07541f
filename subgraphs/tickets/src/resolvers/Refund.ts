import type { Order as OrderRow, Refund as RefundRow } from '@ticketing/prisma/tickets';
import type { TicketsContext } from '../context.ts';

function refundsOf(context: TicketsContext) {
  if (!context.refunds) throw new Error('This context was built without refunds');
  return context.refunds;
}

// Thin: refunds, handed to their service with the caller.
export const RefundMutation = {
  refundOrder: (
    _: unknown,
    { orderId, ticketIds }: { orderId: string; ticketIds?: readonly string[] | null },
    context: TicketsContext,
  ) => refundsOf(context).refundOrder(context.viewer, orderId, ticketIds),
};

/** This subgraph's refund fields of an order (status and refundedCents are its columns). */
export const OrderRefundFields = {
  refunds: (order: OrderRow, _: unknown, { loaders }: TicketsContext) =>
    loaders.refundsByOrderId.load(order.id),
};

export const Refund = {
  async tickets(refund: RefundRow, _: unknown, { loaders }: TicketsContext) {
    const ids = await loaders.ticketIdsByRefundId.load(refund.id);
    const tickets = await loaders.ticketById.loadMany(ids);
    return tickets.map((ticket, index) => {
      if (!ticket || ticket instanceof Error) throw new Error(`Ticket ${ids[index]} is missing`);
      return ticket;
    });
  },
};
