// Input to the tickets service that it used to take as it came: tiers in states and with
// values no sale can have, keys and scan times no client sends. Each is refused with a
// stable code naming the field, and nothing is written.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdMutation, purchaseMutation } from '../documents.ts';
import { addDoorStaff } from './door.ts';
import { queuedBehindLock, type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  cancelledEvent,
  codeOf,
  createDraftEvent,
  draftEvent,
  eventChangesDelivered,
  eventOnSale,
  signUp,
} from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let buyer: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  buyer = await signUp(supergraph);
});
afterAll(() => supergraph?.stop());

const createTierMutation =
  'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }';
const updateTierMutation =
  'mutation ($id: ID!, $input: UpdateTicketTierInput!) { updateTicketTier(id: $id, input: $input) { id } }';
const tier = { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 10 };

function createTier(eventId: string, input: Record<string, unknown>) {
  return supergraph.request(
    createTierMutation,
    { eventId, input },
    { token: organizer.accessToken },
  );
}

function updateTier(id: string, input: Record<string, unknown>) {
  return supergraph.request(updateTierMutation, { id, input }, { token: organizer.accessToken });
}

/**
 * The answer to a tier's creation that found its event in the events service, then waited
 * for the event's lock in the tickets service while `meanwhile` ran.
 */
async function createdBehindEventLock(
  eventId: string,
  input: Record<string, unknown>,
  meanwhile: () => Promise<void>,
) {
  const lock = {
    sql: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))',
    params: [`tiers:${eventId}`],
  };
  const [created] = await queuedBehindLock(
    supergraph,
    'tickets',
    lock,
    [{ send: () => createTier(eventId, input), waitsAt: 'pg_advisory_xact_lock' }],
    meanwhile,
  );
  return created;
}

async function tiersOf(eventId: string) {
  return supergraph.databases.tickets.ticketTier.findMany({ where: { eventId } });
}

describe('a tier’s currency', () => {
  it.each(['ZZZ', 'ABC', 'XXX'])(
    '%s, not an ISO 4217 currency one can pay in, is refused',
    async (currency) => {
      const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
      const result = await createTier(eventId, { ...tier, currency });
      expect(result.errors?.[0]?.extensions).toEqual({
        code: 'BAD_USER_INPUT',
        field: 'input.currency',
      });
      expect(await tiersOf(eventId)).toEqual([]);
    },
  );

  it('is stored in capitals, as ISO 4217 spells it', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
    expect((await createTier(eventId, { ...tier, currency: 'chf' })).errors).toBeUndefined();
    expect((await tiersOf(eventId)).map((stored) => stored.currency)).toEqual(['CHF']);
  });
});

describe('a tier’s sales end', () => {
  const past = () => new Date(Date.now() - 60_000).toISOString();

  it('in the past is refused when the tier is created', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
    const result = await createTier(eventId, { ...tier, salesEndAt: past() });
    expect(result.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.salesEndAt',
    });
    expect(await tiersOf(eventId)).toEqual([]);
  });

  it('moved into the past is refused, and the tier keeps its end', async () => {
    const salesEndAt = new Date(Date.now() + 86_400_000);
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { ...tier, salesEndAt: salesEndAt.toISOString() },
    ]);
    const id = tierIds[0] as string;
    const result = await updateTier(id, { salesEndAt: past() });
    expect(result.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.salesEndAt',
    });
    const stored = await supergraph.databases.tickets.ticketTier.findUnique({ where: { id } });
    expect(stored?.salesEndAt).toEqual(salesEndAt);
  });
});

describe('an event’s tiers', () => {
  // Event.ticketTiers is a list no page bounds, and a tier's event lists its tiers again:
  // `event(id: $id) { ticketTiers { event { ticketTiers { event { ticketTiers { id } } } } } }`
  // answers T³ tiers to an anonymous client, within every operation limit. An organizer
  // (anyone may sign up as one) could give an event any number: 200 tiers made that query
  // eight million.
  const stored = (eventId: string, count: number) =>
    supergraph.databases.tickets.ticketTier.createMany({
      data: Array.from({ length: count }, (_, i) => ({ ...tier, name: `T${i}`, eventId })),
    });

  it('are at most 20 by default: the 21st is refused, and nothing is written', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
    await stored(eventId, 20);
    const result = await createTier(eventId, tier);
    expect(result.errors).toEqual([
      {
        message: 'An event has at most 20 ticket tiers; change one instead.',
        path: ['createTicketTier'],
        extensions: { code: 'TOO_MANY_TIERS', maxTiersPerEvent: 20 },
      },
    ]);
    expect(await tiersOf(eventId)).toHaveLength(20);
  });

  it('are at most 20 however many are created at once', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
    await stored(eventId, 17);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => createTier(eventId, { ...tier, name: `Rush ${i}` })),
    );
    expect(results.filter((result) => result.errors === undefined)).toHaveLength(3);
    for (const result of results.filter((result) => result.errors !== undefined)) {
      expect(result.errors?.[0]?.extensions).toEqual({
        code: 'TOO_MANY_TIERS',
        maxTiersPerEvent: 20,
      });
    }
    expect(await tiersOf(eventId)).toHaveLength(20);
  });
});

describe('a purchase’s idempotency key', () => {
  async function purchaseOnSale(who: AuthPayload, idempotencyKey: string) {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const input = { tierId: tierIds[0], quantity: 1, idempotencyKey };
    return supergraph.request(purchaseMutation, { input }, { token: who.accessToken });
  }
  const ordersOf = (who: AuthPayload) =>
    supergraph.databases.tickets.order.findMany({ where: { buyerId: who.user.id } });

  it.each([
    ['ten zero-width spaces', '\u200B'.repeat(10)],
    ['whitespace only', ' \t '.repeat(4)],
    ['a control character', 'order-\u0007-0001'],
    ['a space inside', 'order 0000001'],
    ['non-ASCII letters', 'bestellung-äöü'],
    ['over 200 characters', 'k'.repeat(201)],
    ['under 8 characters', 'k1'],
  ])('with %s is refused, and nothing is bought', async (_, idempotencyKey) => {
    const result = await purchaseOnSale(buyer, idempotencyKey);
    expect(result.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.idempotencyKey',
    });
    expect(await ordersOf(buyer)).toEqual([]);
  });

  it('used by another buyer, even at once, buys that buyer’s own order and shows neither the other’s', async () => {
    const [first, second] = [await signUp(supergraph), await signUp(supergraph)];
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const idempotencyKey = randomUUID();
    const buy = (who: AuthPayload, quantity: number) =>
      supergraph.request<{ purchaseTickets: { id: string } }>(
        purchaseMutation,
        { input: { tierId: tierIds[0], quantity, idempotencyKey } },
        { token: who.accessToken },
      );
    const [a, b] = await Promise.all([buy(first, 1), buy(second, 1)]);
    expect([a.errors, b.errors]).toEqual([undefined, undefined]);
    const [mine] = await ordersOf(first);
    const [theirs] = await ordersOf(second);
    expect(a.data?.purchaseTickets.id).toBe(mine?.id);
    expect(b.data?.purchaseTickets.id).toBe(theirs?.id);
    expect(mine?.id).not.toBe(theirs?.id);
    // The same key with another request: a new order of the third buyer's, not word of
    // someone else's purchase under it.
    const third = await signUp(supergraph);
    const other = await buy(third, 2);
    expect(other.errors).toBeUndefined();
    expect(other.data?.purchaseTickets.id).toBe((await ordersOf(third))[0]?.id);
    expect((await buy(first, 1)).data?.purchaseTickets.id).toBe(mine?.id);
  });

  it('such as a UUID is taken', async () => {
    const otherBuyer = await signUp(supergraph);
    const idempotencyKey = randomUUID();
    expect((await purchaseOnSale(otherBuyer, idempotencyKey)).errors).toBeUndefined();
    expect((await ordersOf(otherBuyer)).map((order) => order.idempotencyKey)).toEqual([
      idempotencyKey,
    ]);
  });
});

describe('a quantity no Int can be', () => {
  it.each([
    ['2^31', 2 ** 31],
    ['a fraction', 1.5],
    ['a string', '3'],
    ['null', null],
  ])(
    '(%s) is refused for a hold and a purchase, and nothing is held or bought',
    async (_, quantity) => {
      const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
      const tierId = tierIds[0] as string;
      const hold = await supergraph.request(
        'mutation ($tierId: ID!, $quantity: Int!) { holdTickets(tierId: $tierId, quantity: $quantity) { id } }',
        { tierId, quantity },
        { token: buyer.accessToken },
      );
      const purchase = await supergraph.request(
        purchaseMutation,
        { input: { tierId, quantity, idempotencyKey: randomUUID() } },
        { token: buyer.accessToken },
      );
      for (const result of [hold, purchase]) {
        expect(result.data ?? null).toBeNull();
        expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
        expect(JSON.stringify(result.errors)).not.toMatch(/stacktrace| {4}at /);
      }
      const [stored] = await supergraph.databases.tickets.ticketTier.findMany({
        where: { id: tierId },
      });
      expect([stored?.sold, stored?.held]).toEqual([0, 0]);
    },
  );
});

describe('the tiers of an event that is not going to happen', () => {
  const cancelMutation = 'mutation ($id: ID!) { cancelEvent(id: $id) { status } }';

  it('cannot be created or changed once it is cancelled', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const cancelled = await supergraph.request(
      cancelMutation,
      { id: eventId },
      { token: organizer.accessToken },
    );
    expect(cancelled.errors).toBeUndefined();
    const created = await createTier(eventId, { ...tier, name: 'Late' });
    expect(created.errors?.[0]?.extensions).toEqual({
      code: 'INVALID_STATE_TRANSITION',
      status: 'CANCELLED',
      action: 'createTicketTier',
    });
    const updated = await updateTier(tierIds[0] as string, { capacity: 500 });
    expect(updated.errors?.[0]?.extensions).toEqual({
      code: 'INVALID_STATE_TRANSITION',
      status: 'CANCELLED',
      action: 'updateTicketTier',
    });
    expect((await tiersOf(eventId)).map(({ name, capacity }) => ({ name, capacity }))).toEqual([
      { name: 'GA', capacity: 10 },
    ]);
  });

  it('cannot be created or changed once it has ended', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const day = 86_400_000;
    await supergraph.databases.events.event.update({
      where: { id: eventId },
      data: { startsAt: new Date(Date.now() - 2 * day), endsAt: new Date(Date.now() - day) },
    });
    const created = await createTier(eventId, { ...tier, name: 'Late' });
    expect(created.errors?.[0]?.extensions).toMatchObject({ code: 'EVENT_ENDED' });
    const updated = await updateTier(tierIds[0] as string, { capacity: 500 });
    expect(updated.errors?.[0]?.extensions).toMatchObject({ code: 'EVENT_ENDED' });
    expect((await tiersOf(eventId)).map(({ name, capacity }) => ({ name, capacity }))).toEqual([
      { name: 'GA', capacity: 10 },
    ]);
  });

  it('cannot be created or changed once its draft is deleted', async () => {
    const draft = await createDraftEvent(supergraph, organizer.accessToken);
    const eventId = draft.data?.createEvent.id as string;
    const first = await createTier(eventId, tier);
    expect(first.errors).toBeUndefined();
    const deleted = await supergraph.request(
      'mutation ($id: ID!) { deleteEvent(id: $id) }',
      { id: eventId },
      { token: organizer.accessToken },
    );
    expect(deleted.errors).toBeUndefined();
    const created = await createTier(eventId, { ...tier, name: 'Late' });
    expect(created.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'eventId' });
    const firstId = (first.data as { createTicketTier: { id: string } }).createTicketTier.id;
    const updated = await updateTier(firstId, { capacity: 500 });
    expect(updated.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
    // The tier it had goes with it, once the tickets service hears of the deletion.
    await eventChangesDelivered(supergraph);
    expect(await tiersOf(eventId)).toEqual([]);
  });
});

describe('a draft deleted while a tier or door staff is named for it', () => {
  const deleteEvent = (eventId: string) =>
    supergraph.request(
      'mutation ($id: ID!) { deleteEvent(id: $id) }',
      { id: eventId },
      { token: organizer.accessToken },
    );

  it('leaves no tier: one made after the events service was asked goes with the deletion', async () => {
    const eventId = await draftEvent(supergraph, organizer.accessToken);
    // The tier's creation asked the events service, found the draft, and waits for the
    // event's lock in the tickets service while the draft is deleted.
    const created = await createdBehindEventLock(eventId, tier, async () => {
      expect((await deleteEvent(eventId)).errors).toBeUndefined();
    });
    // Made first, the tier is removed when the tickets service hears of the deletion.
    expect(created.errors).toBeUndefined();
    await eventChangesDelivered(supergraph);
    expect(await tiersOf(eventId)).toEqual([]);
  });

  it('leaves no tier changed as the draft is deleted: the change comes first, and the tier goes after it', async () => {
    const eventId = await draftEvent(supergraph, organizer.accessToken);
    const tierId = ((await createTier(eventId, tier)).data as { createTicketTier: { id: string } })
      .createTicketTier.id;
    // The change asked the events service, found the draft, and waits for the tier's row
    // while the draft is deleted; the deletion's removal of the tier waits behind it.
    const [updated] = await queuedBehindLock(
      supergraph,
      'tickets',
      { sql: 'SELECT 1 FROM ticket_tiers WHERE id = $1::uuid FOR UPDATE', params: [tierId] },
      [{ send: () => updateTier(tierId, { capacity: 20 }), waitsAt: 'FROM ticket_tiers' }],
      async () => {
        expect((await deleteEvent(eventId)).errors).toBeUndefined();
      },
    );
    expect(updated.errors).toBeUndefined();
    await eventChangesDelivered(supergraph);
    expect(await tiersOf(eventId)).toEqual([]);
  });

  it('refuses door staff named after the tickets service heard of it: NOT_FOUND, and no one named', async () => {
    const eventId = await draftEvent(supergraph, organizer.accessToken);
    const staff = await signUp(supergraph);
    // The naming asked the events service, found the draft, and looks its member of staff
    // up in the users service while the draft is deleted and the deletion delivered.
    const [named] = await queuedBehindLock(
      supergraph,
      'users',
      { sql: 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE', params: [] },
      [
        {
          send: () => addDoorStaff(supergraph, organizer.accessToken, eventId, staff.user.email),
          waitsAt: '"users"',
        },
      ],
      async () => {
        expect((await deleteEvent(eventId)).errors).toBeUndefined();
        await eventChangesDelivered(supergraph);
      },
    );
    expect(named.errors?.[0]?.extensions).toEqual({ code: 'NOT_FOUND', field: 'eventId' });
    expect(named.errors?.[0]?.message).toBe(`No event has the id ${eventId}.`);
    expect(await supergraph.databases.tickets.doorStaff.findMany({ where: { eventId } })).toEqual(
      [],
    );
  });
});

describe('a tier created as its event is cancelled', () => {
  it('is INVALID_STATE_TRANSITION once the tickets service heard of the cancellation, and not made', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    // The creation asked the events service, found the event published, and waits for the
    // event's lock in the tickets service while the event is cancelled there too.
    const created = await createdBehindEventLock(eventId, { ...tier, name: 'Late' }, () =>
      cancelledEvent(supergraph, organizer.accessToken, eventId),
    );
    expect(created.errors?.[0]?.extensions).toEqual({
      code: 'INVALID_STATE_TRANSITION',
      status: 'CANCELLED',
      action: 'createTicketTier',
    });
    expect((await tiersOf(eventId)).map(({ name }) => name)).toEqual(['GA']);
  });
});

describe('a tier of another organizer’s draft', () => {
  it('reads, to an organizer changing it, as a tier that does not exist, whatever the input', async () => {
    const other = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const eventId = await draftEvent(supergraph, organizer.accessToken);
    const created = await createTier(eventId, tier);
    const tierId = (created.data as { createTicketTier: { id: string } }).createTicketTier.id;
    for (const input of [{ capacity: 500 }, { priceCents: -1 }]) {
      for (const id of [tierId, randomUUID()]) {
        const result = await supergraph.request(
          updateTierMutation,
          { id, input },
          { token: other.accessToken },
        );
        // Neither that it exists nor the draft's id: the same answer as for no tier at all.
        expect(result.errors?.[0]?.extensions).toEqual({ code: 'NOT_FOUND', field: 'id' });
        expect(result.errors?.[0]?.message).toBe(`No ticket tier has the id ${id}.`);
      }
    }
    expect(
      (await tiersOf(eventId)).map(({ capacity, priceCents }) => ({ capacity, priceCents })),
    ).toEqual([{ capacity: 10, priceCents: 1000 }]);
  });
});

describe('deleting a tier', () => {
  const deleteTierMutation = 'mutation ($id: ID!) { deleteTicketTier(id: $id) }';
  /** Deletes tier `id` as the organizer, as the caller of `token`, or anonymously (null). */
  const deleteTier = (id: string, token: string | null = organizer.accessToken) =>
    supergraph.request<{ deleteTicketTier: string }>(
      deleteTierMutation,
      { id },
      { token: token ?? undefined },
    );
  const purchase = (tierId: string) =>
    supergraph.request(
      purchaseMutation,
      { input: { tierId, quantity: 1, idempotencyKey: randomUUID() } },
      { token: buyer.accessToken },
    );

  it('deletes one made by mistake: gone from its event, and nothing can be bought from it any more', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier, tier]);
    const [mistake, kept] = tierIds as [string, string];
    const deleted = await deleteTier(mistake);
    expect(deleted.errors).toBeUndefined();
    expect(deleted.data?.deleteTicketTier).toBe(mistake);
    expect((await tiersOf(eventId)).map((stored) => stored.id)).toEqual([kept]);
    const page = await supergraph.request<{ event: { ticketTiers: { id: string }[] } }>(
      'query ($id: ID!) { event(id: $id) { ticketTiers { id } } }',
      { id: eventId },
    );
    expect(page.data?.event.ticketTiers.map((shown) => shown.id)).toEqual([kept]);
    expect(codeOf(await purchase(mistake))).toBe('NOT_FOUND');
    expect(codeOf(await deleteTier(mistake))).toBe('NOT_FOUND');
  });

  it('refuses one anything was sold or held from, or queued for, whatever became of it', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier, tier]);
    const [sold, held] = tierIds as [string, string];
    expect((await purchase(sold)).errors).toBeUndefined();
    const hold = await supergraph.request<{ holdTickets: { id: string } }>(
      holdMutation,
      { tierId: held, quantity: 2 },
      { token: buyer.accessToken },
    );
    expect(hold.errors).toBeUndefined();
    const released = await supergraph.request(
      'mutation ($id: ID!) { releaseHold(id: $id) { id } }',
      { id: hold.data?.holdTickets.id },
      { token: buyer.accessToken },
    );
    expect(released.errors).toBeUndefined();
    const before = await tiersOf(eventId);
    for (const id of [sold, held]) {
      const refused = await deleteTier(id);
      expect(refused.errors?.[0]?.extensions).toEqual({ code: 'TIER_IN_USE', field: 'id' });
    }
    expect(await tiersOf(eventId)).toEqual(before);
  });

  it('is the organizer’s or an admin’s: anyone else is refused, and it stays', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [id] = tierIds as [string];
    const other = await signUp(supergraph, { accountType: 'ORGANIZER' });
    expect(codeOf(await deleteTier(id, other.accessToken))).toBe('FORBIDDEN');
    expect(codeOf(await deleteTier(id, buyer.accessToken))).toBe('FORBIDDEN');
    expect(codeOf(await deleteTier(id, null))).toBe('UNAUTHENTICATED');
    for (const unknown of [randomUUID(), 'not-an-id', `${id}' OR '1'='1`]) {
      expect(codeOf(await deleteTier(unknown))).toBe('NOT_FOUND');
    }
    expect((await tiersOf(eventId)).map((stored) => stored.id)).toEqual([id]);
  });

  it('refuses one of a cancelled event, as every change of its tiers', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    await cancelledEvent(supergraph, organizer.accessToken, eventId);
    expect(codeOf(await deleteTier(tierIds[0] as string))).toBe('INVALID_STATE_TRANSITION');
    expect(await tiersOf(eventId)).toHaveLength(1);
  });

  it('racing purchases of it: either the purchase or the deletion, never a ticket of no tier', async () => {
    for (let round = 0; round < 5; round++) {
      const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
      const [id] = tierIds as [string];
      const [bought, deleted, again] = await Promise.all([
        purchase(id),
        deleteTier(id),
        deleteTier(id),
      ]);
      const deletions = [deleted, again].filter((result) => !result.errors);
      const tickets = await supergraph.databases.tickets.ticket.count({ where: { eventId } });
      // The buyer's allowance for the event counts what they hold: nothing, or the ticket.
      const allowance = await supergraph.databases.tickets.eventAllowance.aggregate({
        where: { eventId },
        _sum: { tickets: true },
      });
      expect(allowance._sum.tickets ?? 0).toBe(tickets);
      if (bought.errors) {
        // The tier went first: deleted once, the other deletion finds none, and the
        // purchase finds none, or (when it had read the tier before) no stock left in it.
        expect(['NOT_FOUND', 'SOLD_OUT']).toContain(codeOf(bought));
        expect(deletions).toHaveLength(1);
        expect(tickets).toBe(0);
        expect(await tiersOf(eventId)).toEqual([]);
      } else {
        // The sale went first: the tier stays, with its one ticket.
        expect(deletions).toHaveLength(0);
        expect(tickets).toBe(1);
        expect((await tiersOf(eventId)).map((stored) => stored.sold)).toEqual([1]);
      }
    }
  });
});
