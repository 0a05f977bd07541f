import { forbidden, isOwnerOrAdmin } from '@ticketing/auth';
import type { User as UserRow } from '@ticketing/prisma/users';
import type { UsersContext } from '../context.ts';

export const User = {
  __resolveReference(reference: { id: string }, { loaders }: UsersContext) {
    return loaders.userById.load(reference.id);
  },

  email(user: UserRow, _: unknown, { viewer, authenticatedUserId }: UsersContext) {
    // The caller who just signed up or logged in reads their own address in the same answer.
    if (isOwnerOrAdmin(viewer, user.id) || authenticatedUserId === user.id) return user.email;
    throw forbidden('Only the user and admins can see an email address.');
  },
};
