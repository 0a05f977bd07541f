import { pageSize } from '@ticketing/platform';
import { toConnection } from '../connection.ts';
import { decodeCursor, eventOrder } from '../cursor.ts';
import type { QueryResolvers } from '../generated/resolvers.ts';

export const Query: QueryResolvers = {
  event(_, { id }, { loaders }) {
    return loaders.eventById.load(id);
  },

  async events(_, args, { service, loaders, viewer }) {
    const first = pageSize(args.first);
    const order = eventOrder(args.orderBy);
    const after = args.after ? decodeCursor(args.after, order) : undefined;
    const page = await service.list(viewer, args.filter, order, first, after);
    for (const event of page.events) loaders.eventById.prime(event.id, event);
    return toConnection(page, order);
  },

  publishedEventsNotOver(_, __, { service, viewer }) {
    return service.publishedEventsNotOver(viewer);
  },
};
