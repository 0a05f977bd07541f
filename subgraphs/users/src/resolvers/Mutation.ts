import type { Role } from '@ticketing/auth';
import type { UsersContext } from '../context.ts';
import type { AuthPayload } from '../services/AccountService.ts';

/** The payload's user is the caller from now on, in this request too. */
async function loggedIn(
  context: UsersContext,
  payload: Promise<AuthPayload>,
): Promise<AuthPayload> {
  const session = await payload;
  context.authenticatedUserId = session.user.id;
  return session;
}

// Thin: each mutation hands its arguments and the caller to the account service.
export const Mutation = {
  signUp: (_: unknown, { input }: { input: unknown }, context: UsersContext) =>
    loggedIn(context, context.accounts.signUp(input, context.clientAddress)),

  logIn: (
    _: unknown,
    { email, password }: { email: string; password: string },
    context: UsersContext,
  ) => loggedIn(context, context.accounts.logIn(email, password, context.clientAddress)),

  refreshSession: (_: unknown, { refreshToken }: { refreshToken: string }, context: UsersContext) =>
    loggedIn(context, context.accounts.refreshSession(refreshToken)),

  logOut: (_: unknown, { refreshToken }: { refreshToken: string }, { accounts }: UsersContext) =>
    accounts.logOut(refreshToken),

  updateProfile: (
    _: unknown,
    { input }: { input: unknown },
    { accounts, viewer, clientAddress }: UsersContext,
  ) => accounts.updateProfile(viewer, input, clientAddress),

  changePassword: (
    _: unknown,
    args: { currentPassword: string; newPassword: string },
    { accounts, viewer, clientAddress }: UsersContext,
  ) => accounts.changePassword(viewer, args.currentPassword, args.newPassword, clientAddress),

  deleteAccount: (
    _: unknown,
    { password }: { password: string },
    { accounts, viewer, clientAddress }: UsersContext,
  ) => accounts.deleteAccount(viewer, password, clientAddress),

  setUserRole: (
    _: unknown,
    { userId, role }: { userId: string; role: Role },
    { accounts, viewer }: UsersContext,
  ) => accounts.setUserRole(viewer, userId, role),
};
