import type { TicketTier as TierRow } from '@ticketing/prisma/tickets';
import type { TicketsContext } from '../context.ts';
import { availableInTier } from '../repositories/TicketRepository.ts';

export const TicketTier = {
  __resolveReference(reference: { id: string }, { loaders }: TicketsContext) {
    return loaders.tierById.load(reference.id);
  },

  event(tier: TierRow) {
    return { __typename: 'Event', id: tier.eventId };
  },

  available: availableInTier,
};
