import type { User as UserRow } from '@ticketing/prisma/users';
import type { UsersContext } from '../context.ts';
import { requireAccountReader } from '../services/UserAccess.ts';

export const User = {
  __resolveReference(reference: { id: string }, { loaders }: UsersContext) {
    return loaders.userById.load(reference.id);
  },

  email(user: UserRow, _: unknown, { viewer, authenticatedUserId }: UsersContext) {
    requireAccountReader(viewer, user.id, authenticatedUserId, 'an email address');
    return user.email;
  },

  /** Which accounts are admins or organizers is for them and admins to know, as the email. */
  role(user: UserRow, _: unknown, { viewer, authenticatedUserId }: UsersContext) {
    requireAccountReader(viewer, user.id, authenticatedUserId, 'a role');
    return user.role;
  },
};
