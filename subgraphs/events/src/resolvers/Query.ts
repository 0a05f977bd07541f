import { pageSize } from '@ticketing/platform';
import { toConnection } from '../connection.ts';
import type { EventsContext } from '../context.ts';
import { decodeCursor, type EventOrder } from '../cursor.ts';
import type { EventFilter } from '../filters.ts';

export const Query = {
  event(_: unknown, { id }: { id: string }, { loaders }: EventsContext) {
    return loaders.eventById.load(id);
  },

  async events(
    _: unknown,
    args: {
      first: number;
      after?: string | null;
      filter?: EventFilter | null;
      orderBy: EventOrder;
    },
    { service, loaders, viewer }: EventsContext,
  ) {
    const first = pageSize(args.first);
    const after = args.after ? decodeCursor(args.after, args.orderBy) : undefined;
    const page = await service.list(viewer, args.filter, args.orderBy, first, after);
    for (const event of page.events) loaders.eventById.prime(event.id, event);
    return toConnection(page, args.orderBy);
  },
};
