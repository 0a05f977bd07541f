// The purchase rush, through NGINX and both gateway processes, on PostgreSQL: every seat is
// sold exactly once, and an idempotency key buys once however often it is sent.
import { randomUUID } from 'node:crypto';
import type { ticketsDatabase } from '@ticketing/prisma/tickets';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  purchaseMutation,
  tierOnSale as putTierOnSale,
  type SaleTopology,
  startSaleTopology,
} from './sales.ts';
import type { TestTopology } from './support.ts';

let sale: SaleTopology;
let started: TestTopology;
let tickets: Awaited<ReturnType<typeof ticketsDatabase.open>>;
let organizerToken: string;
let buyers: { id: string; token: string }[];

interface Response {
  servedBy: string | null;
  body: { data?: Record<string, unknown> | null; errors?: { extensions?: { code?: string } }[] };
}

async function call(
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<Response> {
  const response = await fetch(started.topology.publicUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { servedBy: response.headers.get('x-served-by'), body: await response.json() };
}

beforeAll(async () => {
  // Fifty buyers and an organizer, with tokens signed by the users service's key: logging
  // fifty people in would only measure scrypt.
  sale = await startSaleTopology('purchase', {
    buyers: 50,
    env: { HOLD_SECONDS: '1', HOLD_SWEEP_INTERVAL_MS: '200' },
  });
  ({ started, tickets } = sale);
  organizerToken = sale.organizer.token;
  buyers = sale.buyers;
}, 120_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(started.logs.join('\n'));
});

afterAll(async () => {
  await sale?.stop();
});

/** A published event with one tier of `capacity`, on sale once the tickets service knows. */
async function tierOnSale(capacity: number, maxPerOrder = 10): Promise<string> {
  const onSale = await putTierOnSale({
    call: sale.call,
    tickets,
    organizerToken,
    capacity,
    maxPerOrder,
    timeoutMs: 10_000,
  });
  return onSale.tierId;
}

const purchase = purchaseMutation;

function codes(responses: Response[]): Record<string, number> {
  const counted: Record<string, number> = {};
  for (const response of responses) {
    const code = response.body.errors
      ? (response.body.errors[0]?.extensions?.code ?? 'UNKNOWN')
      : 'OK';
    counted[code] = (counted[code] ?? 0) + 1;
  }
  return counted;
}

describe('a purchase rush', () => {
  it('sells exactly 100 of 100 seats to 500 concurrent buyers, five times over', async () => {
    for (let round = 0; round < 5; round++) {
      const tierId = await tierOnSale(100);
      const responses = await Promise.all(
        Array.from({ length: 500 }, (_, i) => {
          const buyer = buyers[i % buyers.length] as { token: string };
          return call(buyer.token, purchase, {
            input: { tierId, quantity: 1, idempotencyKey: `rush-${round}-${i}` },
          });
        }),
      );
      expect(codes(responses), `round ${round}`).toEqual({ OK: 100, SOLD_OUT: 400 });
      expect(new Set(responses.map((response) => response.servedBy))).toEqual(
        new Set(['gateway-1', 'gateway-2']),
      );
      const tier = await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
      expect({ sold: tier.sold, held: tier.held }).toEqual({ sold: 100, held: 0 });
      expect(await tickets.prisma.ticket.count({ where: { tierId } })).toBe(100);
      expect(await tickets.prisma.order.count({ where: { tickets: { some: { tierId } } } })).toBe(
        100,
      );
    }
  });

  it('never sells more than 97 seats to orders of 1 to 4, and never goes negative', async () => {
    const tierId = await tierOnSale(97, 4);
    const quantities = Array.from({ length: 200 }, (_, i) => 1 + ((i * 7) % 4));
    const responses = await Promise.all(
      quantities.map((quantity, i) =>
        call((buyers[i % buyers.length] as { token: string }).token, purchase, {
          input: { tierId, quantity, idempotencyKey: `mixed-order-${i}` },
        }),
      ),
    );
    const outcome = codes(responses);
    expect(
      Object.keys(outcome).every((code) =>
        ['OK', 'SOLD_OUT', 'PURCHASE_LIMIT_REACHED'].includes(code),
      ),
      JSON.stringify(outcome),
    ).toBe(true);
    const bought = responses.reduce(
      (sum, response, i) => sum + (response.body.errors ? 0 : (quantities[i] as number)),
      0,
    );
    const tier = await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
    expect(tier.sold).toBe(bought);
    expect(tier.sold).toBeLessThanOrEqual(97);
    expect(tier.sold).toBeGreaterThanOrEqual(94); // the last order of up to 4 that did not fit
    expect(tier.capacity - tier.sold - tier.held).toBeGreaterThanOrEqual(0);
    expect(await tickets.prisma.ticket.count({ where: { tierId } })).toBe(bought);
  });

  it('creates one order for an idempotency key sent 20 times at once', async () => {
    const tierId = await tierOnSale(50);
    const [buyer] = buyers as [{ id: string; token: string }];
    const input = { tierId, quantity: 2, idempotencyKey: `same-key-${randomUUID()}` };
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => call(buyer.token, purchase, { input })),
    );
    const outcome = codes(responses);
    expect(
      Object.keys(outcome).every((code) => ['OK', 'IDEMPOTENCY_KEY_IN_USE'].includes(code)),
      JSON.stringify(outcome),
    ).toBe(true);
    const orders = responses.flatMap((response) =>
      response.body.data?.purchaseTickets
        ? [(response.body.data.purchaseTickets as { id: string }).id]
        : [],
    );
    expect(orders.length).toBeGreaterThan(0);
    expect(new Set(orders).size).toBe(1);
    expect(
      await tickets.prisma.order.count({
        where: { buyerId: buyer.id, idempotencyKey: input.idempotencyKey },
      }),
    ).toBe(1);
    expect(
      (await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } })).sold,
    ).toBe(2);

    // Sent again later, it returns the same order; with another payload, it is refused.
    const replay = await call(buyer.token, purchase, { input });
    const replayed = replay.body.data?.purchaseTickets as { id: string } | undefined;
    expect(replayed?.id).toBe(orders[0]);
    const other = await call(buyer.token, purchase, { input: { ...input, quantity: 3 } });
    expect(other.body.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(
      (await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } })).sold,
    ).toBe(2);
  });

  it('returns an expired hold’s stock by itself, and restocks a cancelled ticket exactly once', async () => {
    const tierId = await tierOnSale(3, 3);
    const [holder, other] = buyers as [
      (typeof buyers)[number],
      (typeof buyers)[number],
      ...typeof buyers,
    ];
    const hold = await call(
      holder.token,
      'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 3) { id } }',
      {
        tierId,
      },
    );
    expect(hold.body.errors).toBeUndefined();
    const blocked = await call(other.token, purchase, {
      input: { tierId, quantity: 1, idempotencyKey: randomUUID() },
    });
    expect(blocked.body.errors?.[0]?.extensions?.code).toBe('SOLD_OUT');

    // Nothing touches the tier; the tickets service's sweeper returns the stock.
    const waited = Date.now();
    while (
      (await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } })).held !== 0
    ) {
      if (Date.now() - waited > 5_000) throw new Error('the expired hold was not returned');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const bought = await call(other.token, purchase, {
      input: { tierId, quantity: 2, idempotencyKey: randomUUID() },
    });
    const order = bought.body.data?.purchaseTickets as { tickets: { id: string }[] } | undefined;
    expect(order?.tickets).toHaveLength(2);
    const ticketId = order?.tickets[0]?.id as string;
    const cancel = 'mutation ($id: ID!) { cancelTicket(id: $id) { status } }';
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => call(other.token, cancel, { id: ticketId })),
    );
    expect(codes(responses)).toEqual({ OK: 1, TICKET_ALREADY_CANCELLED: 4 });
    expect(
      (await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } })).sold,
    ).toBe(1);
  });
});
