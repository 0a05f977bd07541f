import type { TicketsContext } from '../context.ts';
import { availableInTier } from '../repositories/TicketRepository.ts';

/** This subgraph's fields of the Event entity, which the events subgraph owns. */
export const Event = {
  __resolveReference(reference: { id: string }) {
    return { id: reference.id };
  },

  ticketTiers(event: { id: string }, _: unknown, { loaders }: TicketsContext) {
    return loaders.tiersByEventId.load(event.id);
  },

  async ticketsAvailable(event: { id: string }, _: unknown, { loaders }: TicketsContext) {
    const tiers = await loaders.tiersByEventId.load(event.id);
    return tiers.reduce((sum, tier) => sum + availableInTier(tier), 0);
  },
};
