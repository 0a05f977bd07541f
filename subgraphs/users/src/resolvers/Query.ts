import { requireOwnerOrAdmin, requireViewer } from '@ticketing/auth';
import type { QueryResolvers } from '../generated/resolvers.ts';

export const Query: QueryResolvers = {
  async me(_, __, { viewer, loaders }) {
    if (!viewer) return null;
    const user = await loaders.userById.load(viewer.userId);
    return user && !user.deletedAt ? user : null;
  },

  user(_, { id }, { viewer, loaders }) {
    requireOwnerOrAdmin(
      requireViewer(viewer, 'Log in to look up users.'),
      id,
      'Only admins can look up other users.',
    );
    return loaders.userById.load(id);
  },

  /** @inaccessible: reached only by services that hold this subgraph's secret. */
  accountIdByEmail(_, { email }, { viewer, accounts }) {
    return accounts.accountIdByEmail(viewer, email);
  },
};
