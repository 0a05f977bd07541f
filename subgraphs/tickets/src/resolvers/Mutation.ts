import type { MutationResolvers } from '../generated/resolvers.ts';
import type { AccountClosure } from '../services/AccountClosure.ts';

// Thin: each mutation hands its arguments and the caller to the ticketing service, which
// validates them (the argument types come from schema.graphql, through codegen.ts).
export const Mutation: MutationResolvers = {
  createTicketTier: (_, { eventId, input }, { service, viewer }) =>
    service.createTier(viewer, eventId, input),

  updateTicketTier: (_, { id, input }, { service, viewer }) =>
    service.updateTier(viewer, id, input),

  deleteTicketTier: (_, { id }, { service, viewer }) => service.deleteTier(viewer, id),

  holdTickets: (_, { tierId, quantity, idempotencyKey }, { service, viewer }) =>
    service.hold(viewer, tierId, quantity, idempotencyKey),

  async purchaseTickets(_, { input }, { service, viewer, loaders }) {
    const { order, tickets } = await service.purchase(viewer, input);
    loaders.ticketsByOrderId.prime(order.id, tickets);
    return order;
  },

  releaseHold: (_, { id }, { service, viewer }) => service.releaseHold(viewer, id),

  cancelTicket: (_, { id }, { service, viewer }) => service.cancelTicket(viewer, id),

  closeAccount: (_, __, { accounts, viewer }) => (accounts as AccountClosure).close(viewer),

  reopenAccount: (_, __, { accounts, viewer }) => (accounts as AccountClosure).reopen(viewer),
};
