// Input to the tickets service that it used to take as it came: tiers in states and with
// values no sale can have, keys and scan times no client sends. Each is refused with a
// stable code naming the field, and nothing is written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, eventOnSale, signUp } from './operations.ts';

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
