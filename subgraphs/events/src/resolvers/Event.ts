import type { Event as EventRow } from '@ticketing/prisma/events';
import type { EventsContext } from '../context.ts';

export const Event = {
  __resolveReference(reference: { id: string }, { loaders }: EventsContext) {
    return loaders.eventById.load(reference.id);
  },

  /** The users subgraph resolves the rest of the organizer. */
  organizer(event: EventRow) {
    return { __typename: 'User', id: event.organizerId };
  },
};
