// Tickets through the gateway: who manages tiers, what bad input gets, holds that expire by
// themselves, cancellation that restocks once, and batched ticket listings.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseMutation } from '../documents.ts';
import { type Statement, type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  codeOf,
  logIn,
  publishedEvent as publishedEventAs,
  signUp,
} from './operations.ts';

const adminEmail = 'tickets-admin@example.com';
const adminPassword = 'the tickets admin password';
let supergraph: Supergraph;
let organizer: AuthPayload;
let otherOrganizer: AuthPayload;
let buyer: AuthPayload;
let otherBuyer: AuthPayload;
let admin: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph({
    env: {
      BOOTSTRAP_ADMIN_EMAIL: adminEmail,
      BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
      // Holds keep their default life (10 minutes), so that no test's hold runs out between
      // its requests however slow the machine; a test that needs one expired ends it itself
      // (expireHold). The sweeper runs often, so that it returns an ended hold's stock soon.
      HOLD_SWEEP_INTERVAL_MS: '200',
    },
  });
  [organizer, otherOrganizer, buyer, otherBuyer] = await Promise.all([
    signUp(supergraph, { accountType: 'ORGANIZER', name: 'Olga Organizer' }),
    signUp(supergraph, { accountType: 'ORGANIZER' }),
    signUp(supergraph),
    signUp(supergraph),
  ]);
  admin = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn as AuthPayload;
});
afterAll(async () => {
  await supergraph?.stop();
});

const tierInput = {
  name: 'General',
  priceCents: 2500,
  currency: 'eur',
  capacity: 5,
  maxPerOrder: 4,
};

const publishedEvent = (title = 'Concert') =>
  publishedEventAs(supergraph, organizer.accessToken, title);

const createTier = (eventId: string, token: string, input: Record<string, unknown> = tierInput) =>
  supergraph.request<{ createTicketTier: { id: string; currency: string; available: number } }>(
    'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id currency available } }',
    { eventId, input },
    { token },
  );

async function tierOnSale(input: Record<string, unknown> = tierInput): Promise<string> {
  const result = await createTier(await publishedEvent(), organizer.accessToken, input);
  return result.data?.createTicketTier.id as string;
}

const purchase = (token: string, input: Record<string, unknown>) =>
  supergraph.request<{
    purchaseTickets: { id: string; totalCents: number; tickets: { id: string }[] };
  }>(purchaseMutation, { input }, { token });

const stock = (id: string) =>
  supergraph.databases.tickets.ticketTier.findUniqueOrThrow({ where: { id } });
/** Ends a hold now, on the database's clock (the sweeper's), as its life running out would. */
const expireHold = (id: string) =>
  supergraph.databases.tickets.$executeRaw`
    UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = ${id}::uuid`;
const updateTier = (id: string, input: Record<string, unknown>) =>
  supergraph.request<{ updateTicketTier: { id: string } }>(
    'mutation ($id: ID!, $input: UpdateTicketTierInput!) { updateTicketTier(id: $id, input: $input) { id } }',
    { id, input },
    { token: organizer.accessToken },
  );

/**
 * Two updates of one tier, both past the service's own check and at the database together:
 * the tier's row is locked until both wait for it, so that each has read the row as it was.
 */
async function racingUpdates(
  tierId: string,
  first: Record<string, unknown>,
  second: Record<string, unknown>,
) {
  const tickets = supergraph.databases.tickets;
  const { updates } = await tickets.$transaction(
    async (tx) => {
      await tx.$queryRaw`SELECT 1 FROM ticket_tiers WHERE id = ${tierId}::uuid FOR UPDATE`;
      const updates = Promise.all([updateTier(tierId, first), updateTier(tierId, second)]);
      const deadline = Date.now() + 10_000;
      for (;;) {
        const [{ waiting }] = await tickets.$queryRaw<[{ waiting: number }]>`
          SELECT count(*)::int AS waiting FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`;
        if (waiting === 2) break;
        if (Date.now() > deadline) throw new Error(`${waiting} of 2 updates wait for the tier`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return { updates };
    },
    { timeout: 15_000 },
  );
  return updates;
}

describe('ticket tiers', () => {
  it('are created by the event’s organizer or an admin, and nobody else', async () => {
    const eventId = await publishedEvent();
    const mine = await createTier(eventId, organizer.accessToken);
    expect(mine.data?.createTicketTier).toMatchObject({ currency: 'EUR', available: 5 });
    expect((await createTier(eventId, admin.accessToken)).errors).toBeUndefined();
    const before = await supergraph.databases.tickets.ticketTier.count();
    expect(codeOf(await createTier(eventId, otherOrganizer.accessToken))).toBe('FORBIDDEN');
    expect(codeOf(await createTier(eventId, buyer.accessToken))).toBe('FORBIDDEN');
    expect(codeOf(await createTier(randomUUID(), organizer.accessToken))).toBe('NOT_FOUND');
    expect(
      codeOf(await createTier(eventId, organizer.accessToken, { ...tierInput, capacity: -1 })),
    ).toBe('BAD_USER_INPUT');
    expect(
      codeOf(await createTier(eventId, organizer.accessToken, { ...tierInput, currency: 'euro' })),
    ).toBe('BAD_USER_INPUT');
    expect(await supergraph.databases.tickets.ticketTier.count()).toBe(before);
  });

  it('cost at most what an order can total: priceCents × maxPerOrder within a 32-bit Int', async () => {
    const eventId = await publishedEvent();
    const top = { ...tierInput, priceCents: 100_000_000 };
    const tooDear = await createTier(eventId, organizer.accessToken, { ...top, maxPerOrder: 22 });
    expect(tooDear.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.maxPerOrder',
    });
    // The default maxPerOrder (10) counts too.
    const { maxPerOrder: _, ...withoutLimit } = top;
    expect(
      (
        await createTier(eventId, organizer.accessToken, {
          ...withoutLimit,
          priceCents: 300_000_000,
        })
      ).errors?.[0]?.extensions,
    ).toMatchObject({ code: 'BAD_USER_INPUT' });
    const fits = await createTier(eventId, organizer.accessToken, { ...top, maxPerOrder: 21 });
    expect(fits.errors).toBeUndefined();
    const tierId = fits.data?.createTicketTier.id as string;

    const update = (id: string, input: Record<string, unknown>) =>
      supergraph.request(
        'mutation ($id: ID!, $input: UpdateTicketTierInput!) { updateTicketTier(id: $id, input: $input) { id } }',
        { id, input },
        { token: organizer.accessToken },
      );
    expect((await update(tierId, { maxPerOrder: 22 })).errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.maxPerOrder',
    });
    const cheap = await createTier(eventId, organizer.accessToken, {
      ...tierInput,
      maxPerOrder: 1000,
    });
    const cheapId = cheap.data?.createTicketTier.id as string;
    expect(
      (await update(cheapId, { priceCents: 3_000_000 })).errors?.[0]?.extensions,
    ).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.priceCents' });
    expect(await stock(tierId)).toMatchObject({ priceCents: 100_000_000, maxPerOrder: 21 });
    expect(await stock(cheapId)).toMatchObject({ priceCents: 2500, maxPerOrder: 1000 });
  });

  it('keep their sales window in order, whichever bound an update moves', async () => {
    const tierId = await tierOnSale({
      ...tierInput,
      salesStartAt: '2030-01-01T00:00:00.000Z',
      salesEndAt: '2030-02-01T00:00:00.000Z',
    });
    const endBeforeStart = await updateTier(tierId, { salesEndAt: '2029-12-31T00:00:00.000Z' });
    expect(endBeforeStart.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.salesEndAt',
    });
    const startAfterEnd = await updateTier(tierId, { salesStartAt: '2030-03-01T00:00:00.000Z' });
    expect(startAfterEnd.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.salesStartAt',
    });
    expect(await stock(tierId)).toMatchObject({
      salesStartAt: new Date('2030-01-01T00:00:00.000Z'),
      salesEndAt: new Date('2030-02-01T00:00:00.000Z'),
    });
  });

  it('hold their order total when two updates race: one wins, the other is told which field', async () => {
    const tierId = await tierOnSale({ ...tierInput, priceCents: 50_000_000, maxPerOrder: 10 });
    // Each fits the row as read (50,000,000 × 42; 100,000,000 × 10), not the two together.
    const [raisedLimit, raisedPrice] = await racingUpdates(
      tierId,
      { maxPerOrder: 42 },
      { priceCents: 100_000_000 },
    );

    const errors = [raisedLimit.errors, raisedPrice.errors];
    expect(errors.filter((e) => e === undefined)).toHaveLength(1);
    const refused = errors.find((e) => e !== undefined)?.[0];
    expect(refused?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: raisedLimit.errors ? 'input.maxPerOrder' : 'input.priceCents',
    });
    expect(refused?.message).toMatch(/cost more than 2147483647 cents/);
    const stored = await stock(tierId);
    expect(stored.priceCents * stored.maxPerOrder).toBeLessThanOrEqual(2 ** 31 - 1);
    expect([
      { priceCents: 50_000_000, maxPerOrder: 42 },
      { priceCents: 100_000_000, maxPerOrder: 10 },
    ]).toContainEqual({ priceCents: stored.priceCents, maxPerOrder: stored.maxPerOrder });
  });

  it('keep their sales window in order when two updates race: one wins, the other is told which field', async () => {
    const tierId = await tierOnSale({
      ...tierInput,
      salesStartAt: '2030-01-01T00:00:00.000Z',
      salesEndAt: '2030-02-01T00:00:00.000Z',
    });
    // Each fits the row as read; together the window would end before it starts.
    const [movedStart, movedEnd] = await racingUpdates(
      tierId,
      { salesStartAt: '2030-01-20T00:00:00.000Z' },
      { salesEndAt: '2030-01-10T00:00:00.000Z' },
    );

    expect([movedStart.errors, movedEnd.errors].filter((e) => e === undefined)).toHaveLength(1);
    const refused = (movedStart.errors ?? movedEnd.errors)?.[0];
    expect(refused?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: movedStart.errors ? 'input.salesStartAt' : 'input.salesEndAt',
    });
    const stored = await stock(tierId);
    expect(stored.salesEndAt?.getTime()).toBeGreaterThan(stored.salesStartAt?.getTime() ?? 0);
  });

  it('never shrink below what is sold', async () => {
    const tierId = await tierOnSale();
    await purchase(buyer.accessToken, { tierId, quantity: 3, idempotencyKey: randomUUID() });
    const shrink = await supergraph.request(
      'mutation ($id: ID!, $input: UpdateTicketTierInput!) { updateTicketTier(id: $id, input: $input) { capacity } }',
      { id: tierId, input: { capacity: 2 } },
      { token: organizer.accessToken },
    );
    expect(codeOf(shrink)).toBe('CAPACITY_BELOW_SOLD');
    expect((await stock(tierId)).capacity).toBe(5);
  });
});

describe('a purchase with bad input', () => {
  it.each([
    ['zero tickets', { quantity: 0 }, 'BAD_USER_INPUT'],
    ['negative tickets', { quantity: -2 }, 'BAD_USER_INPUT'],
    ['a huge quantity', { quantity: 2_000_000_000 }, 'BAD_USER_INPUT'],
    ['more than maxPerOrder', { quantity: 5 }, 'ORDER_LIMIT_EXCEEDED'],
    ['an unknown tier', { tierId: randomUUID() }, 'NOT_FOUND'],
    ['a malformed tier id', { tierId: 'not-an-id' }, 'NOT_FOUND'],
    ['a tier and a hold', { holdId: randomUUID() }, 'BAD_USER_INPUT'],
    ['a short idempotency key', { idempotencyKey: 'short' }, 'BAD_USER_INPUT'],
  ])('(%s) gets %s and writes nothing', async (_, change, code) => {
    const tierId = await tierOnSale();
    const before = await supergraph.databases.tickets.order.count();
    const result = await purchase(buyer.accessToken, {
      tierId,
      quantity: 1,
      idempotencyKey: randomUUID(),
      ...change,
    });
    expect(codeOf(result)).toBe(code);
    expect(await supergraph.databases.tickets.order.count()).toBe(before);
    expect((await stock(tierId)).sold).toBe(0);
  });

  it('without an idempotency key is refused before it runs', async () => {
    const tierId = await tierOnSale();
    const result = await purchase(buyer.accessToken, { tierId, quantity: 1 });
    expect(codeOf(result)).toBe('BAD_USER_INPUT');
    expect((await stock(tierId)).sold).toBe(0);
  });

  it('with someone else’s hold gets HOLD_NOT_FOUND, and the hold stays theirs', async () => {
    const tierId = await tierOnSale();
    const hold = await supergraph.request<{ holdTickets: { id: string } }>(
      'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 2) { id } }',
      { tierId },
      { token: otherBuyer.accessToken },
    );
    const result = await purchase(buyer.accessToken, {
      holdId: hold.data?.holdTickets.id,
      idempotencyKey: randomUUID(),
    });
    expect(codeOf(result)).toBe('HOLD_NOT_FOUND');
    expect(await stock(tierId)).toMatchObject({ sold: 0, held: 2 });
  });

  it('of a hold it cannot buy names input.holdId, as releaseHold names its id', async () => {
    const tierId = await tierOnSale();
    const holdOf = async (token: string) =>
      (
        await supergraph.request<{ holdTickets: { id: string } }>(
          'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }',
          { tierId },
          { token },
        )
      ).data?.holdTickets.id as string;
    const theirs = await holdOf(otherBuyer.accessToken);
    const released = await holdOf(buyer.accessToken);
    await supergraph.request(
      'mutation ($id: ID!) { releaseHold(id: $id) { id } }',
      { id: released },
      { token: buyer.accessToken },
    );

    const refusals = [];
    for (const holdId of [theirs, randomUUID(), 'not-an-id', released]) {
      const result = await purchase(buyer.accessToken, { holdId, idempotencyKey: randomUUID() });
      refusals.push([codeOf(result), result.errors?.[0]?.extensions?.field]);
    }

    expect(refusals).toEqual([
      ['HOLD_NOT_FOUND', 'input.holdId'],
      ['HOLD_NOT_FOUND', 'input.holdId'],
      ['HOLD_NOT_FOUND', 'input.holdId'],
      ['HOLD_EXPIRED', 'input.holdId'],
    ]);
    expect(await stock(tierId)).toMatchObject({ sold: 0, held: 1 });
  });

  it('anonymously is UNAUTHENTICATED', async () => {
    const tierId = await tierOnSale();
    const result = await supergraph.request(purchaseMutation, {
      input: { tierId, quantity: 1, idempotencyKey: randomUUID() },
    });
    expect(codeOf(result)).toBe('UNAUTHENTICATED');
  });
});

describe('the per-person cap', () => {
  it('stops a buyer at 10 tickets for one event, across orders, and writes nothing past it', async () => {
    const tierId = await tierOnSale({ ...tierInput, capacity: 50, maxPerOrder: 4 });
    for (const quantity of [4, 4]) {
      expect(
        (await purchase(buyer.accessToken, { tierId, quantity, idempotencyKey: randomUUID() }))
          .errors,
      ).toBeUndefined();
    }
    const over = await purchase(buyer.accessToken, {
      tierId,
      quantity: 3,
      idempotencyKey: randomUUID(),
    });
    expect(over.errors?.[0]?.extensions).toMatchObject({
      code: 'PURCHASE_LIMIT_REACHED',
      perUserCap: 10,
    });
    expect((await stock(tierId)).sold).toBe(8);
    expect(
      (await purchase(buyer.accessToken, { tierId, quantity: 2, idempotencyKey: randomUUID() }))
        .errors,
    ).toBeUndefined();
    expect((await stock(tierId)).sold).toBe(10);
  });
});

describe('holds', () => {
  it('reserve stock, and return it by themselves when they expire', async () => {
    const tierId = await tierOnSale();
    const eventTiers =
      'query ($id: ID!) { event(id: $id) { ticketsAvailable ticketTiers { id available } } }';
    const eventId = (await stock(tierId)).eventId;
    const hold = await supergraph.request<{
      holdTickets: { id: string; quantity: number; expiresAt: string };
    }>(
      'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 4) { id quantity expiresAt } }',
      { tierId },
      { token: buyer.accessToken },
    );
    expect(hold.data?.holdTickets.quantity).toBe(4);
    const during = await supergraph.request<{ event: { ticketsAvailable: number } }>(eventTiers, {
      id: eventId,
    });
    expect(during.data?.event.ticketsAvailable).toBe(1);
    expect(
      codeOf(
        await purchase(otherBuyer.accessToken, {
          tierId,
          quantity: 2,
          idempotencyKey: randomUUID(),
        }),
      ),
    ).toBe('SOLD_OUT');

    // No request touches the tier: the sweeper alone returns the stock.
    await expireHold(hold.data?.holdTickets.id as string);
    const started = Date.now();
    while ((await stock(tierId)).held !== 0) {
      if (Date.now() - started > 5_000) throw new Error('the hold was not swept');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const after = await supergraph.request<{ event: { ticketsAvailable: number } }>(eventTiers, {
      id: eventId,
    });
    expect(after.data?.event.ticketsAvailable).toBe(5);
    const late = await purchase(buyer.accessToken, {
      holdId: hold.data?.holdTickets.id,
      idempotencyKey: randomUUID(),
    });
    expect(codeOf(late)).toBe('HOLD_EXPIRED');
  });

  it('give their allowance back when they expire', async () => {
    const tierId = await tierOnSale();
    const { eventId } = await stock(tierId);
    const allowance = async () =>
      (
        await supergraph.databases.tickets.eventAllowance.findUnique({
          where: { eventId_userId: { eventId, userId: otherBuyer.user.id } },
        })
      )?.tickets;
    const hold = await supergraph.request<{ holdTickets: { id: string } }>(
      'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 4) { id } }',
      { tierId },
      { token: otherBuyer.accessToken },
    );
    expect(await allowance()).toBe(4);
    await expireHold(hold.data?.holdTickets.id as string);
    const started = Date.now();
    while ((await stock(tierId)).held !== 0) {
      if (Date.now() - started > 5_000) throw new Error('the hold was not swept');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await allowance()).toBe(0);
  });

  it('turn into tickets when bought in time', async () => {
    const tierId = await tierOnSale();
    const hold = await supergraph.request<{ holdTickets: { id: string } }>(
      'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 3) { id } }',
      { tierId },
      { token: buyer.accessToken },
    );
    const bought = await purchase(buyer.accessToken, {
      holdId: hold.data?.holdTickets.id,
      idempotencyKey: randomUUID(),
    });
    expect(bought.data?.purchaseTickets).toMatchObject({ totalCents: 7500 });
    expect(bought.data?.purchaseTickets.tickets).toHaveLength(3);
    expect(await stock(tierId)).toMatchObject({ sold: 3, held: 0 });
  });
});

describe('a hold bought in two tabs at once', () => {
  it('makes one order, with which both tabs are answered, each with its own key', async () => {
    const tierId = await tierOnSale();
    const hold = await supergraph.request<{ holdTickets: { id: string } }>(
      'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 2) { id } }',
      { tierId },
      { token: buyer.accessToken },
    );
    const holdId = hold.data?.holdTickets.id;
    const ordersBefore = await supergraph.databases.tickets.order.count();

    // Each tab keeps its own key for the hold (the web app's, in sessionStorage).
    const tabs = await Promise.all(
      [randomUUID(), randomUUID()].map((idempotencyKey) =>
        purchase(buyer.accessToken, { holdId, idempotencyKey }),
      ),
    );

    expect(tabs.map((tab) => tab.errors)).toEqual([undefined, undefined]);
    const [first, second] = tabs.map((tab) => tab.data?.purchaseTickets);
    expect(second).toEqual(first);
    expect(first?.tickets).toHaveLength(2);
    expect(await supergraph.databases.tickets.order.count()).toBe(ordersBefore + 1);
    expect(await stock(tierId)).toMatchObject({ sold: 2, held: 0 });
    // A tab that comes back later is answered the same, and a hold that was only released
    // is still HOLD_EXPIRED.
    const later = await purchase(buyer.accessToken, { holdId, idempotencyKey: randomUUID() });
    expect(later.data?.purchaseTickets).toEqual(first);
    const released = await supergraph.request<{ holdTickets: { id: string } }>(
      'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }',
      { tierId },
      { token: buyer.accessToken },
    );
    const releasedId = released.data?.holdTickets.id;
    await supergraph.request(
      'mutation ($id: ID!) { releaseHold(id: $id) { id } }',
      {
        id: releasedId,
      },
      { token: buyer.accessToken },
    );
    const gone = await purchase(buyer.accessToken, {
      holdId: releasedId,
      idempotencyKey: randomUUID(),
    });
    expect(codeOf(gone)).toBe('HOLD_EXPIRED');
  });
});

describe('cancellation', () => {
  const cancel = (id: string, token: string) =>
    supergraph.request<{ cancelTicket: { status: string } }>(
      'mutation ($id: ID!) { cancelTicket(id: $id) { status } }',
      { id },
      { token },
    );

  it('restocks exactly once', async () => {
    const tierId = await tierOnSale();
    const bought = await purchase(buyer.accessToken, {
      tierId,
      quantity: 2,
      idempotencyKey: randomUUID(),
    });
    const [first] = bought.data?.purchaseTickets.tickets ?? [];
    expect(codeOf(await cancel(first?.id as string, otherBuyer.accessToken))).toBe('NOT_FOUND');
    expect((await cancel(first?.id as string, buyer.accessToken)).data).toEqual({
      cancelTicket: { status: 'CANCELLED' },
    });
    expect((await stock(tierId)).sold).toBe(1);
    expect(codeOf(await cancel(first?.id as string, buyer.accessToken))).toBe(
      'TICKET_ALREADY_CANCELLED',
    );
    expect((await stock(tierId)).sold).toBe(1);
  });

  it('of an event cancels its active tickets, exactly once', async () => {
    const tierId = await tierOnSale();
    const { eventId } = await stock(tierId);
    await purchase(buyer.accessToken, { tierId, quantity: 3, idempotencyKey: randomUUID() });
    await supergraph.request(
      'mutation ($id: ID!) { cancelEvent(id: $id) { id } }',
      { id: eventId },
      { token: organizer.accessToken },
    );
    const started = Date.now();
    while (
      (await supergraph.databases.tickets.ticket.count({ where: { eventId, status: 'ACTIVE' } })) >
      0
    ) {
      if (Date.now() - started > 5_000) throw new Error('the tickets were not cancelled');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const cancelled = await supergraph.databases.tickets.ticket.findMany({ where: { eventId } });
    expect(cancelled.map((ticket) => ticket.status)).toEqual([
      'CANCELLED',
      'CANCELLED',
      'CANCELLED',
    ]);
    expect(
      codeOf(
        await purchase(buyer.accessToken, { tierId, quantity: 1, idempotencyKey: randomUUID() }),
      ),
    ).toBe('SALES_CLOSED');
  });
});

describe('myTickets', () => {
  const query = /* GraphQL */ `
    { myTickets(first: 100) { totalCount edges { node { code event { title organizer { name } } tier { name } } } } }
  `;

  async function statementsFor(token: string) {
    for (const log of Object.values(supergraph.sql)) log.length = 0;
    const result = await supergraph.request<{
      myTickets: { totalCount: number; edges: { node: { code: string } }[] };
    }>(query, {}, { token });
    expect(result.errors).toBeUndefined();
    const background = (sql: string) =>
      sql.includes('outbox_messages') || sql.includes('WITH expired AS');
    const count = (log: Statement[]) => log.filter(({ sql }) => !background(sql)).length;
    return {
      tickets: result.data?.myTickets.totalCount,
      statements: {
        users: count(supergraph.sql.users),
        events: count(supergraph.sql.events),
        tickets: count(supergraph.sql.tickets),
      },
    };
  }

  it('costs the same SQL statements for 5 tickets as for 100, across events and tiers', async () => {
    const [few, many] = await Promise.all([signUp(supergraph), signUp(supergraph)]);
    // Ten events, the most one person may buy of each (10): 100 tickets; and 5 for the other.
    const tiers = await Promise.all(
      Array.from({ length: 10 }, () =>
        tierOnSale({ ...tierInput, capacity: 100, maxPerOrder: 10 }),
      ),
    );
    for (const [index, tierId] of tiers.entries()) {
      if (index < 5)
        await purchase(few.accessToken, { tierId, quantity: 1, idempotencyKey: randomUUID() });
      const result = await purchase(many.accessToken, {
        tierId,
        quantity: 10,
        idempotencyKey: `many-tickets-${index}`,
      });
      expect(result.errors).toBeUndefined();
    }
    const small = await statementsFor(few.accessToken);
    const large = await statementsFor(many.accessToken);
    expect(small.tickets).toBe(5);
    expect(large.tickets).toBe(100);
    expect(large.statements).toEqual(small.statements);
    // tickets: the owner's page (one statement), and their tiers with holds (one).
    expect(small.statements).toEqual({ users: 1, events: 1, tickets: 2 });
  });

  it('pages through a buyer’s tickets, newest first, counting all of them on every page', async () => {
    const owner = await signUp(supergraph);
    const tierId = await tierOnSale({ ...tierInput, capacity: 20, maxPerOrder: 2 });
    for (let order = 0; order < 3; order++) {
      await purchase(owner.accessToken, { tierId, quantity: 2, idempotencyKey: randomUUID() });
    }
    type Page = {
      myTickets: {
        totalCount: number;
        edges: { node: { id: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string };
      };
    };
    const pageQuery =
      'query ($after: String) { myTickets(first: 4, after: $after) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }';
    const first = await supergraph.request<Page>(pageQuery, {}, { token: owner.accessToken });
    const second = await supergraph.request<Page>(
      pageQuery,
      { after: first.data?.myTickets.pageInfo.endCursor },
      { token: owner.accessToken },
    );
    const last = await supergraph.request<Page>(
      pageQuery,
      { after: second.data?.myTickets.pageInfo.endCursor },
      { token: owner.accessToken },
    );
    expect([first, second, last].map((page) => page.data?.myTickets.totalCount)).toEqual([6, 6, 6]);
    expect([first, second, last].map((page) => page.data?.myTickets.edges.length)).toEqual([
      4, 2, 0,
    ]);
    expect(first.data?.myTickets.pageInfo.hasNextPage).toBe(true);
    expect(second.data?.myTickets.pageInfo.hasNextPage).toBe(false);
    const ids = [first, second].flatMap(
      (page) => page.data?.myTickets.edges.map((edge) => edge.node.id) ?? [],
    );
    expect(new Set(ids).size).toBe(6);
    const stored = await supergraph.databases.tickets.ticket.findMany({
      where: { ownerId: owner.user.id },
      orderBy: [{ purchasedAt: 'desc' }, { id: 'desc' }],
    });
    expect(ids).toEqual(stored.map((ticket) => ticket.id));
  });
});
