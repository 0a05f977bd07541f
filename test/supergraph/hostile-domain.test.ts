// The events and tickets domain under requests that meet each other or come back later:
// a retry after the rules changed, two different mutations on the same object. Each
// answers as the rules say, with a stable code, and leaves nothing half done.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseMutation } from '../documents.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, eventOnSale, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let buyer: AuthPayload;

const tier = { name: 'Balcony', priceCents: 3000, currency: 'EUR', capacity: 50, maxPerOrder: 6 };

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  buyer = await signUp(supergraph);
});
afterAll(async () => {
  await supergraph?.stop();
});

function purchase(input: Record<string, unknown>) {
  return supergraph.request<{ purchaseTickets: { id: string; tickets: { id: string }[] } }>(
    purchaseMutation,
    { input },
    { token: buyer.accessToken },
  );
}

describe('a purchase retried with its key', () => {
  it('after the organizer lowered the tier’s limit per order, answers with its order', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const input = { tierId: tierIds[0], quantity: 4, idempotencyKey: randomUUID() };
    const first = await purchase(input);
    expect(first.errors).toBeUndefined();
    const lowered = await supergraph.request(
      'mutation ($id: ID!) { updateTicketTier(id: $id, input: { maxPerOrder: 2 }) { maxPerOrder } }',
      { id: tierIds[0] },
      { token: organizer.accessToken },
    );
    expect(lowered.errors).toBeUndefined();

    const retried = await purchase(input);
    expect(retried.errors).toBeUndefined();
    expect(retried.data?.purchaseTickets.id).toBe(first.data?.purchaseTickets.id);
    expect(
      await supergraph.databases.tickets.ticket.count({ where: { tierId: tierIds[0] as string } }),
    ).toBe(4);
  });
});
