// The waitlist of a sold-out tier, in-process on real PostgreSQL: returned stock is offered
// in queue order, exactly once under concurrent cancellations; nobody outside the queue
// gets it; lapsed offers pass on; the per-person cap trims or skips; bad input changes
// nothing; and a cancelled event ends its queue.
import { randomUUID } from 'node:crypto';
import type { Identity } from '@ticketing/auth';
import { executorFor } from '@ticketing/platform/testing';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { type PrismaClient, ticketsDatabase } from '@ticketing/prisma/tickets';
import type { GraphQLFormattedError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../src/context.ts';
import { EventSnapshotRepository } from '../src/repositories/EventSnapshotRepository.ts';
import { TicketRepository } from '../src/repositories/TicketRepository.ts';
import { TransferRepository } from '../src/repositories/TransferRepository.ts';
import { createTicketsServer } from '../src/server.ts';
import { createTicketsServices } from '../src/subgraph.ts';

const perUserCap = 4;
const maxWaitlistEntries = 3;
const unreachable = { url: 'http://127.0.0.1:9/graphql', secret: 'unused-peer-secret' };

let database: TestDatabase<PrismaClient>;
const server = createTicketsServer();

/** The service as the subgraph builds it, with offers that last `offerSeconds`. */
function servicesWith(offerSeconds: number) {
  return createTicketsServices(
    database.prisma,
    { events: unreachable, users: unreachable },
    { holdSeconds: 60, perUserCap, maxActiveHolds: 3, maxWaitlistEntries },
    { offerSeconds },
  );
}

/** Runs operations as a fresh customer, or as `userId`. */
function customer(offerSeconds = 600, userId: string = randomUUID()) {
  const services = servicesWith(offerSeconds);
  const viewer: Identity = { userId, role: 'CUSTOMER', sessionId: 'test' };
  const run = executorFor(server, () =>
    createContext(
      database.prisma,
      services.service,
      { viewer, clientAddress: undefined, requestId: undefined },
      services.door,
    ),
  );
  return { userId, run, services };
}
type Customer = ReturnType<typeof customer>;

beforeAll(async () => {
  database = await createTestDatabase(ticketsDatabase);
  await server.start();
});
afterAll(async () => {
  await server.stop();
  await database?.close();
});

/** A tier of a fresh event on sale. */
async function tierOnSale(capacity: number, { maxPerOrder = 10 } = {}) {
  const eventId = randomUUID();
  await database.prisma.eventSnapshot.create({
    data: { eventId, status: 'PUBLISHED', startsAt: new Date(Date.now() + 86_400_000), version: 1 },
  });
  const tier = await database.prisma.ticketTier.create({
    data: { eventId, name: 'Stalls', priceCents: 2500, currency: 'EUR', capacity, maxPerOrder },
  });
  return { eventId, tierId: tier.id };
}

const codeOf = (result: { errors?: readonly GraphQLFormattedError[] }) =>
  result.errors?.[0]?.extensions?.code;

async function buy(buyer: Customer, tierId: string, quantity = 1) {
  return buyer.run<{ purchaseTickets: { id: string; tickets: { id: string }[] } }>(
    /* GraphQL */ `
      mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id tickets { id } } }
    `,
    { input: { tierId, quantity, idempotencyKey: randomUUID() } },
  );
}

async function ticketsOf(buyer: Customer, tierId: string, quantity = 1): Promise<string[]> {
  const { data, errors } = await buy(buyer, tierId, quantity);
  expect(errors).toBeUndefined();
  return data?.purchaseTickets.tickets.map((ticket) => ticket.id) ?? [];
}

const cancel = (owner: Customer, id: string) =>
  owner.run(`mutation ($id: ID!) { cancelTicket(id: $id) { id } }`, { id });

const join = (buyer: Customer, tierId: string, quantity: unknown = 1) =>
  buyer.run<{ joinWaitlist: { status: string; quantity: number; waiting: number } }>(
    /* GraphQL */ `
      mutation ($tierId: ID!, $quantity: Int!) {
        joinWaitlist(tierId: $tierId, quantity: $quantity) { status quantity waiting }
      }
    `,
    { tierId, quantity },
  );

async function joined(buyer: Customer, tierId: string, quantity = 1) {
  const result = await join(buyer, tierId, quantity);
  expect(result.errors).toBeUndefined();
  expect(result.data?.joinWaitlist).toEqual({ status: 'WAITING', quantity, waiting: quantity });
}

interface MyEntry {
  status: string;
  place: number | null;
  waiting: number;
  tier: { id: string };
  offers: { id: string; quantity: number; expiresAt: string }[];
}

async function myWaitlist(buyer: Customer): Promise<MyEntry[]> {
  const { data, errors } = await buyer.run<{ myWaitlist: MyEntry[] }>(/* GraphQL */ `
    { myWaitlist { status place waiting tier { id } offers { id quantity expiresAt } } }
  `);
  expect(errors).toBeUndefined();
  return data?.myWaitlist ?? [];
}

/** Who holds the tier's open offers, with how many units each, in queue order. */
async function offersOn(tierId: string) {
  const holds = await database.prisma.hold.findMany({
    where: { tierId, status: 'ACTIVE', waitlistEntryId: { not: null } },
    orderBy: [{ waitlistEntry: { position: 'asc' } }, { id: 'asc' }],
  });
  return holds.map((hold) => ({ userId: hold.userId, quantity: hold.quantity }));
}

async function stockOf(tierId: string) {
  const { sold, held } = await database.prisma.ticketTier.findUniqueOrThrow({
    where: { id: tierId },
  });
  return { sold, held };
}

/** A sold-out tier of `capacity`, each unit bought by its own holder. */
async function soldOutTier(capacity: number) {
  const tier = await tierOnSale(capacity);
  const holders = Array.from({ length: capacity }, () => customer());
  const tickets = await Promise.all(
    holders.map(async (holder) => ({ holder, id: (await ticketsOf(holder, tier.tierId))[0] })),
  );
  return { ...tier, tickets: tickets as { holder: Customer; id: string }[] };
}

describe('joinWaitlist and cancellations', () => {
  it('offers exactly the 10 units that 10 concurrent cancellations return to 20 waiters, in queue order, and none to a stranger', async () => {
    const { tierId, tickets } = await soldOutTier(10);
    const waiters = Array.from({ length: 20 }, () => customer());
    for (const waiter of waiters) await joined(waiter, tierId);

    const strangers = Array.from({ length: 10 }, () => customer());
    const [cancellations, purchases] = await Promise.all([
      Promise.all(tickets.map(({ holder, id }) => cancel(holder, id))),
      Promise.all(strangers.map((stranger) => buy(stranger, tierId))),
    ]);

    expect(cancellations.map((result) => result.errors)).toEqual(tickets.map(() => undefined));
    expect(purchases.map(codeOf)).toEqual(strangers.map(() => 'SOLD_OUT'));
    expect(await stockOf(tierId)).toEqual({ sold: 0, held: 10 });
    expect(await offersOn(tierId)).toEqual(
      waiters.slice(0, 10).map((waiter) => ({ userId: waiter.userId, quantity: 1 })),
    );
    const [first] = await myWaitlist(waiters[0] as Customer);
    expect(first).toMatchObject({
      status: 'OFFERED',
      place: null,
      waiting: 0,
      tier: { id: tierId },
    });
    expect(first?.offers).toHaveLength(1);
    const [eleventh] = await myWaitlist(waiters[10] as Customer);
    expect(eleventh).toMatchObject({ status: 'WAITING', place: 1, waiting: 1, offers: [] });
    const [last] = await myWaitlist(waiters[19] as Customer);
    expect(last).toMatchObject({ status: 'WAITING', place: 10 });
  });

  it('lets a waiter buy their offer with purchaseTickets by holdId', async () => {
    const { tierId, tickets } = await soldOutTier(1);
    const waiter = customer();
    await joined(waiter, tierId);
    const [{ holder, id }] = tickets as [{ holder: Customer; id: string }];
    expect((await cancel(holder, id)).errors).toBeUndefined();
    const [entry] = await myWaitlist(waiter);
    const holdId = entry?.offers[0]?.id;
    const bought = await waiter.run<{ purchaseTickets: { tickets: { id: string }[] } }>(
      `mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { tickets { id } } }`,
      { input: { holdId, idempotencyKey: randomUUID() } },
    );
    expect(bought.errors).toBeUndefined();
    expect(bought.data?.purchaseTickets.tickets).toHaveLength(1);
    expect(await stockOf(tierId)).toEqual({ sold: 1, held: 0 });
    expect(await myWaitlist(waiter)).toMatchObject([{ status: 'OFFERED', offers: [] }]);
  });

  it('offers a raised capacity to the queue first', async () => {
    const { tierId } = await soldOutTier(2);
    const waiters = [customer(), customer(), customer()];
    for (const waiter of waiters) await joined(waiter, tierId);
    expect(
      await new TicketRepository(database.prisma).updateTier(tierId, { capacity: 4 }),
    ).not.toBeNull();
    expect(await offersOn(tierId)).toEqual(
      waiters.slice(0, 2).map((waiter) => ({ userId: waiter.userId, quantity: 1 })),
    );
    expect(await stockOf(tierId)).toEqual({ sold: 2, held: 2 });
  });

  it('offers the stock that came back while the sales were closed once they reopen, never to a stranger', async () => {
    const { tierId, tickets } = await soldOutTier(1);
    const waiter = customer();
    await joined(waiter, tierId);
    const tiers = new TicketRepository(database.prisma);
    // The organizer closes the sales; a ticket is cancelled meanwhile: nothing is offered
    // outside the window, and the queue waits on.
    const closed = await tiers.updateTier(tierId, { salesEndAt: new Date(Date.now() - 1000) });
    expect(closed.status).toBe('updated');
    const [{ holder, id }] = tickets as [{ holder: Customer; id: string }];
    expect((await cancel(holder, id)).errors).toBeUndefined();
    expect(await stockOf(tierId)).toEqual({ sold: 0, held: 0 });
    // The sales reopen: the queue is served before anyone else can buy.
    const reopened = await tiers.updateTier(tierId, {
      salesEndAt: new Date(Date.now() + 86_400_000),
    });
    expect(reopened.status).toBe('updated');
    expect(await offersOn(tierId)).toEqual([{ userId: waiter.userId, quantity: 1 }]);
    expect(codeOf(await buy(customer(), tierId))).toBe('SOLD_OUT');
    expect(await stockOf(tierId)).toEqual({ sold: 0, held: 1 });
  });
});

describe('refunds', () => {
  it('offer the stock a refund returns to the queue first, never to a stranger buying at the same moment', async () => {
    const { eventId, tierId } = await tierOnSale(2);
    // Outside the buyer's refund cutoff (48 hours before the start).
    await database.prisma.eventSnapshot.update({
      where: { eventId },
      data: { startsAt: new Date(Date.now() + 10 * 86_400_000) },
    });
    const buyer = customer();
    const bought = await buy(buyer, tierId, 2);
    expect(bought.errors).toBeUndefined();
    const waiters = [customer(), customer()];
    for (const waiter of waiters) await joined(waiter, tierId);

    const stranger = customer();
    const [refund, purchase] = await Promise.all([
      buyer.run<{ refundOrder: { status: string; refundedCents: number } }>(
        `mutation ($id: ID!) { refundOrder(orderId: $id) { status refundedCents } }`,
        { id: bought.data?.purchaseTickets.id },
      ),
      buy(stranger, tierId),
    ]);
    expect(refund.errors).toBeUndefined();
    expect(refund.data?.refundOrder).toEqual({ status: 'REFUNDED', refundedCents: 5000 });
    expect(codeOf(purchase)).toBe('SOLD_OUT');
    expect(await offersOn(tierId)).toEqual(
      waiters.map((waiter) => ({ userId: waiter.userId, quantity: 1 })),
    );
    expect(await stockOf(tierId)).toEqual({ sold: 0, held: 2 });
  });
});

describe('offers not taken', () => {
  it('pass to the next in line when they expire, before any purchase can take the stock', async () => {
    const { tierId, tickets } = await soldOutTier(1);
    const [first, second] = [customer(1), customer(1)];
    await joined(first, tierId);
    await joined(second, tierId);
    const [{ holder, id }] = tickets as [{ holder: Customer; id: string }];
    await cancel(holder, id);
    expect(await offersOn(tierId)).toEqual([{ userId: first.userId, quantity: 1 }]);

    await new Promise((resolve) => setTimeout(resolve, 1_100));
    // A stranger's purchase returns the lapsed offer on its way, and finds it offered on.
    expect(codeOf(await buy(customer(), tierId))).toBe('SOLD_OUT');
    expect(await offersOn(tierId)).toEqual([{ userId: second.userId, quantity: 1 }]);
    expect(await myWaitlist(first)).toMatchObject([{ status: 'EXPIRED', offers: [] }]);

    await new Promise((resolve) => setTimeout(resolve, 1_100));
    // The sweeper's pass: nobody is left in line, so the stock is free again.
    expect(await second.services.service.purchases.expireHolds()).toBe(true);
    expect(await offersOn(tierId)).toEqual([]);
    expect(await stockOf(tierId)).toEqual({ sold: 0, held: 0 });
    expect((await buy(customer(), tierId)).errors).toBeUndefined();
  });

  it('pass to the next in line when released', async () => {
    const { tierId, tickets } = await soldOutTier(1);
    const [first, second] = [customer(), customer()];
    await joined(first, tierId);
    await joined(second, tierId);
    const [{ holder, id }] = tickets as [{ holder: Customer; id: string }];
    await cancel(holder, id);
    const [entry] = await myWaitlist(first);
    const released = await first.run(`mutation ($id: ID!) { releaseHold(id: $id) { id } }`, {
      id: entry?.offers[0]?.id,
    });
    expect(released.errors).toBeUndefined();
    expect(await offersOn(tierId)).toEqual([{ userId: second.userId, quantity: 1 }]);
    expect(await myWaitlist(first)).toMatchObject([{ status: 'EXPIRED' }]);
  });
});

describe('the per-person cap', () => {
  it('trims an offer to the room a waiter has left, and passes them over once they have none', async () => {
    const { eventId, tierId, tickets } = await soldOutTier(3);
    const other = await database.prisma.ticketTier.create({
      data: { eventId, name: 'Balcony', priceCents: 1000, currency: 'EUR', capacity: 10 },
    });
    const [trimmed, next] = [customer(), customer()];
    await joined(trimmed, tierId, 2);
    await joined(next, tierId);
    // Three of the four tickets allowed, so only one unit fits.
    await ticketsOf(trimmed, other.id, 3);
    const [firstReturn, ...laterReturns] = tickets;
    await cancel(firstReturn?.holder as Customer, firstReturn?.id as string);
    expect(await offersOn(tierId)).toEqual([{ userId: trimmed.userId, quantity: 1 }]);
    expect(await myWaitlist(trimmed)).toMatchObject([{ status: 'WAITING', waiting: 1, place: 1 }]);

    await Promise.all(laterReturns.map(({ holder, id }) => cancel(holder, id)));
    expect(await offersOn(tierId)).toEqual([
      { userId: trimmed.userId, quantity: 1 },
      { userId: next.userId, quantity: 1 },
    ]);
    // Their offer stays theirs; the rest of their request is passed over.
    const [entry] = await myWaitlist(trimmed);
    expect(entry).toMatchObject({ status: 'SKIPPED', waiting: 0, place: null });
    expect(entry?.offers).toHaveLength(1);
    // The queue is empty, so the third unit is free for anyone.
    expect(await stockOf(tierId)).toEqual({ sold: 0, held: 2 });
    // The offer took its share of the allowance, as a hold does: the cap is full.
    expect(codeOf(await buy(trimmed, other.id))).toBe('PURCHASE_LIMIT_REACHED');
    expect((await buy(customer(), tierId)).errors).toBeUndefined();
  });

  it('passes over a waiter with no room left, for good', async () => {
    const { eventId, tierId, tickets } = await soldOutTier(1);
    const other = await database.prisma.ticketTier.create({
      data: { eventId, name: 'Balcony', priceCents: 1000, currency: 'EUR', capacity: 10 },
    });
    const [full, next] = [customer(), customer()];
    await joined(full, tierId);
    await joined(next, tierId);
    await ticketsOf(full, other.id, perUserCap);
    const [{ holder, id }] = tickets as [{ holder: Customer; id: string }];
    await cancel(holder, id);
    expect(await offersOn(tierId)).toEqual([{ userId: next.userId, quantity: 1 }]);
    expect(await myWaitlist(full)).toMatchObject([{ status: 'SKIPPED', place: null }]);
  });

  it('refuses to queue more than the cap leaves', async () => {
    const { eventId, tierId } = await soldOutTier(1);
    const other = await database.prisma.ticketTier.create({
      data: { eventId, name: 'Balcony', priceCents: 1000, currency: 'EUR', capacity: 10 },
    });
    const buyer = customer();
    await ticketsOf(buyer, other.id, perUserCap - 1);
    const refused = await join(buyer, tierId, 2);
    expect(codeOf(refused)).toBe('PURCHASE_LIMIT_REACHED');
    expect(refused.errors?.[0]?.extensions?.field).toBe('quantity');
    expect(await myWaitlist(buyer)).toEqual([]);
  });
});

describe('the tier’s limit per order', () => {
  it('bounds every offer as it is when the offer is made, lowered while buyers waited; each is bought as an order', async () => {
    const { tierId } = await soldOutTier(3);
    const [waiter, next] = [customer(), customer()];
    await joined(waiter, tierId, 3);
    await joined(next, tierId);
    // The organizer lowers the limit to one an order while the queue waits, then adds three
    // seats, which come back at once.
    const tiers = new TicketRepository(database.prisma);
    expect((await tiers.updateTier(tierId, { maxPerOrder: 1 })).status).toBe('updated');
    expect((await tiers.updateTier(tierId, { capacity: 6 })).status).toBe('updated');

    // The waiter is offered the three units they queued for, in holds within the limit.
    const offers = await offersOn(tierId);
    expect(offers).toEqual(offers.map(() => ({ userId: waiter.userId, quantity: 1 })));
    expect(offers).toHaveLength(3);
    const [entry] = await myWaitlist(waiter);
    expect(entry).toMatchObject({ status: 'OFFERED', waiting: 0 });
    expect(await myWaitlist(next)).toMatchObject([{ status: 'WAITING', place: 1 }]);
    for (const offer of entry?.offers ?? []) {
      const bought = await waiter.run<{ purchaseTickets: { tickets: { id: string }[] } }>(
        `mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { tickets { id } } }`,
        { input: { holdId: offer.id, idempotencyKey: randomUUID() } },
      );
      expect(bought.errors).toBeUndefined();
      expect(bought.data?.purchaseTickets.tickets).toHaveLength(1);
    }
    expect(await stockOf(tierId)).toEqual({ sold: 6, held: 0 });
  });

  it('counts one entry’s offers as one hold toward MAX_ACTIVE_HOLDS: the waiter may still hold seats elsewhere', async () => {
    const { tierId } = await soldOutTier(3);
    const waiter = customer();
    await joined(waiter, tierId, 3);
    const tiers = new TicketRepository(database.prisma);
    expect((await tiers.updateTier(tierId, { maxPerOrder: 1 })).status).toBe('updated');
    expect((await tiers.updateTier(tierId, { capacity: 6 })).status).toBe('updated');
    expect(await offersOn(tierId)).toHaveLength(3);
    const elsewhere = await tierOnSale(10);
    const hold = () =>
      waiter.run(`mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }`, {
        tierId: elsewhere.tierId,
      });
    // Three holds in all (MAX_ACTIVE_HOLDS here): the entry's offers, and two of the waiter's own.
    expect((await hold()).errors).toBeUndefined();
    expect((await hold()).errors).toBeUndefined();
    expect(codeOf(await hold())).toBe('TOO_MANY_HOLDS');
  });
});

/** Cancels `ticket`, whose stock goes to `waiter`'s offer, and buys that offer. */
async function buyOffer(waiter: Customer, ticket: { holder: Customer; id: string }) {
  expect((await cancel(ticket.holder, ticket.id)).errors).toBeUndefined();
  const [entry] = await myWaitlist(waiter);
  const bought = await waiter.run(
    `mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id } }`,
    { input: { holdId: entry?.offers[0]?.id, idempotencyKey: randomUUID() } },
  );
  expect(bought.errors).toBeUndefined();
}

/**
 * The previous release's join statement (WaitlistRepository.join), as its pods send it: they
 * keep serving on this release's schema during the rollout, so the partial unique index its
 * ON CONFLICT clause infers must still be there. Returns the entry, or none when refused.
 */
function previousReleaseJoin(tierId: string, eventId: string, userId: string, quantity = 1) {
  return database.prisma.$queryRawUnsafe<{ status: string; place: number }[]>(
    `
        INSERT INTO waitlist_entries AS e
          (id, tier_id, event_id, user_id, quantity, waiting, per_user_cap, offer_seconds, updated_at)
        VALUES (uuid_v7(), $1::uuid, $2::uuid, $3::uuid, $4,
                $5, $6, $7, now())
        ON CONFLICT (tier_id, user_id) WHERE status IN ('WAITING', 'OFFERED') DO NOTHING
        RETURNING
  e.id::text, e.position, e.tier_id::text AS "tierId", e.event_id::text AS "eventId",
  e.user_id::text AS "userId", e.quantity, e.waiting, e.status::text,
  e.per_user_cap AS "perUserCap", e.offer_seconds AS "offerSeconds",
  e.created_at AS "createdAt", e.updated_at AS "updatedAt", (
  SELECT count(*)::int + 1 FROM waitlist_entries w
  WHERE w.tier_id = e.tier_id AND w.status = 'WAITING' AND w.position < e.position) AS place`,
    tierId,
    eventId,
    userId,
    quantity,
    quantity,
    perUserCap,
    600,
  );
}

describe('a buyer’s waitlists', () => {
  it('are at most MAX_WAITLIST_ENTRIES at once, however many are joined at once; one left makes room', async () => {
    const tiers = await Promise.all(
      Array.from({ length: maxWaitlistEntries + 3 }, () => tierOnSale(0)),
    );
    const buyer = customer();
    const outcomes = await Promise.all(tiers.map(({ tierId }) => join(buyer, tierId)));
    expect(outcomes.filter((outcome) => outcome.errors === undefined)).toHaveLength(
      maxWaitlistEntries,
    );
    expect(
      outcomes.flatMap((outcome) => outcome.errors ?? []).map((error) => error.extensions),
    ).toEqual(
      Array.from({ length: 3 }, () => ({
        code: 'TOO_MANY_WAITLIST_ENTRIES',
        field: 'tierId',
        maxWaitlistEntries,
      })),
    );
    const waitingFor = (await myWaitlist(buyer)).map((entry) => entry.tier.id);
    expect(waitingFor).toHaveLength(maxWaitlistEntries);

    const left = await buyer.run(
      `mutation ($tierId: ID!) { leaveWaitlist(tierId: $tierId) { status } }`,
      { tierId: waitingFor[0] },
    );
    expect(left.errors).toBeUndefined();
    const others = tiers.filter(({ tierId }) => !waitingFor.includes(tierId));
    await joined(buyer, others[0]?.tierId as string);
    expect(codeOf(await join(buyer, others[1]?.tierId as string))).toBe(
      'TOO_MANY_WAITLIST_ENTRIES',
    );
  });

  it('count an entry whose offers were all bought no more', async () => {
    const served = await soldOutTier(1);
    const buyer = customer();
    await joined(buyer, served.tierId);
    await buyOffer(buyer, served.tickets[0] as { holder: Customer; id: string });
    for (let i = 0; i < maxWaitlistEntries; i++) await joined(buyer, (await tierOnSale(0)).tierId);
  });

  it('count no entry of an event that is over: it will never be offered anything', async () => {
    const buyer = customer();
    const past: string[] = [];
    for (let i = 0; i < maxWaitlistEntries; i++) {
      const tier = await tierOnSale(0);
      await joined(buyer, tier.tierId);
      past.push(tier.eventId);
    }
    expect(codeOf(await join(buyer, (await tierOnSale(0)).tierId))).toBe(
      'TOO_MANY_WAITLIST_ENTRIES',
    );
    // The events take place, one without an end: none of these waits can come to anything.
    const hour = 3_600_000;
    await database.prisma.eventSnapshot.updateMany({
      where: { eventId: { in: past.slice(1) } },
      data: { startsAt: new Date(Date.now() - 2 * hour), endsAt: new Date(Date.now() - hour) },
    });
    await database.prisma.eventSnapshot.updateMany({
      where: { eventId: past[0] },
      data: { startsAt: new Date(Date.now() - hour) },
    });
    for (let i = 0; i < maxWaitlistEntries; i++) await joined(buyer, (await tierOnSale(0)).tierId);
    expect(codeOf(await join(buyer, (await tierOnSale(0)).tierId))).toBe(
      'TOO_MANY_WAITLIST_ENTRIES',
    );
  });

  it('count an entry of an event under way, which can still be postponed and sell again', async () => {
    const buyer = customer();
    for (let i = 0; i < maxWaitlistEntries; i++) {
      const tier = await tierOnSale(0);
      await joined(buyer, tier.tierId);
      await database.prisma.eventSnapshot.update({
        where: { eventId: tier.eventId },
        data: { startsAt: new Date(Date.now() - 60_000), endsAt: new Date(Date.now() + 60_000) },
      });
    }
    expect(codeOf(await join(buyer, (await tierOnSale(0)).tierId))).toBe(
      'TOO_MANY_WAITLIST_ENTRIES',
    );
  });
});

describe('bad input changes nothing', () => {
  it.each([
    ['zero', 0],
    ['negative', -3],
    ['huge', 2_147_483_647],
  ])('refuses a %s quantity, naming the field', async (_, quantity) => {
    const { tierId } = await soldOutTier(1);
    const buyer = customer();
    const refused = await join(buyer, tierId, quantity);
    expect(codeOf(refused)).toBe('BAD_USER_INPUT');
    expect(refused.errors?.[0]?.extensions?.field).toBe('quantity');
    expect(JSON.stringify(refused.errors)).not.toMatch(/stacktrace|prisma|at .*\.ts/i);
    expect(await myWaitlist(buyer)).toEqual([]);
  });

  it('refuses an unknown tier, and a malformed id', async () => {
    const buyer = customer();
    expect(codeOf(await join(buyer, randomUUID()))).toBe('NOT_FOUND');
    expect(codeOf(await join(buyer, 'not-an-id'))).toBe('NOT_FOUND');
    expect(await myWaitlist(buyer)).toEqual([]);
  });

  it('refuses joining twice', async () => {
    const { tierId } = await soldOutTier(1);
    const buyer = customer();
    await joined(buyer, tierId);
    const again = await Promise.all([join(buyer, tierId), join(buyer, tierId, 2)]);
    expect(again.map(codeOf)).toEqual(['ALREADY_ON_WAITLIST', 'ALREADY_ON_WAITLIST']);
    expect(await myWaitlist(buyer)).toMatchObject([{ status: 'WAITING', waiting: 1 }]);
  });

  it('lets a buyer who bought their offer queue again, and still refuses one with an offer open', async () => {
    const { tierId, tickets } = await soldOutTier(2);
    const waiter = customer();
    await joined(waiter, tierId);
    const [first, second] = tickets as { holder: Customer; id: string }[];
    expect((await cancel(first?.holder as Customer, first?.id as string)).errors).toBeUndefined();
    const [entry] = await myWaitlist(waiter);
    const bought = await waiter.run(
      `mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id } }`,
      { input: { holdId: entry?.offers[0]?.id, idempotencyKey: randomUUID() } },
    );
    expect(bought.errors).toBeUndefined();
    // Served and sold out again: they may wait for more, as anyone who bought may.
    await joined(waiter, tierId);
    expect(codeOf(await join(waiter, tierId))).toBe('ALREADY_ON_WAITLIST');
    expect((await myWaitlist(waiter)).map(({ status, place }) => ({ status, place }))).toEqual([
      { status: 'WAITING', place: 1 },
      { status: 'OFFERED', place: null },
    ]);
    // Their new place is served, and while that offer is open they cannot queue again.
    expect((await cancel(second?.holder as Customer, second?.id as string)).errors).toBeUndefined();
    expect(await offersOn(tierId)).toEqual([{ userId: waiter.userId, quantity: 1 }]);
    expect(codeOf(await join(waiter, tierId))).toBe('ALREADY_ON_WAITLIST');
  });

  it('keeps the previous release’s join working on this schema while it rolls out', async () => {
    const { eventId, tierId, tickets } = await soldOutTier(1);
    const waiter = customer();
    const previous = (userId: string) => previousReleaseJoin(tierId, eventId, userId);
    // An old pod queues a buyer, and refuses them a second time, as before.
    expect(await previous(waiter.userId)).toMatchObject([{ status: 'WAITING', place: 1 }]);
    expect(await previous(waiter.userId)).toEqual([]);
    expect(codeOf(await join(waiter, tierId))).toBe('ALREADY_ON_WAITLIST');
    // Served: an old pod still refuses them (as before); this release queues them again.
    await buyOffer(waiter, tickets[0] as { holder: Customer; id: string });
    expect(await previous(waiter.userId)).toEqual([]);
    await joined(waiter, tierId);
    // Queued again by this release: an old pod refuses a second join, and queues others.
    expect(await previous(waiter.userId)).toEqual([]);
    expect(await previous(customer().userId)).toMatchObject([{ status: 'WAITING', place: 2 }]);
    expect((await myWaitlist(waiter)).map(({ status, place }) => ({ status, place }))).toEqual([
      { status: 'WAITING', place: 1 },
      { status: 'OFFERED', place: null },
    ]);
  });

  it('lets only one of two concurrent first joins through', async () => {
    const { tierId } = await soldOutTier(1);
    const buyer = customer();
    const outcomes = await Promise.all([join(buyer, tierId), join(buyer, tierId)]);
    expect(outcomes.map(codeOf).sort()).toEqual(['ALREADY_ON_WAITLIST', undefined]);
  });

  it('refuses a tier that can still be bought', async () => {
    const { tierId } = await tierOnSale(5);
    const buyer = customer();
    const refused = await join(buyer, tierId);
    expect(codeOf(refused)).toBe('TIER_NOT_SOLD_OUT');
    expect(refused.errors?.[0]?.extensions?.available).toBe(5);
    expect(await myWaitlist(buyer)).toEqual([]);
  });

  it('refuses more than the tier sells in one order', async () => {
    const { tierId } = await tierOnSale(0, { maxPerOrder: 2 });
    expect(codeOf(await join(customer(), tierId, 3))).toBe('ORDER_LIMIT_EXCEEDED');
  });

  it('refuses an anonymous caller', async () => {
    const { tierId } = await soldOutTier(1);
    const services = servicesWith(600);
    const anonymous = executorFor(server, () =>
      createContext(
        database.prisma,
        services.service,
        { viewer: null, clientAddress: undefined, requestId: undefined },
        services.door,
      ),
    );
    const refused = await anonymous(
      `mutation ($tierId: ID!) { joinWaitlist(tierId: $tierId, quantity: 1) { status } }`,
      { tierId },
    );
    expect(codeOf(refused)).toBe('UNAUTHENTICATED');
  });
});

describe('leaveWaitlist', () => {
  it('ends your place, and the next in line moves up', async () => {
    const { tierId } = await soldOutTier(1);
    const [leaving, staying] = [customer(), customer()];
    await joined(leaving, tierId);
    await joined(staying, tierId);
    const left = await leaving.run<{ leaveWaitlist: { status: string } }>(
      `mutation ($tierId: ID!) { leaveWaitlist(tierId: $tierId) { status } }`,
      { tierId },
    );
    expect(left.data?.leaveWaitlist).toEqual({ status: 'LEFT' });
    expect(await myWaitlist(staying)).toMatchObject([{ status: 'WAITING', place: 1 }]);
    const again = await leaving.run(
      `mutation ($tierId: ID!) { leaveWaitlist(tierId: $tierId) { status } }`,
      { tierId },
    );
    expect(codeOf(again)).toBe('NOT_ON_WAITLIST');
  });
});

describe('leaving with an offer open', () => {
  it('answers with the offer, which stays yours, as myWaitlist shows it', async () => {
    const { tierId, tickets } = await soldOutTier(2);
    const waiter = customer();
    await joined(waiter, tierId, 2);
    const [returned] = tickets;
    expect(codeOf(await cancel(returned?.holder as Customer, returned?.id as string))).toBe(
      undefined,
    );
    const [offer] = (await myWaitlist(waiter))[0]?.offers ?? [];
    expect(offer?.quantity).toBe(1);

    const left = await waiter.run<{ leaveWaitlist: Omit<MyEntry, 'tier'> }>(
      /* GraphQL */ `
        mutation ($tierId: ID!) {
          leaveWaitlist(tierId: $tierId) { status place waiting offers { id quantity expiresAt } }
        }
      `,
      { tierId },
    );

    expect(left.errors).toBeUndefined();
    expect(left.data?.leaveWaitlist).toEqual({
      status: 'LEFT',
      place: null,
      waiting: 0,
      offers: [offer],
    });
    expect(await myWaitlist(waiter)).toEqual([
      { status: 'LEFT', place: null, waiting: 0, tier: { id: tierId }, offers: [offer] },
    ]);
  });
});

describe('an event postponed while it was under way', () => {
  it('offers the stock that came back meanwhile to its queue once it is on sale again, never to a stranger', async () => {
    const { eventId, tierId, tickets } = await soldOutTier(1);
    const waiter = customer();
    await joined(waiter, tierId);
    const snapshots = new EventSnapshotRepository(database.prisma);
    // The event starts (its end still ahead): nothing is on sale, and a ticket cancelled
    // then is offered to nobody.
    await snapshots.apply([
      {
        eventId,
        status: 'PUBLISHED',
        startsAt: new Date(Date.now() - 60_000),
        endsAt: new Date(Date.now() + 3_600_000),
        version: 2,
      },
    ]);
    const [{ holder, id }] = tickets as [{ holder: Customer; id: string }];
    expect((await cancel(holder, id)).errors).toBeUndefined();
    expect(await stockOf(tierId)).toEqual({ sold: 0, held: 0 });
    // The organizer moves it to next week: on sale again, the queue is served first.
    await snapshots.apply([
      {
        eventId,
        status: 'PUBLISHED',
        startsAt: new Date(Date.now() + 7 * 86_400_000),
        endsAt: null,
        version: 3,
      },
    ]);
    expect(await offersOn(tierId)).toEqual([{ userId: waiter.userId, quantity: 1 }]);
    expect(codeOf(await buy(customer(), tierId))).toBe('SOLD_OUT');
    expect(await stockOf(tierId)).toEqual({ sold: 0, held: 1 });
  });
});

/** Delivers the event's cancellation, as the events service's change would. */
function cancelEvent(eventId: string) {
  return new EventSnapshotRepository(database.prisma).apply([
    {
      eventId,
      status: 'CANCELLED',
      startsAt: new Date(Date.now() + 86_400_000),
      endsAt: null,
      version: 2,
    },
  ]);
}

describe('an event’s cancellation', () => {
  it('cancels its waitlist and withdraws its offers; nothing is offered afterwards', async () => {
    const { eventId, tierId, tickets } = await soldOutTier(2);
    const [offered, waiting] = [customer(), customer(), customer()];
    await joined(offered as Customer, tierId);
    await joined(waiting as Customer, tierId);
    const [{ holder, id }] = tickets as [{ holder: Customer; id: string }];
    await cancel(holder, id);
    expect(await offersOn(tierId)).toHaveLength(1);

    await cancelEvent(eventId);
    expect(await offersOn(tierId)).toEqual([]);
    expect(await myWaitlist(offered as Customer)).toMatchObject([{ status: 'CANCELLED' }]);
    expect(await myWaitlist(waiting as Customer)).toMatchObject([{ status: 'CANCELLED' }]);
    expect(await stockOf(tierId)).toEqual({ sold: 0, held: 0 });
    expect(codeOf(await join(customer(), tierId))).toBe('SALES_CLOSED');
  });

  it('cancels a served entry that its buyer queued again after, as it cancels an open one', async () => {
    const { eventId, tierId, tickets } = await soldOutTier(1);
    const waiter = customer();
    await joined(waiter, tierId);
    await buyOffer(waiter, tickets[0] as { holder: Customer; id: string });
    await joined(waiter, tierId);
    await cancelEvent(eventId);
    expect((await myWaitlist(waiter)).map(({ status }) => status)).toEqual([
      'CANCELLED',
      'CANCELLED',
    ]);
  });
});

/** Returns once a statement of this test's database waits for a lock (within 10 s). */
async function untilOneWaitsForALock(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [{ waiting }] = await database.prisma.$queryRaw<[{ waiting: number }]>`
      SELECT count(*)::int AS waiting FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock'`;
    if (waiting > 0) return;
    if (Date.now() > deadline) throw new Error('no statement came to wait for the allowance');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Runs `other` while the waiter's own transaction, as a purchase of the tier would be, holds
 * their allowance row and then takes the tier's row: `other` locks the tier, then wants the
 * allowance to make its offer, so PostgreSQL rolls one of the two back.
 */
async function inLockCycleWithWaiter<T>(
  { eventId, tierId }: { eventId: string; tierId: string },
  waiter: Customer,
  other: () => Promise<T>,
): Promise<[string, T | undefined]> {
  let running: Promise<T> | undefined;
  const waiterSide = database.prisma
    .$transaction(async (tx) => {
      await tx.$executeRaw`
        UPDATE event_allowances SET tickets = tickets
        WHERE event_id = ${eventId}::uuid AND user_id = ${waiter.userId}::uuid`;
      running = other();
      // Only once `other` holds the tier and waits for the allowance does this side's
      // update of the tier close the cycle; earlier, `other` would simply wait its turn.
      await untilOneWaitsForALock();
      await tx.$executeRaw`UPDATE ticket_tiers SET updated_at = now() WHERE id = ${tierId}::uuid`;
    })
    .then(
      () => 'committed',
      () => 'failed',
    );
  return [await waiterSide, await running];
}

/**
 * A sold-out tier of 2 (one unit sold, one held by `holder`), a waiter queued for it who
 * has an allowance row (a ticket of another tier), and `lapse`, which makes the hold expire
 * without the sweeper returning it: whoever returns it on their way offers it to the waiter.
 */
async function queueBehindAHold(holder: Customer) {
  const { eventId, tierId } = await tierOnSale(2);
  const other = await database.prisma.ticketTier.create({
    data: { eventId, name: 'Balcony', priceCents: 1000, currency: 'EUR', capacity: 10 },
  });
  const held = await holder.run<{ holdTickets: { id: string } }>(
    `mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }`,
    { tierId },
  );
  expect(held.errors).toBeUndefined();
  await ticketsOf(customer(), tierId);
  const waiter = customer();
  await ticketsOf(waiter, other.id);
  await joined(waiter, tierId);
  const lapse = () =>
    database.prisma.hold.update({
      where: { id: held.data?.holdTickets.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
  return { eventId, tierId, otherTierId: other.id, waiter, lapse };
}

describe('a lock cycle with a waiter’s own transaction', () => {
  it('rolls one side back, runs the cancellation again if it was that side, and offers once', async () => {
    const { eventId, tierId, tickets } = await soldOutTier(1);
    const other = await database.prisma.ticketTier.create({
      data: { eventId, name: 'Balcony', priceCents: 1000, currency: 'EUR', capacity: 10 },
    });
    const waiter = customer();
    await ticketsOf(waiter, other.id);
    await joined(waiter, tierId);
    const [{ holder, id }] = tickets as [{ holder: Customer; id: string }];

    const [waiterOutcome, cancelled] = await inLockCycleWithWaiter(
      { eventId, tierId },
      waiter,
      () => cancel(holder, id),
    );

    // PostgreSQL rolls one side back. When that is the cancellation, it runs again once the
    // waiter's transaction has committed: either way the cancellation succeeds, and its offer
    // is made exactly once.
    expect(cancelled?.errors).toBeUndefined();
    expect(['committed', 'failed']).toContain(waiterOutcome);
    const ticket = await database.prisma.ticket.findUniqueOrThrow({ where: { id } });
    expect(ticket.status).toBe('CANCELLED');
    expect(await stockOf(tierId)).toEqual({ sold: 0, held: 1 });
    expect(await offersOn(tierId)).toEqual([{ userId: waiter.userId, quantity: 1 }]);
  });

  it('rolls one side back, and runs a transfer again if it was that side: it happens, and offers once', async () => {
    // The receiver, at the per-person cap, holds the lapsed unit: the transfer returns it on
    // its way, which offers it to the tier's queue (the tier's row, then the waiter's allowance).
    const receiver = customer();
    const queue = await queueBehindAHold(receiver);
    await ticketsOf(receiver, queue.otherTierId, perUserCap - 1);
    await queue.lapse();
    const giver = customer();
    const [given] = await ticketsOf(giver, queue.otherTierId);

    const transfers = new TransferRepository(database.prisma);
    const offered = await transfers.offer({
      ticketId: given as string,
      fromUserId: giver.userId,
      toUserId: receiver.userId,
      hours: 72,
    });
    if (offered.status !== 'offered') throw new Error(`no offer: ${offered.status}`);

    const [waiterOutcome, transferred] = await inLockCycleWithWaiter(queue, queue.waiter, () =>
      transfers.accept({ offerId: offered.offer.id, toUserId: receiver.userId, perUserCap }),
    );

    expect(['committed', 'failed']).toContain(waiterOutcome);
    expect(transferred?.status).toBe('transferred');
    const ticket = await database.prisma.ticket.findUniqueOrThrow({ where: { id: given } });
    expect(ticket.ownerId).toBe(receiver.userId);
    expect(await stockOf(queue.tierId)).toEqual({ sold: 1, held: 1 });
    expect(await offersOn(queue.tierId)).toEqual([{ userId: queue.waiter.userId, quantity: 1 }]);
  });

  it('rolls one side back, and runs a join again if it was that side: it queues, and offers once', async () => {
    // Joining returns the lapsed unit on its way, which offers it to the waiter ahead.
    const queue = await queueBehindAHold(customer());
    await queue.lapse();
    const joiner = customer();

    const [waiterOutcome, joinedNow] = await inLockCycleWithWaiter(queue, queue.waiter, () =>
      join(joiner, queue.tierId),
    );

    expect(['committed', 'failed']).toContain(waiterOutcome);
    expect(joinedNow?.errors).toBeUndefined();
    expect(joinedNow?.data?.joinWaitlist).toEqual({ status: 'WAITING', quantity: 1, waiting: 1 });
    expect(await stockOf(queue.tierId)).toEqual({ sold: 1, held: 1 });
    expect(await offersOn(queue.tierId)).toEqual([{ userId: queue.waiter.userId, quantity: 1 }]);
  });
});
