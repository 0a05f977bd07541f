// The creating mutations a client retries after an answer it never received: with the same
// idempotency key, a retry finds what the first attempt made and makes nothing more.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HoldKey } from '../../clients/web/src/hold-key.ts';
import { purchaseMutation } from '../documents.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, draftEvent, eventOnSale, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
});
afterAll(async () => {
  await supergraph?.stop();
});

/** Keys no client may send: too short, too long, a control character, non-ASCII. */
const malformedKeys: [string, string][] = [
  ['7 characters', 'abcdefg'],
  ['201 characters', 'k'.repeat(201)],
  ['a control character', 'retry-\u0007-key'],
  ['non-ASCII characters', 'retry-clé-1234'],
];

type Errors = { errors?: { extensions?: Record<string, unknown> }[] };

/** Sends `mutation` on the object with `id` as the organizer, and expects it done. */
async function changeAsOrganizer(mutation: string, id: string | undefined) {
  const result = await supergraph.request(mutation, { id }, { token: organizer.accessToken });
  expect(result.errors).toBeUndefined();
}

/** Requests sent at once with one key: all answered with one id, or told the key is in use. */
function expectOneMade<Result extends Errors>(
  results: Result[],
  idOf: (result: Result) => string | undefined,
) {
  expect(new Set(results.map(idOf).filter(Boolean)).size).toBe(1);
  for (const result of results.filter((r) => r.errors)) {
    expect(codeOf(result)).toBe('IDEMPOTENCY_KEY_IN_USE');
  }
}

/** The error's code and the field it names. */
function refusal(result: Errors) {
  const extensions = result.errors?.[0]?.extensions;
  return { code: extensions?.code, field: extensions?.field };
}

describe('a hold retried with its idempotency key', () => {
  const tier = { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 40, maxPerOrder: 10 };
  const holdMutation = `mutation ($tierId: ID!, $quantity: Int!, $idempotencyKey: String) {
    holdTickets(tierId: $tierId, quantity: $quantity, idempotencyKey: $idempotencyKey) {
      id quantity status
    }
  }`;
  type Held = { holdTickets: { id: string; quantity: number; status: string } };

  const hold = (who: AuthPayload, variables: Record<string, unknown>) =>
    supergraph.request<Held>(holdMutation, variables, { token: who.accessToken });

  async function stockOf(eventId: string) {
    const { tickets } = supergraph.databases;
    const tiers = await tickets.ticketTier.findMany({ where: { eventId } });
    const allowances = await tickets.eventAllowance.findMany({ where: { eventId } });
    return {
      held: tiers.reduce((sum, t) => sum + t.held, 0),
      allowed: allowances.reduce((sum, a) => sum + a.tickets, 0),
      holds: await tickets.hold.count({ where: { tierId: { in: tiers.map((t) => t.id) } } }),
    };
  }

  it('returns the hold it made, and keeps the stock and the allowance once', async () => {
    const buyer = await signUp(supergraph);
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const variables = { tierId: tierIds[0], quantity: 3, idempotencyKey: randomUUID() };
    const first = await hold(buyer, variables);
    const again = await hold(buyer, variables);
    expect(first.errors).toBeUndefined();
    expect(again).toEqual(first);
    expect(await stockOf(eventId)).toEqual({ held: 3, allowed: 3, holds: 1 });
  });

  it('with different arguments is refused as a reused key, and holds nothing more', async () => {
    const buyer = await signUp(supergraph);
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier, tier]);
    const idempotencyKey = randomUUID();
    expect(
      (await hold(buyer, { tierId: tierIds[0], quantity: 2, idempotencyKey })).errors,
    ).toBeUndefined();
    for (const other of [
      { tierId: tierIds[0], quantity: 3 },
      { tierId: tierIds[1], quantity: 2 },
    ]) {
      expect(refusal(await hold(buyer, { ...other, idempotencyKey }))).toEqual({
        code: 'IDEMPOTENCY_KEY_REUSED',
        field: 'idempotencyKey',
      });
    }
    expect(await stockOf(eventId)).toEqual({ held: 2, allowed: 2, holds: 1 });
  });

  it('sent 10 times at once makes one hold', async () => {
    const buyer = await signUp(supergraph);
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const variables = { tierId: tierIds[0], quantity: 2, idempotencyKey: randomUUID() };
    const results = await Promise.all(Array.from({ length: 10 }, () => hold(buyer, variables)));
    expectOneMade(results, (result) => result.data?.holdTickets.id);
    expect(await stockOf(eventId)).toEqual({ held: 2, allowed: 2, holds: 1 });
  });

  it('is another hold for another buyer with the same key', async () => {
    const [one, two] = [await signUp(supergraph), await signUp(supergraph)];
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const idempotencyKey = randomUUID();
    const first = await hold(one, { tierId: tierIds[0], quantity: 1, idempotencyKey });
    // Another buyer's key reveals nothing: not the first hold, nor that the key is taken.
    const second = await hold(two, { tierId: tierIds[0], quantity: 4, idempotencyKey });
    expect(second.errors).toBeUndefined();
    expect(second.data?.holdTickets.id).not.toBe(first.data?.holdTickets.id);
    expect(await stockOf(eventId)).toEqual({ held: 5, allowed: 5, holds: 2 });
  });

  // What ended the hold, its status then, and the allowance it leaves taken.
  const endings: [
    string,
    string,
    number,
    (who: AuthPayload, holdId?: string) => Promise<Errors>,
  ][] = [
    [
      'its release',
      'EXPIRED',
      0,
      (who, id) =>
        supergraph.request(
          'mutation ($id: ID!) { releaseHold(id: $id) { id } }',
          { id },
          { token: who.accessToken },
        ),
    ],
    [
      'its purchase',
      'PURCHASED',
      2,
      (who, holdId) =>
        supergraph.request(
          purchaseMutation,
          { input: { holdId, idempotencyKey: randomUUID() } },
          { token: who.accessToken },
        ),
    ],
  ];

  it.each(endings)(
    'after %s returns it as it is now (%s), and holds nothing again',
    async (_, status, allowed, end) => {
      const buyer = await signUp(supergraph);
      const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
      const variables = { tierId: tierIds[0], quantity: 2, idempotencyKey: randomUUID() };
      const first = await hold(buyer, variables);
      expect((await end(buyer, first.data?.holdTickets.id)).errors).toBeUndefined();
      const again = await hold(buyer, variables);
      expect(again.data?.holdTickets).toEqual({ ...first.data?.holdTickets, status });
      expect(await stockOf(eventId)).toEqual({ held: 0, allowed, holds: 1 });
    },
  );

  it('from the web app, pressed again after a lost answer, returns the first hold', async () => {
    const buyer = await signUp(supergraph);
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [tierId = ''] = tierIds;
    const document = await readFile(
      join(import.meta.dirname, '../../clients/operations/HoldTickets.graphql'),
      'utf8',
    );
    // The page's key: the first press's answer never reaches it (no `made()`).
    const keys = new HoldKey();
    const press = () =>
      supergraph.request<Held>(
        document,
        { tierId, quantity: 2, idempotencyKey: keys.for(tierId, 2) },
        { token: buyer.accessToken },
      );
    const first = await press();
    const again = await press();
    expect(first.errors).toBeUndefined();
    expect(again.data?.holdTickets.id).toBe(first.data?.holdTickets.id);
    expect(await stockOf(eventId)).toEqual({ held: 2, allowed: 2, holds: 1 });
  });

  it.each(malformedKeys)('with %s is refused, and holds nothing', async (_, idempotencyKey) => {
    const buyer = await signUp(supergraph);
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const result = await hold(buyer, { tierId: tierIds[0], quantity: 1, idempotencyKey });
    expect(refusal(result)).toEqual({ code: 'BAD_USER_INPUT', field: 'idempotencyKey' });
    expect(await stockOf(eventId)).toEqual({ held: 0, allowed: 0, holds: 0 });
  });

  it('is not needed: without a key each call holds again', async () => {
    const buyer = await signUp(supergraph);
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    for (let i = 0; i < 2; i++) {
      const result = await supergraph.request(
        'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }',
        { tierId: tierIds[0] },
        { token: buyer.accessToken },
      );
      expect(result.errors).toBeUndefined();
    }
    expect(await stockOf(eventId)).toEqual({ held: 2, allowed: 2, holds: 2 });
  });
});

describe('a tier created again with its idempotency key', () => {
  const tier = { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 40 };
  const createMutation = `mutation ($eventId: ID!, $input: TicketTierInput!) {
    createTicketTier(eventId: $eventId, input: $input) { id name capacity }
  }`;
  type Created = { createTicketTier: { id: string; name: string; capacity: number } };

  const create = (who: AuthPayload, eventId: string, input: Record<string, unknown>) =>
    supergraph.request<Created>(createMutation, { eventId, input }, { token: who.accessToken });
  const tiersOf = (eventId: string) =>
    supergraph.databases.tickets.ticketTier.count({ where: { eventId } });

  it('returns the tier it made, as it is now, and makes no second one', async () => {
    const eventId = await draftEvent(supergraph, organizer.accessToken, 'Tiers');
    const input = { ...tier, idempotencyKey: randomUUID() };
    const first = await create(organizer, eventId, input);
    expect(first.errors).toBeUndefined();
    expect(await create(organizer, eventId, input)).toEqual(first);
    // Renamed since: the retry still finds it, and answers with it as it is.
    const id = first.data?.createTicketTier.id;
    await changeAsOrganizer(
      'mutation ($id: ID!) { updateTicketTier(id: $id, input: { name: "Standing" }) { id } }',
      id,
    );
    expect((await create(organizer, eventId, input)).data?.createTicketTier).toEqual({
      id,
      name: 'Standing',
      capacity: tier.capacity,
    });
    expect(await tiersOf(eventId)).toBe(1);
  });

  it('with different arguments is refused as a reused key, and makes nothing', async () => {
    const eventId = await draftEvent(supergraph, organizer.accessToken, 'Tiers');
    const otherEvent = await draftEvent(supergraph, organizer.accessToken, 'Tiers');
    const idempotencyKey = randomUUID();
    expect((await create(organizer, eventId, { ...tier, idempotencyKey })).errors).toBeUndefined();
    for (const [event, input] of [
      [eventId, { ...tier, capacity: 41, idempotencyKey }],
      [otherEvent, { ...tier, idempotencyKey }],
    ] as const) {
      expect(refusal(await create(organizer, event, input))).toEqual({
        code: 'IDEMPOTENCY_KEY_REUSED',
        field: 'input.idempotencyKey',
      });
    }
    expect([await tiersOf(eventId), await tiersOf(otherEvent)]).toEqual([1, 0]);
  });

  it('sent 10 times at once makes one tier', async () => {
    const eventId = await draftEvent(supergraph, organizer.accessToken, 'Tiers');
    const input = { ...tier, idempotencyKey: randomUUID() };
    const results = await Promise.all(
      Array.from({ length: 10 }, () => create(organizer, eventId, input)),
    );
    expectOneMade(results, (result) => result.data?.createTicketTier.id);
    expect(await tiersOf(eventId)).toBe(1);
  });

  it('is another tier for another organizer with the same key', async () => {
    const other = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const [mine, theirs] = [
      await draftEvent(supergraph, organizer.accessToken, 'Tiers'),
      await draftEvent(supergraph, other.accessToken, 'Tiers'),
    ];
    const input = { ...tier, idempotencyKey: randomUUID() };
    const first = await create(organizer, mine, input);
    const second = await create(other, theirs, input);
    expect(second.errors).toBeUndefined();
    expect(second.data?.createTicketTier.id).not.toBe(first.data?.createTicketTier.id);
    expect([await tiersOf(mine), await tiersOf(theirs)]).toEqual([1, 1]);
  });

  it.each(malformedKeys)('with %s is refused, and makes nothing', async (_, idempotencyKey) => {
    const eventId = await draftEvent(supergraph, organizer.accessToken, 'Tiers');
    const result = await create(organizer, eventId, { ...tier, idempotencyKey });
    expect(refusal(result)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.idempotencyKey' });
    expect(await tiersOf(eventId)).toBe(0);
  });

  it('is not needed: without a key each call makes a tier', async () => {
    const eventId = await draftEvent(supergraph, organizer.accessToken, 'Tiers');
    for (let i = 0; i < 2; i++)
      expect((await create(organizer, eventId, tier)).errors).toBeUndefined();
    expect(await tiersOf(eventId)).toBe(2);
  });
});

describe('an event created again with its idempotency key', () => {
  const createMutation = `mutation ($input: CreateEventInput!) {
    createEvent(input: $input) { id title status }
  }`;
  type Created = { createEvent: { id: string; title: string; status: string } };

  const create = (who: AuthPayload, input: Record<string, unknown>) =>
    supergraph.request<Created>(createMutation, { input }, { token: who.accessToken });
  /** A draft's input with a title no other test uses. */
  const draft = () => ({
    title: `Retried ${randomUUID()}`,
    venue: 'Hall',
    city: 'Ticketton',
    timezone: 'Europe/Berlin',
    startsAt: new Date(Date.now() + 20 * 86_400_000).toISOString(),
  });
  const eventsTitled = (title: string) =>
    supergraph.databases.events.event.count({ where: { title } });

  it('returns the event it made, as it is now, and makes no second one', async () => {
    const input = { ...draft(), idempotencyKey: randomUUID() };
    const first = await create(organizer, input);
    expect(first.errors).toBeUndefined();
    expect(await create(organizer, input)).toEqual(first);
    // Published since: the retry still finds it, and answers with it as it is.
    const id = first.data?.createEvent.id;
    await changeAsOrganizer('mutation ($id: ID!) { publishEvent(id: $id) { id } }', id);
    expect((await create(organizer, input)).data?.createEvent).toEqual({
      id,
      title: input.title,
      status: 'PUBLISHED',
    });
    expect(await eventsTitled(input.title)).toBe(1);
  });

  it('with different arguments is refused as a reused key, and makes nothing', async () => {
    const input = { ...draft(), idempotencyKey: randomUUID() };
    expect((await create(organizer, input)).errors).toBeUndefined();
    const other = { ...input, title: `${input.title} (2)` };
    expect(refusal(await create(organizer, other))).toEqual({
      code: 'IDEMPOTENCY_KEY_REUSED',
      field: 'input.idempotencyKey',
    });
    expect([await eventsTitled(input.title), await eventsTitled(other.title)]).toEqual([1, 0]);
  });

  it('sent 10 times at once makes one event', async () => {
    const input = { ...draft(), idempotencyKey: randomUUID() };
    const results = await Promise.all(Array.from({ length: 10 }, () => create(organizer, input)));
    expectOneMade(results, (result) => result.data?.createEvent.id);
    expect(await eventsTitled(input.title)).toBe(1);
  });

  it('is another event for another organizer with the same key', async () => {
    const other = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const input = { ...draft(), idempotencyKey: randomUUID() };
    const first = await create(organizer, input);
    const second = await create(other, input);
    expect(second.errors).toBeUndefined();
    expect(second.data?.createEvent.id).not.toBe(first.data?.createEvent.id);
    expect(await eventsTitled(input.title)).toBe(2);
  });

  it.each(malformedKeys)('with %s is refused, and makes nothing', async (_, idempotencyKey) => {
    const input = { ...draft(), idempotencyKey };
    const result = await create(organizer, input);
    expect(refusal(result)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.idempotencyKey' });
    expect(await eventsTitled(input.title)).toBe(0);
  });

  it('is not needed: without a key each call makes an event', async () => {
    const input = draft();
    for (let i = 0; i < 2; i++) expect((await create(organizer, input)).errors).toBeUndefined();
    expect(await eventsTitled(input.title)).toBe(2);
  });
});
