import type { TicketsContext } from '../context.ts';

export const Query = {
  ticket(_: unknown, { id }: { id: string }, { loaders }: TicketsContext) {
    return loaders.ticketById.load(id);
  },
};
