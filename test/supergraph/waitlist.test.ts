// The waitlist through the gateway: buyers queue for a sold-out tier; a raised capacity and
// a cancellation are offered to them in order, with the tier's event resolved by the
// events subgraph; a stranger cannot buy what came back; an offer is bought like a hold;
// and the event's cancellation, arriving through the outbox, ends the queue.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyTickets } from './door.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, eventOnSale, signUp, snapshotReaches } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph({ env: { WAITLIST_OFFER_SECONDS: '600' } });
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
});
afterAll(async () => {
  await supergraph?.stop();
});

interface Entry {
  status: string;
  place: number | null;
  offers: { id: string; quantity: number }[];
  tier: { id: string; available: number; event: { id: string; title: string } };
}

const myWaitlist = async (buyer: AuthPayload) => {
  const result = await supergraph.request<{ myWaitlist: Entry[] }>(
    `{ myWaitlist { status place offers { id quantity } tier { id available event { id title } } } }`,
    {},
    { token: buyer.accessToken },
  );
  expect(result.errors).toBeUndefined();
  return result.data?.myWaitlist ?? [];
};

const join = (buyer: AuthPayload, tierId: string) =>
  supergraph.request<{ joinWaitlist: { status: string; place: number } }>(
    `mutation ($tierId: ID!) { joinWaitlist(tierId: $tierId, quantity: 1) { status place } }`,
    { tierId },
    { token: buyer.accessToken },
  );

describe('the waitlist through the gateway', () => {
  it('offers a raised capacity and a cancelled ticket in queue order, to be bought like a hold', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Pit', priceCents: 4000, currency: 'EUR', capacity: 1 },
    ]);
    const tierId = tierIds[0] as string;
    const holder = await signUp(supergraph);
    const [ticket] = await buyTickets(supergraph, holder.accessToken, tierId);
    const waiters = [await signUp(supergraph), await signUp(supergraph), await signUp(supergraph)];
    for (const [index, waiter] of waiters.entries()) {
      const joined = await join(waiter, tierId);
      expect(joined.data?.joinWaitlist).toEqual({ status: 'WAITING', place: index + 1 });
    }

    const raised = await supergraph.request(
      `mutation ($id: ID!) { updateTicketTier(id: $id, input: { capacity: 2 }) { capacity available } }`,
      { id: tierId },
      { token: organizer.accessToken },
    );
    expect(raised.data).toEqual({ updateTicketTier: { capacity: 2, available: 0 } });
    const cancelled = await supergraph.request(
      `mutation ($id: ID!) { cancelTicket(id: $id) { status tier { available } } }`,
      { id: ticket?.id },
      { token: holder.accessToken },
    );
    expect(cancelled.data).toEqual({
      cancelTicket: { status: 'CANCELLED', tier: { available: 0 } },
    });

    const stranger = await signUp(supergraph);
    const refused = await supergraph.request(
      `mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id } }`,
      { input: { tierId, quantity: 1, idempotencyKey: 'stranger-purchase-1' } },
      { token: stranger.accessToken },
    );
    expect(codeOf(refused)).toBe('SOLD_OUT');

    const [first] = await myWaitlist(waiters[0] as AuthPayload);
    expect(first).toMatchObject({
      status: 'OFFERED',
      place: null,
      tier: { id: tierId, available: 0, event: { id: eventId, title: 'On sale' } },
    });
    expect(first?.offers).toHaveLength(1);
    expect(await myWaitlist(waiters[1] as AuthPayload)).toMatchObject([{ status: 'OFFERED' }]);
    expect(await myWaitlist(waiters[2] as AuthPayload)).toMatchObject([
      { status: 'WAITING', place: 1, offers: [] },
    ]);

    const bought = await supergraph.request<{ purchaseTickets: { tickets: { id: string }[] } }>(
      `mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { tickets { id } } }`,
      { input: { holdId: first?.offers[0]?.id, idempotencyKey: 'waiter-purchase-1' } },
      { token: (waiters[0] as AuthPayload).accessToken },
    );
    expect(bought.errors).toBeUndefined();
    expect(bought.data?.purchaseTickets.tickets).toHaveLength(1);
  });

  it('ends with the event’s cancellation, and withdraws its offers', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Pit', priceCents: 4000, currency: 'EUR', capacity: 1 },
    ]);
    const tierId = tierIds[0] as string;
    const holder = await signUp(supergraph);
    const [ticket] = await buyTickets(supergraph, holder.accessToken, tierId);
    const [offered, waiting] = [await signUp(supergraph), await signUp(supergraph)];
    await join(offered, tierId);
    await join(waiting, tierId);
    await supergraph.request(
      `mutation ($id: ID!) { cancelTicket(id: $id) { id } }`,
      { id: ticket?.id },
      { token: holder.accessToken },
    );
    expect((await myWaitlist(offered))[0]?.offers).toHaveLength(1);

    await supergraph.request(
      `mutation ($id: ID!) { cancelEvent(id: $id, reason: "Storm") { status } }`,
      { id: eventId },
      { token: organizer.accessToken },
    );
    await snapshotReaches(supergraph, eventId, 'CANCELLED');
    expect(await myWaitlist(offered)).toMatchObject([{ status: 'CANCELLED', offers: [] }]);
    expect(await myWaitlist(waiting)).toMatchObject([{ status: 'CANCELLED', place: null }]);
    expect(codeOf(await join(await signUp(supergraph), tierId))).toBe('SALES_CLOSED');
  });
});
