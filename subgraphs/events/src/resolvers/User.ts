import { pageSize } from '@ticketing/platform';
import { toConnection } from '../connection.ts';
import type { EventsContext } from '../context.ts';
import { decodeCursor } from '../cursor.ts';

/** A user as this subgraph knows one: by id alone (federation's reference). */
export interface UserReference {
  id: string;
}

/** This subgraph's field of the User entity, which the users subgraph owns. */
export const User = {
  __resolveReference(reference: { id: string }) {
    return { id: reference.id };
  },

  async organizedEvents(
    user: { id: string },
    args: { first: number; after?: string | null },
    { loaders }: EventsContext,
  ) {
    const first = pageSize(args.first);
    // Validate here, so that a bad cursor fails this field alone and not the whole batch.
    if (args.after) decodeCursor(args.after, 'STARTS_AT_ASC');
    const page = await loaders.organizedEvents.load({
      organizerId: user.id,
      first,
      after: args.after ?? undefined,
    });
    return toConnection(page, 'STARTS_AT_ASC');
  },
};
