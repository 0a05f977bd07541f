import { GraphQLError } from 'graphql';
import type { EventsContext } from '../context.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';

export const maxPageSize = 100;

function pageSize(first: number): number {
  if (!Number.isInteger(first) || first < 0 || first > maxPageSize) {
    throw new GraphQLError(`\`first\` must be between 0 and ${maxPageSize}.`, {
      extensions: { code: 'BAD_USER_INPUT', argumentName: 'first' },
    });
  }
  return first;
}

export const Query = {
  event(_: unknown, { id }: { id: string }, { loaders }: EventsContext) {
    return loaders.eventById.load(id);
  },

  async events(
    _: unknown,
    args: { first: number; after?: string | null },
    { events, loaders, viewer }: EventsContext,
  ) {
    const first = pageSize(args.first);
    const after = args.after ? decodeCursor(args.after) : undefined;
    const page = await events.listVisible(first, after, viewer);
    for (const event of page.events) loaders.eventById.prime(event.id, event);
    const edges = page.events.map((event) => ({ cursor: encodeCursor(event), node: event }));
    return {
      edges,
      totalCount: page.totalCount,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
    };
  },
};
