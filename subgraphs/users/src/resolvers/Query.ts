import { requireOwnerOrAdmin, requireViewer } from '@ticketing/auth';
import type { UsersContext } from '../context.ts';

export const Query = {
  async me(_: unknown, __: unknown, { viewer, loaders }: UsersContext) {
    if (!viewer) return null;
    const user = await loaders.userById.load(viewer.userId);
    return user && !user.deletedAt ? user : null;
  },

  user(_: unknown, { id }: { id: string }, { viewer, loaders }: UsersContext) {
    requireOwnerOrAdmin(
      requireViewer(viewer, 'Log in to look up users.'),
      id,
      'Only admins can look up other users.',
    );
    return loaders.userById.load(id);
  },

  /** @inaccessible: reached only by services that hold this subgraph's secret. */
  accountIdByEmail(_: unknown, { email }: { email: string }, { viewer, accounts }: UsersContext) {
    return accounts.accountIdByEmail(viewer, email);
  },
};
