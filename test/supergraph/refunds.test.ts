// Refunds through the gateway, where they cross subgraphs: the organizer (whom the events
// subgraph names) refunds any order of their event, another organizer none; an event's
// cancellation, relayed from the events service's outbox, refunds every order and hands
// each refund to the payment provider. (Concurrency, sums and bad input:
// subgraphs/tickets/test/refunds.test.ts.)
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buyTickets } from './door.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, cancelledEvent, codeOf, eventOnSale, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let otherOrganizer: AuthPayload;
let buyer: AuthPayload;
let stranger: AuthPayload;
let eventId: string;
let tierId: string;

const tier = { name: 'Stalls', priceCents: 4000, currency: 'GBP', capacity: 50, maxPerOrder: 10 };

interface RefundedOrder {
  status: string;
  refundedCents: number;
  currency: string;
  event: { id: string; title: string };
  refunds: { amountCents: number; currency: string; reason: string }[];
}

const refundMutation = `mutation ($orderId: ID!, $ticketIds: [ID!]) {
  refundOrder(orderId: $orderId, ticketIds: $ticketIds) {
    status refundedCents currency event { id title } refunds { amountCents currency reason }
  }
}`;

function refund(token: string, orderId: string, ticketIds?: string[]) {
  return supergraph.request<{ refundOrder: RefundedOrder }>(
    refundMutation,
    { orderId, ...(ticketIds ? { ticketIds } : {}) },
    { token },
  );
}

/** Buys `quantity` tickets as the buyer; answers with the order's id and its tickets' ids. */
async function order(quantity: number) {
  const tickets = await buyTickets(supergraph, buyer.accessToken, tierId, quantity);
  const row = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
    where: { id: tickets[0]?.id as string },
  });
  return { id: row.orderId as string, ticketIds: tickets.map((ticket) => ticket.id) };
}

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  otherOrganizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  buyer = await signUp(supergraph);
  stranger = await signUp(supergraph);
  ({
    eventId,
    tierIds: [tierId = ''],
  } = await eventOnSale(supergraph, organizer.accessToken, [tier]));
});
afterAll(async () => {
  await supergraph?.stop();
});

describe('refundOrder through the gateway', () => {
  it('lets the event’s organizer refund a buyer’s tickets, and no other organizer or stranger', async () => {
    const bought = await order(3);

    for (const other of [otherOrganizer, stranger]) {
      expect(codeOf(await refund(other.accessToken, bought.id))).toBe('NOT_FOUND');
    }
    const byOrganizer = await refund(organizer.accessToken, bought.id, [
      bought.ticketIds[0] as string,
    ]);

    expect(byOrganizer.errors).toBeUndefined();
    expect(byOrganizer.data?.refundOrder).toEqual({
      status: 'PARTIALLY_REFUNDED',
      refundedCents: 4000,
      currency: 'GBP',
      event: { id: eventId, title: 'On sale' },
      refunds: [{ amountCents: 4000, currency: 'GBP', reason: 'ORGANIZER' }],
    });
    const byBuyer = await refund(buyer.accessToken, bought.id);
    expect(byBuyer.data?.refundOrder).toMatchObject({
      status: 'REFUNDED',
      refundedCents: 12_000,
      refunds: [{ reason: 'ORGANIZER' }, { amountCents: 8000, reason: 'BUYER' }],
    });
  });

  it('refunds every order when the event is cancelled, and sends each refund to the provider', async () => {
    const first = await order(2);
    const second = await order(1);

    await cancelledEvent(supergraph, organizer.accessToken, eventId);

    const tickets = supergraph.databases.tickets;
    const orders = await tickets.order.findMany({
      where: { id: { in: [first.id, second.id] } },
      include: { refunds: true },
      orderBy: { totalCents: 'desc' },
    });
    expect(
      orders.map((o) => [
        o.status,
        o.refundedCents,
        o.refunds.map((r) => [r.reason, r.amountCents]),
      ]),
    ).toEqual([
      ['REFUNDED', 8000, [['EVENT_CANCELLED', 8000]]],
      ['REFUNDED', 4000, [['EVENT_CANCELLED', 4000]]],
    ]);
    const refundIds = orders.flatMap((o) => o.refunds.map((r) => r.id));
    // Sent once the change is committed, in the background of its delivery.
    await vi.waitFor(
      async () =>
        expect(await tickets.refund.count({ where: { id: { in: refundIds }, sentAt: null } })).toBe(
          0,
        ),
      { timeout: 5_000 },
    );
    expect(
      await tickets.paymentInstruction.count({ where: { idempotencyKey: { in: refundIds } } }),
    ).toBe(2);
  });
});

describe('an event’s cancellation while the payment provider is slow', () => {
  it('is acknowledged to the relay without waiting for the provider; the refunds follow', async () => {
    const { eventId: slowEventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      tier,
    ]);
    const slowTierId = tierIds[0] as string;
    for (const quantity of [1, 2])
      await buyTickets(supergraph, buyer.accessToken, slowTierId, quantity);
    const tickets = supergraph.databases.tickets;
    const cancellation = () =>
      supergraph.databases.events.outboxMessage.findFirst({
        where: { eventId: slowEventId, topic: 'event.cancelled' },
      });
    // A real fault: the offline provider's table is locked by this test for 4 s (under the
    // services' 5 s lock deadline), so sending a refund waits as on a slow provider.
    const deliveredWhileSlow = await tickets.$transaction(
      async (tx) => {
        await tx.$executeRawUnsafe('LOCK TABLE payment_instructions IN ACCESS EXCLUSIVE MODE');
        const locked = Date.now();
        const cancelled = await supergraph.request(
          'mutation ($id: ID!) { cancelEvent(id: $id) { id } }',
          { id: slowEventId },
          { token: organizer.accessToken },
        );
        expect(cancelled.errors).toBeUndefined();
        while (Date.now() - locked < 3_500) {
          if ((await cancellation())?.deliveredAt) return true;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        return false;
      },
      { timeout: 15_000 },
    );
    expect(deliveredWhileSlow).toBe(true);
    const orders = await tickets.order.findMany({
      where: { tickets: { some: { eventId: slowEventId } } },
      include: { refunds: true },
    });
    expect(orders.map((o) => o.status)).toEqual(['REFUNDED', 'REFUNDED']);
    const refundIds = orders.flatMap((o) => o.refunds.map((r) => r.id));
    await vi.waitFor(
      async () =>
        expect(
          await tickets.paymentInstruction.count({ where: { idempotencyKey: { in: refundIds } } }),
        ).toBe(2),
      { timeout: 15_000 },
    );
  });
});
