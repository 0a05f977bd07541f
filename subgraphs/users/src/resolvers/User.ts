import { forbidden } from '@ticketing/auth';
import type { User as UserRow } from '@ticketing/prisma/users';
import type { UsersContext } from '../context.ts';

export const User = {
  __resolveReference(reference: { id: string }, { loaders }: UsersContext) {
    return loaders.userById.load(reference.id);
  },

  email(user: UserRow, _: unknown, { viewer, authenticatedUserId }: UsersContext) {
    const self = viewer?.userId === user.id || authenticatedUserId === user.id;
    if (self || viewer?.role === 'ADMIN') return user.email;
    throw forbidden('Only the user and admins can see an email address.');
  },
};
