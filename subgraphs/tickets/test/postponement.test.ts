// An event postponed after its doors opened, on a real PostgreSQL database, in process: the
// admissions made for the old date stop counting (the ticket is admitted again at the new
// date, and refunded by the usual rules), the reset is in the check-in log with no staff
// member, a redelivered change resets nothing twice, a change that does not move the event
// to a new date (a start delayed within the showing) resets nothing, and scans racing the
// postponement leave every ticket consistent.
import { randomUUID } from 'node:crypto';
import type { Identity } from '@ticketing/auth';
import { executorFor } from '@ticketing/platform/testing';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { type PrismaClient, ticketsDatabase } from '@ticketing/prisma/tickets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../src/context.ts';
import {
  type EventChange,
  EventSnapshotRepository,
} from '../src/repositories/EventSnapshotRepository.ts';
import { createTicketsServer } from '../src/server.ts';
import { createTicketsServices } from '../src/subgraph.ts';
import { subgraphsAway } from './subgraphs-away.ts';

const dayMs = 86_400_000;
const priceCents = 1500;
/** Starts in a week: inside the buyer's refund window (48 hours). */
const startsAt = new Date(Date.now() + 7 * dayMs);

let database: TestDatabase<PrismaClient>;
let services: ReturnType<typeof createTicketsServices>;
let snapshots: EventSnapshotRepository;
const server = createTicketsServer();
const buyer: Identity = { userId: randomUUID(), role: 'CUSTOMER', sessionId: 'test' };
const door: Identity = { userId: randomUUID(), role: 'CUSTOMER', sessionId: 'test' };
const runAs = (viewer: Identity | null) =>
  executorFor(server, () =>
    createContext(
      database.prisma,
      services.service,
      { viewer, clientAddress: undefined, requestId: undefined },
      services.door,
    ),
  );

interface Bought {
  orderId: string;
  tickets: { id: string; code: string; qrToken: string }[];
}

/** An event on sale, starting in a week, with one tier and `door` as its door staff. */
async function eventOnSale(): Promise<{ eventId: string; tierId: string }> {
  const eventId = randomUUID();
  const tierId = randomUUID();
  await database.prisma.ticketTier.create({
    data: {
      id: tierId,
      eventId,
      name: 'Floor',
      priceCents,
      currency: 'EUR',
      capacity: 100,
      maxPerOrder: 40,
    },
  });
  await database.prisma.eventSnapshot.create({
    data: { eventId, status: 'PUBLISHED', startsAt, version: 1 },
  });
  await database.prisma.doorStaff.create({
    data: { eventId, userId: door.userId, addedBy: randomUUID() },
  });
  return { eventId, tierId };
}

async function buy(tierId: string, quantity: number): Promise<Bought> {
  const { data, errors } = await runAs(buyer)<{
    purchaseTickets: Bought['tickets'] extends infer T ? { id: string; tickets: T } : never;
  }>(
    /* GraphQL */ `
      mutation ($input: PurchaseInput!) {
        purchaseTickets(input: $input) { id tickets { id code qrToken } }
      }
    `,
    { input: { tierId, quantity, idempotencyKey: randomUUID() } },
  );
  expect(errors).toBeUndefined();
  const order = data?.purchaseTickets as { id: string; tickets: Bought['tickets'] };
  return { orderId: order.id, tickets: order.tickets };
}

async function scan(code: string, eventId: string) {
  const { data, errors } = await runAs(door)<{ checkInTicket: { checkedInAt: string } }>(
    /* GraphQL */ `
      mutation ($code: String!, $eventId: ID!) {
        checkInTicket(code: $code, eventId: $eventId) { checkedInAt }
      }
    `,
    { code, eventId },
  );
  return { admitted: data?.checkInTicket ?? null, code: errors?.[0]?.extensions?.code };
}

function refund(orderId: string, ticketIds: string[]) {
  return runAs(buyer)<{ refundOrder: { status: string } }>(
    /* GraphQL */ `
      mutation ($orderId: ID!, $ticketIds: [ID!]) {
        refundOrder(orderId: $orderId, ticketIds: $ticketIds) { status }
      }
    `,
    { orderId, ticketIds },
  );
}

const postponed = (eventId: string, days: number, version: number): EventChange => ({
  eventId,
  status: 'PUBLISHED',
  startsAt: new Date(startsAt.getTime() + days * dayMs),
  endsAt: null,
  version,
});

/** The check-in log of an event, oldest first. */
const logOf = (eventId: string) =>
  database.prisma.checkInRecord.findMany({
    where: { eventId },
    orderBy: [{ recordedAt: 'asc' }, { id: 'asc' }],
    select: { ticketId: true, action: true, staffId: true, reason: true },
  });

beforeAll(async () => {
  database = await createTestDatabase(ticketsDatabase);
  services = createTicketsServices(
    database.prisma,
    subgraphsAway,
    { holdSeconds: 60, perUserCap: 100, maxActiveHolds: 3 },
    { refunds: { cutoffHours: 48 } },
  );
  snapshots = new EventSnapshotRepository(database.prisma);
  await server.start();
});
afterAll(async () => {
  await server.stop();
  await database?.close();
});

describe('an event postponed after tickets were admitted', () => {
  it('lets the tickets in again at the new date and refunds them by the usual rules', async () => {
    const { eventId, tierId } = await eventOnSale();
    const order = await buy(tierId, 2);
    const [first, second] = order.tickets as [Bought['tickets'][0], Bought['tickets'][0]];
    for (const ticket of order.tickets)
      expect((await scan(ticket.code, eventId)).admitted).not.toBeNull();
    expect((await scan(first.code, eventId)).code).toBe('ALREADY_CHECKED_IN');
    expect((await refund(order.orderId, [second.id])).errors?.[0]?.extensions?.code).toBe(
      'TICKET_CHECKED_IN',
    );

    await snapshots.apply([postponed(eventId, 14, 2)]);

    // The door admits at the new date, and the buyer, still within the window, refunds.
    expect((await scan(first.code, eventId)).admitted).not.toBeNull();
    const refunded = await refund(order.orderId, [second.id]);
    expect(refunded.errors).toBeUndefined();
    expect(refunded.data?.refundOrder.status).toBe('PARTIALLY_REFUNDED');
    // The log keeps every step: the admissions, their reset by no one in particular (the
    // postponement), and the admission at the new date.
    const byDoor = { action: 'ADMIT', staffId: door.userId, reason: null };
    const byPostponement = { action: 'UNDO', staffId: null, reason: 'EVENT_POSTPONED' };
    const log = await logOf(eventId);
    expect(log.filter((row) => row.ticketId === first.id)).toEqual(
      [byDoor, byPostponement, byDoor].map((row) => ({ ticketId: first.id, ...row })),
    );
    expect(log.filter((row) => row.ticketId === second.id)).toEqual(
      [byDoor, byPostponement].map((row) => ({ ticketId: second.id, ...row })),
    );
  });

  it('resets nothing twice when the change is delivered again, at once or later', async () => {
    const { eventId, tierId } = await eventOnSale();
    const order = await buy(tierId, 3);
    for (const ticket of order.tickets) await scan(ticket.code, eventId);
    const change = postponed(eventId, 7, 2);

    await Promise.all([1, 2, 3].map(() => snapshots.apply([change])));
    const [again] = order.tickets as [Bought['tickets'][0]];
    expect((await scan(again.code, eventId)).admitted).not.toBeNull();
    await snapshots.apply([change]);
    // An older change arriving late moves nothing either.
    await snapshots.apply([postponed(eventId, 1, 1)]);

    const resets = (await logOf(eventId)).filter((row) => row.reason === 'EVENT_POSTPONED');
    expect(resets).toHaveLength(3);
    expect((await scan(again.code, eventId)).code).toBe('ALREADY_CHECKED_IN');
  });

  it('keeps admissions through a change that does not move the start later', async () => {
    const { eventId, tierId } = await eventOnSale();
    const order = await buy(tierId, 1);
    const [ticket] = order.tickets as [Bought['tickets'][0]];
    await scan(ticket.code, eventId);

    // A new end, then a start brought forward: neither is a postponement.
    await snapshots.apply([
      { ...postponed(eventId, 0, 2), endsAt: new Date(startsAt.getTime() + dayMs) },
    ]);
    await snapshots.apply([postponed(eventId, -1, 3)]);

    expect((await scan(ticket.code, eventId)).code).toBe('ALREADY_CHECKED_IN');
    expect((await logOf(eventId)).map((row) => row.action)).toEqual(['ADMIT']);
  });

  it('keeps admissions through a start delayed within the showing, resets at a new date', async () => {
    const hourMs = 3_600_000;
    const { eventId, tierId } = await eventOnSale();
    const order = await buy(tierId, 1);
    const [ticket] = order.tickets as [Bought['tickets'][0]];
    await scan(ticket.code, eventId);
    const at = (ms: number) => new Date(startsAt.getTime() + ms);

    // Without an end: two hours late is the same showing; those inside stay admitted.
    await snapshots.apply([{ ...postponed(eventId, 0, 2), startsAt: at(2 * hourMs) }]);
    expect((await scan(ticket.code, eventId)).code).toBe('ALREADY_CHECKED_IN');
    // A three-day showing, its start moved a day: still under way, still admitted.
    const festivalEnd = at(3 * dayMs);
    await snapshots.apply([{ ...postponed(eventId, 0, 3), endsAt: festivalEnd }]);
    await snapshots.apply([{ ...postponed(eventId, 1, 4), endsAt: at(4 * dayMs) }]);
    expect((await scan(ticket.code, eventId)).code).toBe('ALREADY_CHECKED_IN');
    expect((await logOf(eventId)).map((row) => row.action)).toEqual(['ADMIT']);

    // Moved to start once the old showing (a day in, to four days) is over: a new date.
    await snapshots.apply([{ ...postponed(eventId, 4, 5), endsAt: at(5 * dayMs) }]);
    expect((await scan(ticket.code, eventId)).admitted).not.toBeNull();
    expect((await logOf(eventId)).map((row) => row.reason)).toEqual([
      null,
      'EVENT_POSTPONED',
      null,
    ]);
  });

  it('leaves every ticket consistent when scans at the door race the postponement', async () => {
    // The race happened when some scans landed before the reset and some after it; a round in
    // which the postponement came before or after them all tested nothing, and another is run.
    let raced = false;
    for (let round = 0; round < 10 && !raced; round++) raced = await raceRound();
    expect(raced, 'a round with scans on both sides of the reset').toBe(true);

    async function raceRound(): Promise<boolean> {
      const { eventId, tierId } = await eventOnSale();
      const order = await buy(tierId, 40);
      const early = order.tickets.slice(0, 20);
      for (const ticket of early) await scan(ticket.code, eventId);

      // Every ticket scanned (the early ones again) while the postponement is applied.
      const [scans] = await Promise.all([
        Promise.all(order.tickets.map((ticket) => scan(ticket.code, eventId))),
        snapshots.apply([postponed(eventId, 7, 2)]),
      ]);
      for (const result of scans) {
        expect(result.admitted !== null || result.code === 'ALREADY_CHECKED_IN').toBe(true);
      }
      // The early tickets' scans tell on which side of the reset each landed: already checked
      // in before it, admitted again after it.
      const earlyScans = scans.slice(0, early.length);
      const raced =
        earlyScans.some((result) => result.code === 'ALREADY_CHECKED_IN') &&
        earlyScans.some((result) => result.admitted !== null);

      // Each ticket is admitted exactly when its log's admissions outnumber its undoings.
      const log = await logOf(eventId);
      const tickets = await database.prisma.ticket.findMany({
        where: { eventId },
        select: { id: true, checkedInAt: true, checkedInBy: true },
      });
      for (const ticket of tickets) {
        const rows = log.filter((row) => row.ticketId === ticket.id);
        const balance = rows.reduce((sum, row) => sum + (row.action === 'ADMIT' ? 1 : -1), 0);
        expect(balance).toBe(ticket.checkedInAt ? 1 : 0);
        expect(ticket.checkedInBy).toBe(ticket.checkedInAt ? door.userId : null);
      }
      // Every early admission was reset, once.
      const resets = log
        .filter((row) => row.reason === 'EVENT_POSTPONED')
        .map((row) => row.ticketId);
      expect(new Set(resets).size).toBe(resets.length);
      for (const ticket of early) expect(resets).toContain(ticket.id);
      // And the door goes on from that state: whoever is not admitted now is, once.
      for (const ticket of tickets) {
        const code = order.tickets.find((bought) => bought.id === ticket.id)?.code as string;
        const again = await scan(code, eventId);
        expect(again.code ?? 'ADMITTED').toBe(
          ticket.checkedInAt ? 'ALREADY_CHECKED_IN' : 'ADMITTED',
        );
      }
      return raced;
    }
  });

  it('does not let an offline door’s scans from before it admit at the new date', async () => {
    const { eventId, tierId } = await eventOnSale();
    const order = await buy(tierId, 2);
    const [late, online] = order.tickets as [Bought['tickets'][0], Bought['tickets'][0]];
    // An offline door scans both at the old date, and uploads only after the postponement,
    // when the other ticket has been admitted online at the new date.
    const scannedAt = new Date().toISOString();
    await snapshots.apply([postponed(eventId, 7, 2)]);
    const admitted = (await scan(online.code, eventId)).admitted;
    expect(admitted).not.toBeNull();

    const { data, errors } = await runAs(door)<{
      uploadCheckIns: { outcome: string; checkedInAt: string | null }[];
    }>(
      /* GraphQL */ `
        mutation ($eventId: ID!, $scans: [OfflineScanInput!]!) {
          uploadCheckIns(eventId: $eventId, scans: $scans) { outcome checkedInAt }
        }
      `,
      { eventId, scans: [late, online].map((ticket) => ({ token: ticket.qrToken, scannedAt })) },
    );
    expect(errors).toBeUndefined();
    expect(data?.uploadCheckIns).toEqual([
      { outcome: 'EVENT_POSTPONED', checkedInAt: null },
      { outcome: 'EVENT_POSTPONED', checkedInAt: admitted?.checkedInAt },
    ]);
    // Neither admission for the old date counts: the first ticket is let in now, and the
    // second keeps its admission at the new date.
    expect((await scan(late.code, eventId)).admitted).not.toBeNull();
    const kept = await database.prisma.ticket.findUniqueOrThrow({ where: { id: online.id } });
    expect(kept.checkedInAt).toEqual(new Date(admitted?.checkedInAt as string));
  });
});
