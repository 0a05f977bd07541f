import { randomBytes } from 'node:crypto';
import { demoEvents, demoTickets, demoTicketTiers } from '../demo-data.ts';
import { clientOptions, defineServiceDatabase, reportingQueries } from '../src/service.ts';
import { PrismaClient } from './generated/client.ts';

export {
  type PreparedQuery,
  preparedStatements,
  type SendPrepared,
} from '../src/service.ts';
export type {
  DoorStaff,
  EventSnapshot,
  Hold,
  Order,
  Refund,
  RefundReason,
  Ticket,
  TicketStatus,
  TicketTier,
  TicketTransferOffer,
  TransferOfferStatus,
  WaitlistEntry,
} from './generated/client.ts';
export { Prisma, PrismaClient } from './generated/client.ts';

export const ticketsDatabase = defineServiceDatabase({
  name: 'tickets',
  directory: import.meta.dirname,
  createClient: (adapter, onQuery) =>
    reportingQueries(new PrismaClient(clientOptions(adapter, onQuery)), onQuery),
  async seedDemoData(prisma) {
    if ((await prisma.ticketTier.count()) > 0) return false;
    const tiers = demoTicketTiers();
    const tickets = demoTickets.map(({ tierIndex, ...ticket }) => {
      const tier = tiers[tierIndex];
      if (!tier) throw new Error(`Demo ticket ${ticket.id} names no tier ${tierIndex}`);
      // Unguessable, like every ticket code: demo tickets can be checked in too.
      return {
        ...ticket,
        tierId: tier.id,
        eventId: tier.eventId,
        code: randomBytes(16).toString('base64url'),
      };
    });
    const allowances = Map.groupBy(tickets, (ticket) => `${ticket.eventId}|${ticket.ownerId}`);
    const soldByTier = Map.groupBy(tickets, (ticket) => ticket.tierId);
    await prisma.$transaction([
      prisma.ticketTier.createMany({
        data: tiers.map((tier) => ({ ...tier, sold: soldByTier.get(tier.id)?.length ?? 0 })),
      }),
      prisma.ticket.createMany({ data: tickets }),
      prisma.eventAllowance.createMany({
        data: [...allowances.values()].map((owned) => ({
          eventId: owned[0]?.eventId as string,
          userId: owned[0]?.ownerId as string,
          tickets: owned.length,
        })),
      }),
      // What the events service's outbox would have told this one about the demo events.
      prisma.eventSnapshot.createMany({
        data: demoEvents().map(({ id, status, startsAt, endsAt }) => ({
          eventId: id,
          status,
          startsAt,
          endsAt,
          version: 1,
        })),
      }),
    ]);
    return true;
  },
});
