import type { UsersContext } from '../context.ts';

export const User = {
  __resolveReference(reference: { id: string }, { loaders }: UsersContext) {
    return loaders.userById.load(reference.id);
  },
};
