import type { GraphQLResolveInfo } from 'graphql';
import type { UsersContext } from '../context.ts';
import type { MutationResolvers } from '../generated/resolvers.ts';
import type { AuthPayload } from '../services/AccountService.ts';

/**
 * The payload's user is the caller from now on, in this request too, and in the gateway's
 * fetches for the fields under this one (its response key), which other subgraphs resolve:
 * the gateway is told the access token issued (issued-tokens.ts).
 */
async function loggedIn(
  context: UsersContext,
  info: GraphQLResolveInfo,
  payload: Promise<AuthPayload>,
): Promise<AuthPayload> {
  const session = await payload;
  context.authenticatedUserId = session.user.id;
  context.issuedAccessTokens ??= new Map();
  context.issuedAccessTokens.set(info.path.key as string, session.accessToken);
  return session;
}

// Thin: each mutation hands its arguments and the caller to the account service, which
// validates them (the argument types come from schema.graphql, through codegen.ts).
export const Mutation: MutationResolvers = {
  signUp: (_, { input }, context, info) =>
    loggedIn(context, info, context.accounts.signUp(input, context.clientAddress)),

  logIn: (_, { email, password }, context, info) =>
    loggedIn(context, info, context.accounts.logIn(email, password, context.clientAddress)),

  refreshSession: (_, { refreshToken }, context, info) =>
    loggedIn(context, info, context.accounts.refreshSession(refreshToken)),

  logOut: (_, { refreshToken }, { accounts }) => accounts.logOut(refreshToken),

  updateProfile: (_, { input }, { accounts, viewer, clientAddress }) =>
    accounts.updateProfile(viewer, input, clientAddress),

  changePassword: (_, args, { accounts, viewer, clientAddress }) =>
    accounts.changePassword(viewer, args.currentPassword, args.newPassword, clientAddress),

  deleteAccount: (_, { password }, { accounts, viewer, clientAddress }) =>
    accounts.deleteAccount(viewer, password, clientAddress),

  setUserRole: (_, { userId, role }, { accounts, viewer }) =>
    accounts.setUserRole(viewer, userId, role),
};
