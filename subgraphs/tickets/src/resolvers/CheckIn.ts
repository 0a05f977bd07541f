import type { DoorStaff as DoorStaffRow, Ticket as TicketRow } from '@ticketing/prisma/tickets';
import type { TicketsContext } from '../context.ts';
import type { Admission } from '../repositories/CheckInRepository.ts';
import type { OfflineScanResult as ScanResult } from '../services/CheckInService.ts';
import { mayAdmitWith } from '../services/TicketAccess.ts';

const unconfigured = () => new Error('This context was built without the door and transfers');
const door = (context: TicketsContext) => context.doors ?? raise(unconfigured());
function raise(error: Error): never {
  throw error;
}

/** A ticket an admission refers to, which its foreign key guarantees exists. */
async function ticketOf(ticketId: string, { loaders }: TicketsContext) {
  return (
    (await loaders.ticketById.load(ticketId)) ?? raise(new Error(`Ticket ${ticketId} is missing`))
  );
}

// Thin: the door, handed to its service with the caller.
export const CheckInMutation = {
  addDoorStaff: (
    _: unknown,
    { eventId, email }: { eventId: string; email: string },
    context: TicketsContext,
  ) => door(context).addDoorStaff(context.viewer, eventId, email),

  removeDoorStaff: (
    _: unknown,
    { eventId, userId }: { eventId: string; userId: string },
    context: TicketsContext,
  ) => door(context).removeDoorStaff(context.viewer, eventId, userId),

  checkInTicket: (
    _: unknown,
    { code, eventId }: { code: string; eventId: string },
    context: TicketsContext,
  ) => door(context).checkIn(context.viewer, code, eventId),

  async undoCheckIn(
    _: unknown,
    { ticketId, eventId }: { ticketId: string; eventId: string },
    context: TicketsContext,
  ) {
    return ticketOf(await door(context).undoCheckIn(context.viewer, ticketId, eventId), context);
  },

  uploadCheckIns: (
    _: unknown,
    { eventId, scans }: { eventId: string; scans: unknown },
    context: TicketsContext,
  ) => door(context).uploadCheckIns(context.viewer, eventId, scans),
};

/** This subgraph's check-in fields of the Event entity. */
export const CheckInEventFields = {
  async checkIns(event: { id: string }, _: unknown, context: TicketsContext) {
    await door(context).assertDoor(context.viewer, event.id);
    return context.loaders.checkInCountsByEventId.load(event.id);
  },

  ticketKeys: (event: { id: string }, _: unknown, context: TicketsContext) =>
    door(context).ticketKeys(context.viewer, event.id),

  async doorStaff(event: { id: string }, _: unknown, context: TicketsContext) {
    await door(context).assertOrganizer(context.viewer, event.id);
    return context.loaders.doorStaffByEventId.load(event.id);
  },
};

/**
 * The QR token of a ticket: for its owner and admins only, like its code. None for a
 * cancelled ticket: an offline door verifies a token by its signature alone, so a token
 * signed now would admit there a ticket that was refunded or whose event was cancelled.
 */
export async function qrToken(ticket: TicketRow, _: unknown, context: TicketsContext) {
  const { loaders, viewer } = context;
  const shown = await mayAdmitWith(viewer, ticket, 'qrToken', (id) => loaders.orderById.load(id));
  if (!shown || ticket.status === 'CANCELLED') return null;
  return door(context).tokens.sign({
    ticketId: ticket.id,
    eventId: ticket.eventId,
    tierId: ticket.tierId,
    version: ticket.tokenVersion,
  });
}

export const DoorStaff = {
  /** The users subgraph resolves the rest of the user. */
  user: (member: DoorStaffRow) => ({ __typename: 'User', id: member.userId }),
};

export const CheckIn = {
  ticket: (admission: Admission, _: unknown, context: TicketsContext) =>
    ticketOf(admission.ticketId, context),
};

export const OfflineScanResult = {
  ticket: (result: ScanResult, _: unknown, { loaders }: TicketsContext) =>
    result.ticketId ? loaders.ticketById.load(result.ticketId) : null,
};
