// A PostgreSQL server of the test's own, restarted ten times under purchase load, behind the
// whole topology: every service stays up, sales resume within 2 s of each restart, and
// every purchase a client was told about exists exactly once.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type OwnPostgres, startOwnPostgres } from './own-servers.ts';
import {
  type Call,
  outcomeOf,
  purchaseMutation,
  type SaleTopology,
  startSaleTopology,
  tierOnSale,
} from './sales.ts';

let postgres: OwnPostgres;
let sale: SaleTopology;
let call: Call;
let buyers: { id: string; token: string }[];
let tierId: string;

beforeAll(async () => {
  postgres = await startOwnPostgres();
  sale = await startSaleTopology('pgrestart', {
    buyers: 10,
    // Each client buys in a loop as load, far faster than a person: past any account's
    // write budget (README, Write budget).
    env: { MAX_TICKETS_PER_EVENT: '100000', ACCOUNT_WRITES_PER_SECOND: '1000000' },
    databaseServerUrl: postgres.url,
  });
  ({ call, buyers } = sale);
  ({ tierId } = await tierOnSale({
    call,
    tickets: sale.tickets,
    organizerToken: sale.organizer.token,
    capacity: 100_000,
  }));
}, 180_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(sale.started.logs.join('\n'));
});

afterAll(async () => {
  await sale?.stop();
  await postgres?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('PostgreSQL restarted under purchase load', () => {
  it('keeps every service up, sells again within 2 s, and loses or doubles no purchase', async () => {
    /** What each client was told: its idempotency key's order, once confirmed. */
    const confirmed = new Map<string, { buyerId: string; orderId: string; quantity: number }>();
    const told: Record<string, number> = {};
    let stopping = false;

    // Each client buys, and retries a purchase it got no confirmation for with the same
    // key, as the API asks, until it is confirmed.
    const clients = Array.from({ length: 16 }, async (_, client) => {
      const buyer = buyers[client % buyers.length] as { id: string; token: string };
      while (!stopping) {
        const key = randomUUID();
        const quantity = 1 + (client % 2);
        for (;;) {
          const response = await call(buyer.token, purchaseMutation, {
            input: { tierId, quantity, idempotencyKey: key },
          }).catch(() => undefined);
          const outcome = response ? outcomeOf(response) : 'NO_ANSWER';
          told[outcome] = (told[outcome] ?? 0) + 1;
          const order = response?.body.data?.purchaseTickets as { id: string } | undefined;
          if (order) {
            confirmed.set(key, { buyerId: buyer.id, orderId: order.id, quantity });
            break;
          }
          expect(['SERVICE_UNAVAILABLE', 'IDEMPOTENCY_KEY_IN_USE', 'NO_ANSWER']).toContain(outcome);
          await sleep(50);
        }
      }
    });

    const recoveries: number[] = [];
    for (let restart = 0; restart < 10; restart++) {
      await sleep(1_000);
      await postgres.restart(restart % 2 === 0 ? 'fast' : 'immediate');
      // From the moment the server accepts connections again: how long until a sale goes
      // through, for a buyer who was not in the middle of one.
      const back = Date.now();
      const buyer = buyers[buyers.length - 1] as { token: string };
      for (;;) {
        const response = await call(buyer.token, purchaseMutation, {
          input: { tierId, quantity: 1, idempotencyKey: randomUUID() },
        });
        if (outcomeOf(response) === 'OK') break;
        if (Date.now() - back > 10_000)
          throw new Error(`no sale within 10 s of restart ${restart}`);
        await sleep(50);
      }
      recoveries.push(Date.now() - back);
    }
    stopping = true;
    await Promise.all(clients);
    console.info(
      'ms from each restart to the next sale:',
      recoveries.join(', '),
      'outcomes:',
      JSON.stringify(told),
    );

    expect(Math.max(...recoveries)).toBeLessThanOrEqual(2_000);
    for (const [name, running] of sale.started.topology.processes) {
      expect(running.child.exitCode, `${name} exited`).toBeNull();
    }
    expect(told.SERVICE_UNAVAILABLE ?? 0, 'the restarts were felt').toBeGreaterThan(0);

    const { tickets } = sale;
    const orders = await tickets.prisma.order.findMany({
      where: { idempotencyKey: { in: [...confirmed.keys()] } },
      include: { tickets: true },
    });
    expect(orders).toHaveLength(confirmed.size);
    for (const order of orders) {
      const expected = confirmed.get(order.idempotencyKey);
      expect({ id: order.id, buyer: order.buyerId, tickets: order.tickets.length }).toEqual({
        id: expected?.orderId,
        buyer: expected?.buyerId,
        tickets: expected?.quantity,
      });
    }
    const tier = await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
    expect(tier.sold).toBe(
      await tickets.prisma.ticket.count({ where: { tierId, status: 'ACTIVE' } }),
    );
  });
});
