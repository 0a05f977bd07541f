import { forbidden, unauthenticated } from '@ticketing/auth';
import type { UsersContext } from '../context.ts';

export const Query = {
  async me(_: unknown, __: unknown, { viewer, loaders }: UsersContext) {
    if (!viewer) return null;
    const user = await loaders.userById.load(viewer.userId);
    return user && !user.deletedAt ? user : null;
  },

  user(_: unknown, { id }: { id: string }, { viewer, loaders }: UsersContext) {
    if (!viewer) throw unauthenticated('Log in to look up users.', 'required');
    if (viewer.userId !== id && viewer.role !== 'ADMIN') {
      throw forbidden('Only admins can look up other users.');
    }
    return loaders.userById.load(id);
  },

  /** @inaccessible: reached only by services that hold this subgraph's secret. */
  accountIdByEmail(_: unknown, { email }: { email: string }, { viewer, accounts }: UsersContext) {
    return accounts.accountIdByEmail(viewer, email);
  },
};
