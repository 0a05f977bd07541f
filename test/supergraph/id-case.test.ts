// Ids given in capitals. A UUID's hex digits are case-insensitive on input (RFC 9562), and
// the services store and answer them in lower case: an id argument in capitals names the
// same row as in lower case, whether the services look it up in the database or compare it
// in code with one they read.
import { randomUUID } from 'node:crypto';
import { signedSubgraphHeaders, subgraphSecret } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseMutation } from '../documents.ts';
import { buyTickets, scan } from './door.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, eventOnSale, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let buyer: AuthPayload;
let eventId: string;
let tierId: string;

const tier = { name: 'Floor', priceCents: 2500, currency: 'EUR', capacity: 100, maxPerOrder: 10 };
const capitals = (id: string) => id.toUpperCase();

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  buyer = await signUp(supergraph);
  ({
    eventId,
    tierIds: [tierId = ''],
  } = await eventOnSale(supergraph, organizer.accessToken, [tier]));
});
afterAll(async () => {
  await supergraph?.stop();
});

const refundMutation = `mutation ($orderId: ID!, $ticketIds: [ID!]) {
  refundOrder(orderId: $orderId, ticketIds: $ticketIds) { status refundedCents }
}`;

async function orderOf(quantity: number) {
  const tickets = await buyTickets(supergraph, buyer.accessToken, tierId, quantity);
  const row = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
    where: { id: tickets[0]?.id as string },
  });
  return { id: row.orderId as string, tickets };
}

describe('refundOrder with ids in capitals', () => {
  it('refunds the tickets named, as in lower case', async () => {
    const order = await orderOf(2);
    const result = await supergraph.request<{
      refundOrder: { status: string; refundedCents: number };
    }>(
      refundMutation,
      { orderId: capitals(order.id), ticketIds: [capitals(order.tickets[0]?.id as string)] },
      { token: buyer.accessToken },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.refundOrder).toEqual({
      status: 'PARTIALLY_REFUNDED',
      refundedCents: tier.priceCents,
    });
  });

  it('refuses one ticket named twice, once in capitals, and refunds nothing', async () => {
    const order = await orderOf(2);
    const id = order.tickets[0]?.id as string;
    const result = await supergraph.request(
      refundMutation,
      { orderId: order.id, ticketIds: [id, capitals(id)] },
      { token: buyer.accessToken },
    );
    expect(result.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'ticketIds',
    });
    expect(await supergraph.databases.tickets.refund.count({ where: { orderId: order.id } })).toBe(
      0,
    );
  });
});

describe('purchaseTickets with the tier in capitals', () => {
  it('retried with the same key and the tier in lower case, replays the one order', async () => {
    const idempotencyKey = randomUUID();
    const buy = (id: string) =>
      supergraph.request<{ purchaseTickets: { id: string } }>(
        purchaseMutation,
        { input: { tierId: id, quantity: 1, idempotencyKey } },
        { token: buyer.accessToken },
      );
    const first = await buy(capitals(tierId));
    const retried = await buy(tierId);
    expect(first.errors).toBeUndefined();
    expect(retried.errors).toBeUndefined();
    expect(retried.data?.purchaseTickets.id).toBe(first.data?.purchaseTickets.id);
  });
});

describe('the door with the event in capitals', () => {
  it.each(['code', 'qrToken'] as const)('admits a ticket of the event by its %s', async (kind) => {
    const [ticket] = await buyTickets(supergraph, buyer.accessToken, tierId, 1);
    const scanned = ticket?.[kind] as string;
    const result = await scan(supergraph, organizer.accessToken, scanned, capitals(eventId));
    expect(result.errors).toBeUndefined();
    expect(result.data?.checkInTicket.ticket.id).toBe(ticket?.id);
  });

  it('undoes a check-in', async () => {
    const [ticket] = await buyTickets(supergraph, buyer.accessToken, tierId, 1);
    const id = ticket?.id as string;
    const admitted = await scan(supergraph, organizer.accessToken, ticket?.code as string, eventId);
    expect(admitted.errors).toBeUndefined();
    const undone = await supergraph.request<{ undoCheckIn: { checkedInAt: string | null } }>(
      'mutation ($ticketId: ID!, $eventId: ID!) { undoCheckIn(ticketId: $ticketId, eventId: $eventId) { checkedInAt } }',
      { ticketId: capitals(id), eventId: capitals(eventId) },
      { token: organizer.accessToken },
    );
    expect(undone.errors).toBeUndefined();
    expect(undone.data?.undoCheckIn.checkedInAt).toBeNull();
  });
});

describe('a ticket of yours, named in capitals', () => {
  it('can be cancelled', async () => {
    const [ticket] = await buyTickets(supergraph, buyer.accessToken, tierId, 1);
    const result = await supergraph.request<{ cancelTicket: { id: string; status: string } }>(
      'mutation ($id: ID!) { cancelTicket(id: $id) { id status } }',
      { id: capitals(ticket?.id as string) },
      { token: buyer.accessToken },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.cancelTicket).toEqual({ id: ticket?.id, status: 'CANCELLED' });
  });
});

describe('an entity reference in capitals', () => {
  it('to an event, through _entities, has the event’s tiers', async () => {
    const body = JSON.stringify({
      query:
        'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Event { id ticketTiers { id } } } }',
      variables: { r: [{ __typename: 'Event', id: capitals(eventId) }] },
    });
    const response = await fetch(supergraph.subgraphUrls.tickets, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...signedSubgraphHeaders({
          secret: subgraphSecret('tickets', {}),
          subgraph: 'tickets',
          body,
          viewer: null,
        }),
      },
      body,
    });
    const result = (await response.json()) as {
      data?: { _entities: { id: string; ticketTiers: { id: string }[] }[] };
    };
    expect(result.data?._entities).toEqual([{ id: eventId, ticketTiers: [{ id: tierId }] }]);
  });
});

it('an id that is not a UUID is still not found, named as given', async () => {
  const result = await supergraph.request(
    'mutation ($id: ID!) { cancelTicket(id: $id) { id } }',
    { id: 'Not-A-Ticket' },
    { token: buyer.accessToken },
  );
  expect(codeOf(result)).toBe('NOT_FOUND');
  expect(result.errors?.[0]?.message).toContain('Not-A-Ticket');
});
