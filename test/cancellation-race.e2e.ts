// Purchases and holds racing the cancellation of their events, through NGINX, both gateways
// and the outbox, on PostgreSQL: whatever the interleaving, no ticket or hold stays active
// on a cancelled event, stock adds up, and every purchase a buyer was told about exists and
// is refunded once.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiResponse,
  type Call,
  holdMutation,
  outcomeOf,
  purchaseMutation,
  type SaleTopology,
  startSaleTopology,
  tierOnSale,
  waitFor,
} from './sales.ts';

let sale: SaleTopology;
let call: Call;
let organizerToken: string;
let buyers: { id: string; token: string }[];
let tickets: SaleTopology['tickets'];

beforeAll(async () => {
  sale = await startSaleTopology('race', { buyers: 60 });
  ({ call, tickets, buyers } = sale);
  organizerToken = sale.organizer.token;
}, 120_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(sale.started.logs.join('\n'));
});

afterAll(async () => {
  await sale?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What one buyer tried, and what they were told. */
interface Attempt {
  buyerId: string;
  kind: 'purchase' | 'hold' | 'hold-then-purchase';
  outcome: string;
  orderId?: string;
  holdId?: string;
}

/** Outcomes a buyer may be told in this race; anything else is a failure of the test. */
const expectedOutcomes = new Set([
  'OK',
  'SALES_CLOSED',
  'SOLD_OUT',
  'PURCHASE_LIMIT_REACHED',
  'TOO_MANY_HOLDS',
  'HOLD_EXPIRED',
]);

async function attempt(i: number, round: number, tierId: string): Promise<Attempt> {
  const buyer = buyers[i % buyers.length] as { id: string; token: string };
  const purchase = (input: Record<string, unknown>) =>
    call(buyer.token, purchaseMutation, {
      input: { ...input, idempotencyKey: `race-${round}-${i}` },
    });
  const orderOf = (response: ApiResponse) =>
    (response.body.data?.purchaseTickets as { id: string } | undefined)?.id;
  switch (i % 3) {
    case 0: {
      const response = await purchase({ tierId, quantity: 1 + (i % 2) });
      return {
        buyerId: buyer.id,
        kind: 'purchase',
        outcome: outcomeOf(response),
        orderId: orderOf(response),
      };
    }
    case 1: {
      const response = await call(buyer.token, holdMutation, { tierId, quantity: 1 });
      const holdId = (response.body.data?.holdTickets as { id: string } | undefined)?.id;
      return { buyerId: buyer.id, kind: 'hold', outcome: outcomeOf(response), holdId };
    }
    default: {
      const held = await call(buyer.token, holdMutation, { tierId, quantity: 1 });
      const holdId = (held.body.data?.holdTickets as { id: string } | undefined)?.id;
      if (!holdId) return { buyerId: buyer.id, kind: 'hold', outcome: outcomeOf(held) };
      const response = await purchase({ holdId });
      return {
        buyerId: buyer.id,
        kind: 'hold-then-purchase',
        outcome: outcomeOf(response),
        orderId: orderOf(response),
      };
    }
  }
}

describe('purchases and holds racing event cancellations', () => {
  it('leave nothing active on a cancelled event, and lose no confirmed purchase, five times over', async () => {
    const totals: Record<string, number> = {};
    for (let round = 0; round < 5; round++) {
      const sales = await Promise.all(
        Array.from({ length: 10 }, (_, e) =>
          tierOnSale({
            call,
            tickets,
            organizerToken,
            capacity: 40,
            maxPerOrder: 4,
            title: `Race ${round}.${e}`,
          }),
        ),
      );
      // 300 attempts, 30 an event, started 3 ms apart; each event is cancelled at a random
      // moment inside that window, so that sales land before, during and after it.
      const attempts = Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          await sleep(i * 3);
          return attempt(i, round, (sales[i % sales.length] as { tierId: string }).tierId);
        }),
      );
      const cancellations = Promise.all(
        sales.map(async ({ eventId }) => {
          await sleep(200 + Math.random() * 600);
          const response = await call(
            organizerToken,
            'mutation ($id: ID!) { cancelEvent(id: $id) { status } }',
            { id: eventId },
          );
          expect(outcomeOf(response)).toBe('OK');
        }),
      );
      const [tried] = await Promise.all([attempts, cancellations]);
      const told = tried.map((entry) => entry.outcome);
      for (const outcome of told) totals[outcome] = (totals[outcome] ?? 0) + 1;
      expect(
        told.filter((outcome) => !expectedOutcomes.has(outcome)),
        `round ${round}`,
      ).toEqual([]);

      const eventIds = sales.map((sale) => sale.eventId);
      const tierIds = sales.map((sale) => sale.tierId);
      await waitFor(
        async () =>
          (await tickets.prisma.eventSnapshot.count({
            where: { eventId: { in: eventIds }, status: 'CANCELLED' },
          })) === eventIds.length,
        'the tickets service to hear of every cancellation',
      );

      // Nothing active on a cancelled event.
      expect(
        await tickets.prisma.ticket.count({
          where: { eventId: { in: eventIds }, status: 'ACTIVE' },
        }),
        `round ${round}: active tickets`,
      ).toBe(0);
      expect(
        await tickets.prisma.hold.count({ where: { tierId: { in: tierIds }, status: 'ACTIVE' } }),
        `round ${round}: active holds`,
      ).toBe(0);
      // Each tier's counters are what its tickets and holds say: nothing sold, nothing held.
      const tiers = await tickets.prisma.ticketTier.findMany({ where: { id: { in: tierIds } } });
      expect(tiers.map((tier) => [tier.sold, tier.held])).toEqual(tierIds.map(() => [0, 0]));
      expect(
        await tickets.prisma.eventAllowance.count({
          where: { eventId: { in: eventIds }, tickets: { gt: 0 } },
        }),
      ).toBe(0);

      // Every purchase a buyer was told about exists once, with its tickets, theirs.
      const confirmed = tried.filter((entry) => entry.outcome === 'OK' && entry.orderId);
      const orders = await tickets.prisma.order.findMany({
        where: { id: { in: confirmed.map((entry) => entry.orderId as string) } },
        include: { tickets: true, refunds: true },
      });
      expect(orders).toHaveLength(confirmed.length);
      for (const entry of confirmed) {
        const order = orders.find((candidate) => candidate.id === entry.orderId);
        expect(order?.buyerId).toBe(entry.buyerId);
        expect(order?.tickets.length).toBeGreaterThan(0);
        expect(order?.tickets.every((ticket) => ticket.status === 'CANCELLED')).toBe(true);
        // ... and the cancellation refunded it in full, once.
        expect(order?.refunds.map((refund) => refund.reason)).toEqual(['EVENT_CANCELLED']);
        expect([order?.status, order?.refundedCents]).toEqual(['REFUNDED', order?.totalCents]);
      }
      // Every hold a buyer was told about exists, and the cancellation ended it.
      const holds = tried.filter((entry) => entry.kind === 'hold' && entry.outcome === 'OK');
      expect(
        await tickets.prisma.hold.count({
          where: { id: { in: holds.map((entry) => entry.holdId as string) }, status: 'EXPIRED' },
        }),
      ).toBe(holds.length);
    }
    // The race was real: sales went through before the cancellations, and were refused after.
    expect(totals.OK ?? 0, JSON.stringify(totals)).toBeGreaterThan(0);
    expect(totals.SALES_CLOSED ?? 0, JSON.stringify(totals)).toBeGreaterThan(0);
    console.info('race outcomes over five rounds:', JSON.stringify(totals));
  });
});
