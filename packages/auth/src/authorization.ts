// Authorization, narrowed once: each helper either returns the caller with a type that says
// what was checked, or throws the GraphQL error a client branches on (UNAUTHENTICATED,
// FORBIDDEN). Services decide with these who may do and read what; resolvers hand the caller
// to a service and never check it themselves.
import { forbidden, unauthenticated } from './errors.ts';
import type { Identity, Role } from './identity.ts';

/** A caller whose role was checked to be one of `R`. */
export type IdentityWithRole<R extends Role> = Identity & { role: R };

/** The caller, or UNAUTHENTICATED (`reason: required`) when the request has none. */
export function requireViewer(viewer: Identity | null, message = 'Log in to do this.'): Identity {
  if (!viewer) throw unauthenticated(message, 'required');
  return viewer;
}

/**
 * The caller, if its role is one of `allowed`: UNAUTHENTICATED without a caller, FORBIDDEN
 * with another role.
 */
export function requireRole<const R extends Role>(
  viewer: Identity | null,
  allowed: readonly R[],
  messages: { unauthenticated?: string; forbidden: string },
): IdentityWithRole<R> {
  const caller = requireViewer(viewer, messages.unauthenticated);
  if (!hasRole(caller, allowed)) throw forbidden(messages.forbidden);
  return caller;
}

function hasRole<R extends Role>(
  caller: Identity,
  allowed: readonly R[],
): caller is IdentityWithRole<R> {
  return (allowed as readonly Role[]).includes(caller.role);
}

/** Whether the caller is `ownerId` or an admin: who may see or change what a user owns. */
export function isOwnerOrAdmin(viewer: Identity | null, ownerId: string): viewer is Identity {
  return viewer !== null && (viewer.userId === ownerId || viewer.role === 'ADMIN');
}

/** The caller, if it is `ownerId` or an admin; FORBIDDEN otherwise (anonymous callers too). */
export function requireOwnerOrAdmin(
  viewer: Identity | null,
  ownerId: string,
  message: string,
): Identity {
  if (!isOwnerOrAdmin(viewer, ownerId)) throw forbidden(message);
  return viewer;
}
