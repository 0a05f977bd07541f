import type { TicketsContext } from '../context.ts';
import type { PurchaseInput } from '../services/TicketingService.ts';

// Thin: each mutation hands its arguments and the caller to the ticketing service.
export const Mutation = {
  createTicketTier: (
    _: unknown,
    { eventId, input }: { eventId: string; input: unknown },
    { service, viewer }: TicketsContext,
  ) => service.createTier(viewer, eventId, input),

  updateTicketTier: (
    _: unknown,
    { id, input }: { id: string; input: unknown },
    { service, viewer }: TicketsContext,
  ) => service.updateTier(viewer, id, input),

  holdTickets: (
    _: unknown,
    { tierId, quantity }: { tierId: string; quantity: number },
    { service, viewer }: TicketsContext,
  ) => service.hold(viewer, tierId, quantity),

  async purchaseTickets(
    _: unknown,
    { input }: { input: PurchaseInput },
    { service, viewer, loaders }: TicketsContext,
  ) {
    const { order, tickets } = await service.purchase(viewer, input);
    loaders.ticketsByOrderId.prime(order.id, tickets);
    return order;
  },

  releaseHold: (_: unknown, { id }: { id: string }, { service, viewer }: TicketsContext) =>
    service.releaseHold(viewer, id),

  cancelTicket: (_: unknown, { id }: { id: string }, { service, viewer }: TicketsContext) =>
    service.cancelTicket(viewer, id),
};
