import type { QueryResolvers } from '../generated/resolvers.ts';
import { requireUserLookup, viewerAccount } from '../services/UserAccess.ts';

export const Query: QueryResolvers = {
  me: (_, __, { viewer, loaders }) => viewerAccount(viewer, (id) => loaders.userById.load(id)),

  user(_, { id }, { viewer, loaders }) {
    requireUserLookup(viewer, id);
    return loaders.userById.load(id);
  },

  /** @inaccessible: reached only by services that hold this subgraph's secret. */
  accountIdByEmail(_, { email }, { viewer, accounts }) {
    return accounts.accountIdByEmail(viewer, email);
  },
};
