import type { TicketsContext } from '../context.ts';
import { availableInTier } from '../repositories/TicketRepository.ts';

/** An event as this subgraph knows one: by id alone (federation's reference). */
export interface EventReference {
  id: string;
}

/** This subgraph's fields of the Event entity, which the events subgraph owns. */
export const Event = {
  __resolveReference(reference: { id: string }) {
    return { id: reference.id };
  },

  ticketTiers(event: { id: string }, _: unknown, { loaders }: TicketsContext) {
    return loaders.tiersByEventId.load(event.id);
  },

  /** Tickets that can be bought now: none unless the event is published and not started. */
  async ticketsAvailable(event: { id: string }, _: unknown, { loaders }: TicketsContext) {
    const [snapshot, tiers] = await Promise.all([
      loaders.snapshotByEventId.load(event.id),
      loaders.tiersByEventId.load(event.id),
    ]);
    if (snapshot?.status !== 'PUBLISHED' || snapshot.startsAt <= new Date()) return 0;
    return tiers.reduce((sum, tier) => sum + availableInTier(tier), 0);
  },
};
