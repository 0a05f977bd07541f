// Holds cannot corner stock: they count toward the per-person cap with tickets, across
// aliases, parallel requests and the tiers of one event, and a buyer keeps few at a time.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseMutation } from '../documents.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, eventOnSale, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let buyers: AuthPayload[];

beforeAll(async () => {
  // The defaults: a cap of 10 tickets per person and event, 3 active holds per person.
  supergraph = await startSupergraph();
  // One at a time: each sign-up is a deliberately costly password hash.
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  buyers = [];
  for (let i = 0; i < 6; i++) buyers.push(await signUp(supergraph));
});
afterAll(async () => {
  await supergraph?.stop();
});

const tier = { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 40, maxPerOrder: 10 };
const hold =
  'mutation ($tierId: ID!, $quantity: Int!) { holdTickets(tierId: $tierId, quantity: $quantity) { id } }';

async function stockOf(eventId: string) {
  const tiers = await supergraph.databases.tickets.ticketTier.findMany({ where: { eventId } });
  const allowances = await supergraph.databases.tickets.eventAllowance.findMany({
    where: { eventId },
  });
  return {
    held: tiers.reduce((sum, t) => sum + t.held, 0),
    sold: tiers.reduce((sum, t) => sum + t.sold, 0),
    allowed: allowances.reduce((sum, a) => sum + a.tickets, 0),
  };
}

function codes(results: { errors?: { extensions?: Record<string, unknown> }[] }[]) {
  return results.map((result) => codeOf(result) ?? 'OK').sort();
}

describe('holds and the per-person cap', () => {
  it('stop four aliased holds of 10 in one request at the cap: 10 held, not 40', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [tierId] = tierIds;
    const result = await supergraph.request(
      `mutation ($tierId: ID!) {
        a: holdTickets(tierId: $tierId, quantity: 10) { id }
        b: holdTickets(tierId: $tierId, quantity: 10) { id }
        c: holdTickets(tierId: $tierId, quantity: 10) { id }
        d: holdTickets(tierId: $tierId, quantity: 10) { id }
      }`,
      { tierId },
      { token: buyers[0]?.accessToken },
    );
    // One hold of 10 is made, the next is refused, and the refusal ends the operation
    // (holdTickets is non-null, and mutation fields run one after another).
    expect(result.errors?.map((error) => error.extensions?.code)).toEqual([
      'PURCHASE_LIMIT_REACHED',
    ]);
    expect(await stockOf(eventId)).toEqual({ held: 10, sold: 0, allowed: 10 });
  });

  it('count parallel holds one by one', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        supergraph.request(
          hold,
          { tierId: tierIds[0], quantity: 4 },
          { token: buyers[1]?.accessToken },
        ),
      ),
    );
    // Two holds of 4 fit under the cap of 10; a third would not.
    expect(codes(results).filter((code) => code === 'OK')).toHaveLength(2);
    expect(
      codes(results).every((code) => ['OK', 'PURCHASE_LIMIT_REACHED'].includes(code as string)),
    ).toBe(true);
    expect(await stockOf(eventId)).toEqual({ held: 8, sold: 0, allowed: 8 });
  });

  it('add up across the tiers of one event, and with tickets already bought', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier, tier]);
    const token = buyers[2]?.accessToken;
    const bought = await supergraph.request(
      purchaseMutation,
      { input: { tierId: tierIds[0], quantity: 4, idempotencyKey: randomUUID() } },
      { token },
    );
    expect(bought.errors).toBeUndefined();
    expect(
      codeOf(await supergraph.request(hold, { tierId: tierIds[1], quantity: 4 }, { token })),
    ).toBeUndefined();
    expect(
      codeOf(await supergraph.request(hold, { tierId: tierIds[0], quantity: 3 }, { token })),
    ).toBe('PURCHASE_LIMIT_REACHED');
    expect(
      codeOf(await supergraph.request(hold, { tierId: tierIds[0], quantity: 2 }, { token })),
    ).toBeUndefined();
    expect(await stockOf(eventId)).toEqual({ held: 6, sold: 4, allowed: 10 });
  });

  it('are bought without counting twice', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const token = buyers[3]?.accessToken;
    const held = await supergraph.request<{ holdTickets: { id: string } }>(
      hold,
      { tierId: tierIds[0], quantity: 10 },
      { token },
    );
    const bought = await supergraph.request(
      purchaseMutation,
      { input: { holdId: held.data?.holdTickets.id, idempotencyKey: randomUUID() } },
      { token },
    );
    expect(bought.errors).toBeUndefined();
    expect(await stockOf(eventId)).toEqual({ held: 0, sold: 10, allowed: 10 });
  });

  it('keep maxPerOrder', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { ...tier, maxPerOrder: 4 },
    ]);
    const result = await supergraph.request(
      hold,
      { tierId: tierIds[0], quantity: 5 },
      { token: buyers[4]?.accessToken },
    );
    expect(codeOf(result)).toBe('ORDER_LIMIT_EXCEEDED');
  });
});

describe('active holds per buyer', () => {
  it('are at most 3 at a time, across events, however they are sent', async () => {
    const events = await Promise.all(
      Array.from({ length: 5 }, () => eventOnSale(supergraph, organizer.accessToken, [tier])),
    );
    const token = buyers[5]?.accessToken;
    const results = await Promise.all(
      events.map(({ tierIds }) =>
        supergraph.request(hold, { tierId: tierIds[0], quantity: 1 }, { token }),
      ),
    );
    expect(codes(results)).toEqual(['OK', 'OK', 'OK', 'TOO_MANY_HOLDS', 'TOO_MANY_HOLDS']);
    const refused = results.find((result) => codeOf(result) === 'TOO_MANY_HOLDS');
    expect(refused?.errors?.[0]?.extensions).toMatchObject({ maxActiveHolds: 3 });
    const userId = buyers[5]?.user.id as string;
    expect(
      await supergraph.databases.tickets.hold.count({ where: { userId, status: 'ACTIVE' } }),
    ).toBe(3);
  });
});

describe('a hold’s time', () => {
  it('ends HOLD_SECONDS after it is made, on the database’s clock, which the sweeper reads', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const { accessToken: token } = await signUp(supergraph);
    const held = await supergraph.request<{ holdTickets: { id: string; expiresAt: string } }>(
      'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 2) { id expiresAt } }',
      { tierId: tierIds[0] },
      { token },
    );
    expect(held.errors).toBeUndefined();
    const { tickets } = supergraph.databases;
    const stored = await tickets.hold.findUniqueOrThrow({
      where: { id: held.data?.holdTickets.id },
    });
    // The stock was reserved by a statement that stamped the tier with the database's now().
    // The hold ends exactly the default 600 s after that: reckoned on this service's clock
    // instead, it would be as far off as that clock is from the database's (an unsynchronised
    // host's, minutes; here, the milliseconds between the statement and the reckoning).
    const reserved = await tickets.ticketTier.findUniqueOrThrow({ where: { id: tierIds[0] } });
    expect(stored.expiresAt.getTime() - reserved.updatedAt.getTime()).toBe(600_000);
    expect(held.data?.holdTickets.expiresAt).toBe(stored.expiresAt.toISOString());
  });
});
