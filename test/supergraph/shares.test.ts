// What one account can make the system keep: each collection an organizer or a user grows has
// a bound, held under concurrency as one at a time. The bounds are set low here, so that a
// test reaches them in a few requests; their defaults are in the README.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, draftEvent, signUp } from './operations.ts';

const maxTiersPerEvent = 5;

let supergraph: Supergraph;
let organizer: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph({
    env: { MAX_TIERS_PER_EVENT: String(maxTiersPerEvent) },
  });
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
});
afterAll(() => supergraph?.stop());

const createTierMutation =
  'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }';

function createTier(eventId: string, name: string) {
  return supergraph.request(
    createTierMutation,
    { eventId, input: { name, priceCents: 1000, currency: 'EUR', capacity: 10 } },
    { token: organizer.accessToken },
  );
}

describe('an event’s tiers', () => {
  it('are at most MAX_TIERS_PER_EVENT, however many are created at once', async () => {
    const eventId = await draftEvent(supergraph, organizer.accessToken);
    // Enough at once that, counted without a lock, several see room for one more.
    const extra = 15;
    const results = await Promise.all(
      Array.from({ length: maxTiersPerEvent + extra }, (_, i) => createTier(eventId, `Tier ${i}`)),
    );
    expect(results.filter((result) => result.errors === undefined)).toHaveLength(maxTiersPerEvent);
    const refusals = results.flatMap((result) => result.errors ?? []);
    expect(refusals.map((error) => error.extensions)).toEqual(
      Array.from({ length: extra }, () => ({ code: 'TOO_MANY_TIERS', maxTiersPerEvent })),
    );
    expect(await supergraph.databases.tickets.ticketTier.count({ where: { eventId } })).toBe(
      maxTiersPerEvent,
    );
    // Another event's tiers are counted on their own.
    const other = await draftEvent(supergraph, organizer.accessToken);
    expect((await createTier(other, 'GA')).errors).toBeUndefined();
  });
});
