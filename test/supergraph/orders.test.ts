// What a frontend needs to show a buyer's purchases and holds without refetching the world:
// orders with their event and currency, holds that can be found again and released, a
// cancellation that answers with what changed, and cancelled events that sell nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseMutation } from '../documents.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, publishedEvent, signUp, snapshotReaches } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let buyer: AuthPayload;
let otherBuyer: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph();
  [organizer, buyer, otherBuyer] = await Promise.all([
    signUp(supergraph, { accountType: 'ORGANIZER' }),
    signUp(supergraph),
    signUp(supergraph),
  ]);
});
afterAll(async () => {
  await supergraph?.stop();
});

async function tierOnSale(title = 'Orders concert') {
  const eventId = await publishedEvent(supergraph, organizer.accessToken, title);
  const created = await supergraph.request<{ createTicketTier: { id: string } }>(
    'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }',
    {
      eventId,
      input: { name: 'Floor', priceCents: 1500, currency: 'NOK', capacity: 10, maxPerOrder: 4 },
    },
    { token: organizer.accessToken },
  );
  return { eventId, tierId: created.data?.createTicketTier.id as string };
}

const buy = (token: string, tierId: string, quantity: number) =>
  supergraph.request<{ purchaseTickets: { id: string } }>(
    purchaseMutation,
    { input: { tierId, quantity, idempotencyKey: randomUUID() } },
    { token },
  );

/** The event's one tier, as its page shows it. */
const tierState = async (eventId: string) =>
  (
    await supergraph.request<{ event: { ticketTiers: { available: number; onSale: boolean }[] } }>(
      'query ($id: ID!) { event(id: $id) { ticketTiers { available onSale } } }',
      { id: eventId },
    )
  ).data?.event.ticketTiers[0];

const orderFields =
  'id totalCents currency createdAt event { id title } tickets { id status tier { name } }';

describe('orders', () => {
  it('are found by id by their buyer only, with event, currency and tickets', async () => {
    const { eventId, tierId } = await tierOnSale('Order lookup');
    const placed = await buy(buyer.accessToken, tierId, 2);
    const id = placed.data?.purchaseTickets.id as string;
    const query = `query ($id: ID!) { order(id: $id) { ${orderFields} } }`;
    const mine = await supergraph.request<{
      order: { currency: string; totalCents: number; event: { id: string; title: string } };
    }>(query, { id }, { token: buyer.accessToken });
    expect(mine.errors).toBeUndefined();
    expect(mine.data?.order).toMatchObject({
      id,
      totalCents: 3000,
      currency: 'NOK',
      event: { id: eventId, title: 'Order lookup' },
      tickets: [
        { status: 'ACTIVE', tier: { name: 'Floor' } },
        { status: 'ACTIVE', tier: { name: 'Floor' } },
      ],
    });
    expect(
      (await supergraph.request(query, { id }, { token: otherBuyer.accessToken })).data,
    ).toEqual({ order: null });
    expect((await supergraph.request(query, { id })).data).toEqual({ order: null });
    expect(
      (await supergraph.request(query, { id: 'not-an-id' }, { token: buyer.accessToken })).data,
    ).toEqual({ order: null });
  });

  it('are listed for their buyer, newest first, page by page', async () => {
    const shopper = await signUp(supergraph);
    const { tierId } = await tierOnSale('Order pages');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.unshift((await buy(shopper.accessToken, tierId, 1)).data?.purchaseTickets.id as string);
    }
    const page = (after?: string) =>
      supergraph.request<{
        myOrders: {
          totalCount: number;
          pageInfo: { hasNextPage: boolean; endCursor: string | null };
          edges: { node: { id: string; currency: string } }[];
        };
      }>(
        `query ($after: String) { myOrders(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { ${orderFields} } } } }`,
        { after },
        { token: shopper.accessToken },
      );
    const first = (await page()).data?.myOrders;
    expect(first?.totalCount).toBe(3);
    expect(first?.pageInfo.hasNextPage).toBe(true);
    const second = (await page(first?.pageInfo.endCursor ?? undefined)).data?.myOrders;
    expect(second?.pageInfo.hasNextPage).toBe(false);
    expect([...(first?.edges ?? []), ...(second?.edges ?? [])].map((edge) => edge.node.id)).toEqual(
      ids,
    );
    expect(codeOf(await supergraph.request('{ myOrders { totalCount } }'))).toBe('UNAUTHENTICATED');
  });
});

describe('holds', () => {
  const holdMutation =
    'mutation ($tierId: ID!, $quantity: Int!) { holdTickets(tierId: $tierId, quantity: $quantity) { id expiresAt } }';
  const release = (id: string, token: string) =>
    supergraph.request<{ releaseHold: { id: string; quantity: number } }>(
      'mutation ($id: ID!) { releaseHold(id: $id) { id quantity tier { id available } } }',
      { id },
      { token },
    );
  const myHolds = (token: string) =>
    supergraph.request<{ myHolds: { id: string; quantity: number; tier: { id: string } }[] }>(
      '{ myHolds { id quantity expiresAt tier { id name event { id title } } } }',
      {},
      { token },
    );

  it('are found again after a reload, and released back to stock by their holder only', async () => {
    const holder = await signUp(supergraph);
    const { eventId, tierId } = await tierOnSale('Hold release');
    const held = await supergraph.request<{ holdTickets: { id: string } }>(
      holdMutation,
      { tierId, quantity: 3 },
      { token: holder.accessToken },
    );
    const holdId = held.data?.holdTickets.id as string;
    expect((await myHolds(holder.accessToken)).data?.myHolds).toMatchObject([
      { id: holdId, quantity: 3, tier: { id: tierId } },
    ]);
    expect((await myHolds(otherBuyer.accessToken)).data?.myHolds).toEqual([]);
    expect((await tierState(eventId))?.available).toBe(7);

    expect(codeOf(await release(holdId, otherBuyer.accessToken))).toBe('HOLD_NOT_FOUND');
    const released = await release(holdId, holder.accessToken);
    expect(released.errors).toBeUndefined();
    expect(released.data?.releaseHold).toMatchObject({
      id: holdId,
      quantity: 3,
      tier: { id: tierId, available: 10 },
    });
    expect(
      (await supergraph.databases.tickets.ticketTier.findUniqueOrThrow({ where: { id: tierId } }))
        .held,
    ).toBe(0);
    expect((await myHolds(holder.accessToken)).data?.myHolds).toEqual([]);
    // Released once: again, or buying it, finds it gone.
    expect(codeOf(await release(holdId, holder.accessToken))).toBe('HOLD_EXPIRED');
    const bought = await supergraph.request(
      purchaseMutation,
      { input: { holdId, idempotencyKey: randomUUID() } },
      { token: holder.accessToken },
    );
    expect(codeOf(bought)).toBe('HOLD_EXPIRED');
    expect(codeOf(await release(randomUUID(), holder.accessToken))).toBe('HOLD_NOT_FOUND');
  });

  it('answer a release with the hold as the buyer saw it: its price and currency', async () => {
    const holder = await signUp(supergraph);
    const { eventId, tierId } = await tierOnSale('Hold release price');
    const held = await supergraph.request<{ holdTickets: { id: string } }>(
      holdMutation,
      { tierId, quantity: 2 },
      { token: holder.accessToken },
    );
    const holdId = held.data?.holdTickets.id as string;

    const released = await supergraph.request<{
      releaseHold: { id: string; quantity: number; priceCents: number; currency: string };
    }>(
      'mutation ($id: ID!) { releaseHold(id: $id) { id quantity priceCents currency tier { available } } }',
      { id: holdId },
      { token: holder.accessToken },
    );

    expect(released.errors).toBeUndefined();
    expect(released.data?.releaseHold).toEqual({
      id: holdId,
      quantity: 2,
      priceCents: 1500,
      currency: 'NOK',
      tier: { available: 10 },
    });
    expect((await tierState(eventId))?.available).toBe(10);
  });

  it('are released once when two releases race', async () => {
    const holder = await signUp(supergraph);
    const { tierId } = await tierOnSale('Hold race');
    const held = await supergraph.request<{ holdTickets: { id: string } }>(
      holdMutation,
      { tierId, quantity: 4 },
      { token: holder.accessToken },
    );
    const holdId = held.data?.holdTickets.id as string;
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, () => release(holdId, holder.accessToken)),
    );
    expect(outcomes.filter((outcome) => !outcome.errors)).toHaveLength(1);
    expect(outcomes.filter((outcome) => codeOf(outcome) === 'HOLD_EXPIRED')).toHaveLength(4);
    const tier = await supergraph.databases.tickets.ticketTier.findUniqueOrThrow({
      where: { id: tierId },
    });
    expect(tier.held).toBe(0);
  });
});

describe('cancelTicket', () => {
  it('answers with the ticket’s restocked tier, its order and its event', async () => {
    const { eventId, tierId } = await tierOnSale('Cancel one');
    const orderId = (await buy(buyer.accessToken, tierId, 2)).data?.purchaseTickets.id as string;
    const ticket = await supergraph.databases.tickets.ticket.findFirstOrThrow({
      where: { orderId },
    });
    const cancelled = await supergraph.request(
      'mutation ($id: ID!) { cancelTicket(id: $id) { id status tier { id available } order { id tickets { status } } event { id title } } }',
      { id: ticket.id },
      { token: buyer.accessToken },
    );
    expect(cancelled.errors).toBeUndefined();
    expect(cancelled.data?.cancelTicket).toEqual({
      id: ticket.id,
      status: 'CANCELLED',
      tier: { id: tierId, available: 9 },
      order: {
        id: orderId,
        tickets: expect.arrayContaining([{ status: 'CANCELLED' }, { status: 'ACTIVE' }]),
      },
      event: { id: eventId, title: 'Cancel one' },
    });
  });
});

describe('a cancelled event', () => {
  it('has tiers with nothing available and not on sale, and leaves the default listing', async () => {
    const { eventId } = await tierOnSale('Called off');
    expect(await tierState(eventId)).toEqual({ available: 10, onSale: true });
    await supergraph.request(
      'mutation ($id: ID!) { cancelEvent(id: $id) { id } }',
      { id: eventId },
      { token: organizer.accessToken },
    );
    await snapshotReaches(supergraph, eventId, 'CANCELLED');
    const page = await supergraph.request<{
      event: { ticketsAvailable: number; ticketTiers: { available: number; onSale: boolean }[] };
    }>(
      'query ($id: ID!) { event(id: $id) { status ticketsAvailable ticketTiers { available onSale } } }',
      { id: eventId },
    );
    expect(page.data?.event).toEqual({
      status: 'CANCELLED',
      ticketsAvailable: 0,
      ticketTiers: [{ available: 0, onSale: false }],
    });
    const listing = (filter: Record<string, unknown>) =>
      supergraph.request<{ events: { edges: { node: { id: string } }[] } }>(
        'query ($filter: EventFilter) { events(first: 100, filter: $filter) { edges { node { id } } } }',
        { filter },
      );
    const ids = async (filter: Record<string, unknown>) =>
      (await listing(filter)).data?.events.edges.map((edge) => edge.node.id);
    expect(await ids({ search: 'Called off' })).toEqual([]);
    expect(await ids({ search: 'Called off', includeCancelled: true })).toEqual([eventId]);
    expect(await ids({ search: 'Called off', status: 'CANCELLED' })).toEqual([eventId]);
  });
});

describe('an order whose event the events service cannot give', () => {
  it('stays in the answer, its event null with the error beside it', async () => {
    const shopper = await signUp(supergraph);
    const { tierId } = await tierOnSale('Order without its event');
    const id = (await buy(shopper.accessToken, tierId, 1)).data?.purchaseTickets.id as string;
    const query = `{ myOrders { edges { node { id totalCents event { id title } } } } }`;
    // A real fault in this test's own events database: the events service's statements fail.
    await supergraph.databases.events.$executeRawUnsafe('ALTER TABLE events RENAME TO events_away');
    let answer: Awaited<ReturnType<typeof supergraph.request>>;
    try {
      answer = await supergraph.request(query, {}, { token: shopper.accessToken });
    } finally {
      await supergraph.databases.events.$executeRawUnsafe(
        'ALTER TABLE events_away RENAME TO events',
      );
    }
    expect(answer.errors?.length).toBeGreaterThan(0);
    expect(answer.data).toEqual({
      myOrders: { edges: [{ node: { id, totalCents: 1500, event: null } }] },
    });
    const recovered = await supergraph.request(query, {}, { token: shopper.accessToken });
    expect(recovered.errors).toBeUndefined();
    expect(recovered.data).toEqual({
      myOrders: {
        edges: [
          {
            node: {
              id,
              totalCents: 1500,
              event: { id: expect.any(String), title: 'Order without its event' },
            },
          },
        ],
      },
    });
  });
});
