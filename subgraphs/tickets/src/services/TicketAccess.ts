// Who may read what a buyer owns (tickets, their codes, orders, holds): decided here with the
// helpers of @ticketing/auth, so that resolvers only load, hand over and shape. What a
// caller may change is decided by TicketingService, CheckInService and TransferService.
import {
  forbidden,
  type Identity,
  isOwnerOrAdmin,
  requireOwnerOrAdmin,
  requireViewer,
} from '@ticketing/auth';
import { isUuid } from '@ticketing/platform';
import type { Order, Ticket } from '@ticketing/prisma/tickets';

/** A ticket for its owner or an admin; null otherwise, so that ids reveal nothing. */
export function visibleTicket(viewer: Identity | null, ticket: Ticket | null): Ticket | null {
  return ticket && isOwnerOrAdmin(viewer, ticket.ownerId) ? ticket : null;
}

/**
 * An order for its buyer or an admin; null otherwise, like a ticket. Nothing is loaded for
 * an anonymous caller or an id that cannot be one.
 */
export async function visibleOrder(
  viewer: Identity | null,
  id: string,
  load: (id: string) => Promise<Order | null>,
): Promise<Order | null> {
  if (!viewer || !isUuid(id)) return null;
  const order = await load(id);
  return order && isOwnerOrAdmin(viewer, order.buyerId) ? order : null;
}

const holderMessages = {
  tickets: 'Log in to see your tickets.',
  orders: 'Log in to see your orders.',
  holds: 'Log in to see your holds.',
} as const;

/** The caller asking for their own tickets, orders or holds; UNAUTHENTICATED without one. */
export function requireHolder(
  viewer: Identity | null,
  what: keyof typeof holderMessages,
): Identity {
  return requireViewer(viewer, holderMessages[what]);
}

/** Whether the caller may list `userId`'s tickets: that user and admins; FORBIDDEN otherwise. */
export function requireTicketsOf(viewer: Identity | null, userId: string): Identity {
  return requireOwnerOrAdmin(viewer, userId, 'Only the user and admins can see their tickets.');
}

const admissionMessages = {
  code: 'Only the ticket’s owner can see its code.',
  qrToken: 'Only the ticket’s owner can see its QR code.',
} as const;

/**
 * Whether the caller may see what lets a ticket in (its code, its QR token): its owner and
 * admins may; its buyer, who gave it away, may not, and sees it as null (so that their
 * order, which lists it, still reads); anyone else is FORBIDDEN.
 */
export async function mayAdmitWith(
  viewer: Identity | null,
  ticket: Ticket,
  what: keyof typeof admissionMessages,
  loadOrder: (id: string) => Promise<Order | null>,
): Promise<boolean> {
  // The giver, named apart: the owner's check narrows `viewer` to null when it fails.
  const giver = viewer?.userId;
  if (isOwnerOrAdmin(viewer, ticket.ownerId)) return true;
  const order = giver && ticket.orderId ? await loadOrder(ticket.orderId) : null;
  if (order && order.buyerId === giver) return false;
  throw forbidden(admissionMessages[what]);
}
