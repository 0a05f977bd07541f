// Who may read which account: decided here with the helpers of @ticketing/auth, so that
// resolvers only load and hand over. What a caller may change is decided by AccountService.
import {
  forbidden,
  type Identity,
  isOwnerOrAdmin,
  requireOwnerOrAdmin,
  requireViewer,
} from '@ticketing/auth';
import type { User } from '@ticketing/prisma/users';

/** The caller's own account, while it exists; null for an anonymous caller (nothing loaded). */
export async function viewerAccount(
  viewer: Identity | null,
  load: (id: string) => Promise<User | null>,
): Promise<User | null> {
  if (!viewer) return null;
  const user = await load(viewer.userId);
  return user && !user.deletedAt ? user : null;
}

/**
 * Looking up a user by id: that user and admins; UNAUTHENTICATED or FORBIDDEN otherwise. An
 * id may be written in capitals (a UUID's hex digits are case-insensitive, RFC 9562, and
 * some platforms print them so); ids are issued in lower case.
 */
export function requireUserLookup(viewer: Identity | null, userId: string): Identity {
  return requireOwnerOrAdmin(
    requireViewer(viewer, 'Log in to look up users.'),
    userId.toLowerCase(),
    'Only admins can look up other users.',
  );
}

/**
 * Reading what an account says of its holder beyond its name (its email address, its role):
 * its user and admins, and the caller who just signed up or logged in as that user (who
 * reads their own in the same answer); FORBIDDEN otherwise.
 */
export function requireAccountReader(
  viewer: Identity | null,
  userId: string,
  authenticatedUserId: string | undefined,
  what: 'an email address' | 'a role',
): void {
  if (isOwnerOrAdmin(viewer, userId) || authenticatedUserId === userId) return;
  throw forbidden(`Only the user and admins can see ${what}.`);
}
