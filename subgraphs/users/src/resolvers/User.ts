import type { User as UserRow } from '@ticketing/prisma/users';
import type { UsersContext } from '../context.ts';
import { requireEmailReader } from '../services/UserAccess.ts';

export const User = {
  __resolveReference(reference: { id: string }, { loaders }: UsersContext) {
    return loaders.userById.load(reference.id);
  },

  email(user: UserRow, _: unknown, { viewer, authenticatedUserId }: UsersContext) {
    requireEmailReader(viewer, user.id, authenticatedUserId);
    return user.email;
  },
};
