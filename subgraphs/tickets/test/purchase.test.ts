// The purchase through the tickets subgraph on a real PostgreSQL database: one statement a
// purchase, the tier's own rules (its sales window, its limit per order, the tier itself)
// decided by that statement, with the errors they always had.
import { randomUUID } from 'node:crypto';
import type { Identity } from '@ticketing/auth';
import { executorFor } from '@ticketing/platform/testing';
import { dropDatabase, uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { preparedStatements, ticketsDatabase } from '@ticketing/prisma/tickets';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createContext } from '../src/context.ts';
import { createTicketsServer } from '../src/server.ts';
import { createTicketsServices } from '../src/subgraph.ts';

type Database = Awaited<ReturnType<typeof ticketsDatabase.open>>;

const eventId = '0190a000-0000-7000-8001-0000000000a1';
const url = uniqueTestDatabaseUrl('tickets_purchase');
let database: Database;
/** Every statement the service sent, in order. */
const statements: string[] = [];
const server = createTicketsServer();

const buyer: Identity = { userId: randomUUID(), role: 'CUSTOMER', sessionId: 'test' };
// Neither peer is asked during a purchase: both point at a closed port.
const nowhere = 'http://127.0.0.1:9/graphql';
const settings = { holdSeconds: 60, perUserCap: 10, maxActiveHolds: 3 };
type Service = ReturnType<typeof createTicketsServices>['service'];
let service: Service;
/** With group commit on, over the same database. */
let grouping: Service;
const runAs = (viewer: Identity, using: () => Service = () => service) =>
  executorFor(server, () =>
    createContext(database.prisma, using(), {
      viewer,
      clientAddress: undefined,
      requestId: undefined,
    }),
  );
const run = runAs(buyer);

const purchase = /* GraphQL */ `
  mutation ($input: PurchaseInput!) {
    purchaseTickets(input: $input) { totalCents tickets { id } }
  }
`;

interface Refusal {
  message: string;
  extensions?: Record<string, unknown>;
}

async function buy(tierId: string, quantity: number) {
  statements.length = 0;
  const result = await run<{ purchaseTickets: { totalCents: number; tickets: unknown[] } }>(
    purchase,
    { input: { tierId, quantity, idempotencyKey: randomUUID() } },
  );
  return { ...result, errors: result.errors as Refusal[] | undefined, sql: [...statements] };
}

async function tier(data: { maxPerOrder?: number; salesStartAt?: Date; salesEndAt?: Date } = {}) {
  const { id } = await database.prisma.ticketTier.create({
    data: { eventId, name: 'Floor', priceCents: 2500, currency: 'EUR', capacity: 20, ...data },
  });
  return id;
}

const soldOf = async (id: string) =>
  (await database.prisma.ticketTier.findUniqueOrThrow({ where: { id } })).sold;

beforeAll(async () => {
  database = await ticketsDatabase.open(
    { kind: 'postgres', url },
    { onQuery: (sql) => statements.push(sql) },
  );
  await database.prisma.eventSnapshot.create({
    data: {
      eventId,
      status: 'PUBLISHED',
      startsAt: new Date(Date.now() + 86_400_000),
      version: 1,
    },
  });
  const peers = {
    events: { url: nowhere, secret: 'unused' },
    users: { url: nowhere, secret: 'unused' },
  };
  service = createTicketsServices(database.prisma, peers, settings).service;
  grouping = createTicketsServices(database.prisma, peers, {
    ...settings,
    perUserCap: 4,
    groupCommit: { maxSize: 8, queueWaitMs: 10_000 },
  }).service;
  await server.start();
});
beforeEach(() => {
  statements.length = 0;
});
afterAll(async () => {
  await server.stop();
  await database?.close();
  await dropDatabase(url);
});

describe('a purchase', () => {
  it('is one statement to the database', async () => {
    const tierId = await tier();
    const { data, errors, sql } = await buy(tierId, 2);

    expect(errors).toBeUndefined();
    expect(data?.purchaseTickets).toMatchObject({ totalCents: 5000 });
    expect(data?.purchaseTickets.tickets).toHaveLength(2);
    expect(sql).toHaveLength(1);
    expect(sql[0]).toMatch(/purchase_tickets\(/);
  });

  it('of an unknown tier is NOT_FOUND, in that one statement', async () => {
    const unknown = randomUUID();
    const { errors, sql } = await buy(unknown, 1);

    expect(errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(errors?.[0]?.message).toBe(`No ticket tier has the id ${unknown}.`);
    expect(sql).toHaveLength(1);
  });

  it('before the tier’s sales open is SALES_CLOSED with its window, and sells nothing', async () => {
    const salesStartAt = new Date(Date.now() + 3_600_000);
    const tierId = await tier({ salesStartAt });
    const { errors, sql } = await buy(tierId, 1);

    expect(errors?.[0]?.message).toBe('This tier is not on sale now.');
    expect(errors?.[0]?.extensions).toMatchObject({
      code: 'SALES_CLOSED',
      salesStartAt: salesStartAt.toISOString(),
    });
    expect(errors?.[0]?.extensions?.salesEndAt).toBeUndefined();
    expect(sql).toHaveLength(1);
    expect(await soldOf(tierId)).toBe(0);
  });

  it('after the tier’s sales end is SALES_CLOSED with its window', async () => {
    const salesStartAt = new Date(Date.now() - 7_200_000);
    const salesEndAt = new Date(Date.now() - 3_600_000);
    const tierId = await tier({ salesStartAt, salesEndAt });
    const { errors } = await buy(tierId, 1);

    expect(errors?.[0]?.extensions).toMatchObject({
      code: 'SALES_CLOSED',
      salesStartAt: salesStartAt.toISOString(),
      salesEndAt: salesEndAt.toISOString(),
    });
    expect(await soldOf(tierId)).toBe(0);
  });

  it('over the tier’s limit per order is ORDER_LIMIT_EXCEEDED naming the field and the limit', async () => {
    const tierId = await tier({ maxPerOrder: 3 });
    const { errors, sql } = await buy(tierId, 4);

    expect(errors?.[0]?.message).toBe('At most 3 tickets per order.');
    expect(errors?.[0]?.extensions).toMatchObject({
      code: 'ORDER_LIMIT_EXCEEDED',
      field: 'input.quantity',
      maxPerOrder: 3,
    });
    expect(sql).toHaveLength(1);
    expect(await soldOf(tierId)).toBe(0);
  });
});

describe('past the per-person cap for the event', () => {
  const holdTickets = /* GraphQL */ `
    mutation ($tierId: ID!, $quantity: Int!) { holdTickets(tierId: $tierId, quantity: $quantity) { id } }
  `;

  it('a purchase is PURCHASE_LIMIT_REACHED naming input.quantity, as ORDER_LIMIT_EXCEEDED does', async () => {
    const tierId = await tier();
    const asNewBuyer = runAs({ userId: randomUUID(), role: 'CUSTOMER', sessionId: 'test' });
    const bought = await asNewBuyer(purchase, {
      input: { tierId, quantity: 6, idempotencyKey: randomUUID() },
    });
    expect(bought.errors).toBeUndefined();

    const refused = await asNewBuyer(purchase, {
      input: { tierId, quantity: 6, idempotencyKey: randomUUID() },
    });
    expect((refused.errors as Refusal[] | undefined)?.[0]?.extensions).toMatchObject({
      code: 'PURCHASE_LIMIT_REACHED',
      field: 'input.quantity',
      perUserCap: 10,
    });
    expect(await soldOf(tierId)).toBe(6);
  });

  it('a hold is PURCHASE_LIMIT_REACHED naming quantity, as a waitlist entry is', async () => {
    const tierId = await tier();
    const asNewBuyer = runAs({ userId: randomUUID(), role: 'CUSTOMER', sessionId: 'test' });
    expect((await asNewBuyer(holdTickets, { tierId, quantity: 6 })).errors).toBeUndefined();

    const refused = await asNewBuyer(holdTickets, { tierId, quantity: 6 });
    expect((refused.errors as Refusal[] | undefined)?.[0]?.extensions).toMatchObject({
      code: 'PURCHASE_LIMIT_REACHED',
      field: 'quantity',
      perUserCap: 10,
    });
  });
});

describe('a purchase from a hold', () => {
  it('whose total does not fit an order (a hold older than the limit’s rule) is ORDER_LIMIT_EXCEEDED, and keeps the hold', async () => {
    // A hold of 30 at the top price, as a hold made before the rule on price × limit and
    // given its tier's later price by the migration that recorded holds' prices: 30 tickets
    // would total 3,000,000,000 cents.
    const tierId = await tier({ maxPerOrder: 30 });
    const hold = await database.prisma.$transaction(async (tx) => {
      await tx.ticketTier.update({ where: { id: tierId }, data: { capacity: 40, held: 30 } });
      return tx.hold.create({
        data: {
          tierId,
          userId: buyer.userId,
          quantity: 30,
          priceCents: 100_000_000,
          currency: 'EUR',
          expiresAt: new Date(Date.now() + 60_000),
        },
      });
    });
    await database.prisma.ticketTier.update({
      where: { id: tierId },
      data: { priceCents: 100_000_000, maxPerOrder: 21 },
    });

    statements.length = 0;
    const result = await run(purchase, {
      input: { holdId: hold.id, idempotencyKey: randomUUID() },
    });

    expect(result.errors?.[0]?.message).toBe('At most 21 tickets per order.');
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'ORDER_LIMIT_EXCEEDED',
      field: 'input.holdId',
      maxPerOrder: 21,
    });
    expect(statements.filter((sql) => sql.includes('purchase_tickets('))).toHaveLength(1);
    expect(
      await database.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } }),
    ).toMatchObject({
      sold: 0,
      held: 30,
    });
    expect(await database.prisma.hold.findUniqueOrThrow({ where: { id: hold.id } })).toMatchObject({
      status: 'ACTIVE',
    });
    expect(
      await database.prisma.order.count({
        where: { buyerId: buyer.userId, tickets: { some: { tierId } } },
      }),
    ).toBe(0);
  });
});

describe('a hold', () => {
  it('is bought at the price it was made at; a purchase without one pays the tier’s price', async () => {
    const tierId = await tier();
    const setPrice = (priceCents: number) =>
      database.prisma.ticketTier.update({ where: { id: tierId }, data: { priceCents } });
    await setPrice(5000);
    const held = await run<{ holdTickets: { id: string; priceCents: number; currency: string } }>(
      /* GraphQL */ `
        mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 2) { id priceCents currency } }
      `,
      { tierId },
    );
    expect(held.errors).toBeUndefined();
    expect(held.data?.holdTickets).toMatchObject({ priceCents: 5000, currency: 'EUR' });
    await setPrice(8000);

    const fromHold = await run<{ purchaseTickets: { totalCents: number } }>(purchase, {
      input: { holdId: held.data?.holdTickets.id, idempotencyKey: randomUUID() },
    });
    expect(fromHold.errors).toBeUndefined();
    expect(fromHold.data?.purchaseTickets.totalCents).toBe(10_000);
    const withoutHold = await buy(tierId, 1);
    expect(withoutHold.errors).toBeUndefined();
    expect(withoutHold.data?.purchaseTickets.totalCents).toBe(8000);
  });
});

describe('purchases of one tier at once, with group commit on', () => {
  const customer = (): Identity => ({ userId: randomUUID(), role: 'CUSTOMER', sessionId: 'test' });
  const buyAt = (
    viewer: Identity,
    tierId: string,
    quantity: number,
    idempotencyKey: string = randomUUID(),
  ) =>
    runAs(viewer, () => grouping)<{ purchaseTickets: { totalCents: number; tickets: unknown[] } }>(
      purchase,
      { input: { tierId, quantity, idempotencyKey } },
    );
  const codeOf = (result: { errors?: readonly { extensions?: Record<string, unknown> }[] }) =>
    result.errors?.[0]?.extensions?.code ?? 'OK';

  it('share statements, each buyer with their own order or refusal, never past the stock', async () => {
    const tierId = await tier({ maxPerOrder: 3 });
    const same = customer();
    // 15 tickets to ten buyers, 3 + 2 to one buyer whose cap is 4, then 2 each to three more
    // for the last 2 seats, and one order over the tier's limit.
    const wanted = [
      ...Array.from({ length: 10 }, (_, i) => [customer(), 1 + (i % 2)] as const),
      [same, 3] as const,
      [same, 2] as const,
      ...Array.from({ length: 3 }, () => [customer(), 2] as const),
      [customer(), 4] as const,
    ];
    const results = await Promise.all(
      wanted.map(([viewer, quantity]) => buyAt(viewer, tierId, quantity)),
    );
    const sent = [...statements];

    const codes = results.map(codeOf);
    expect(codes.at(-1)).toBe('ORDER_LIMIT_EXCEEDED');
    // The same buyer twice: the cap (4) lets one of the two through, whichever came first.
    expect(codes.slice(10, 12).toSorted()).toEqual(['OK', 'PURCHASE_LIMIT_REACHED']);
    const sold = results.reduce((n, r) => n + (r.data?.purchaseTickets.tickets.length ?? 0), 0);
    expect(sold).toBe(20);
    expect(codes.filter((code) => code === 'SOLD_OUT')).toHaveLength(2);
    expect(new Set(codes)).toEqual(
      new Set(['OK', 'SOLD_OUT', 'PURCHASE_LIMIT_REACHED', 'ORDER_LIMIT_EXCEEDED']),
    );
    expect(await soldOf(tierId)).toBe(20);
    expect(await database.prisma.ticket.count({ where: { tierId } })).toBe(20);
    // 16 purchases, at most 8 a statement: two groups, not 16 statements.
    const groups = sent.filter((sql) => sql.includes('purchase_tickets_group('));
    expect(groups.length).toBeGreaterThanOrEqual(2);
    expect(sent.filter((sql) => /purchase_tickets(_group)?\(/.test(sql)).length).toBeLessThan(
      wanted.length,
    );
  });

  it('sell one key once when its requests come together, and replay it after', async () => {
    const tierId = await tier();
    const viewer = customer();
    const key = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => buyAt(viewer, tierId, 2, key)),
    );

    const codes = results.map(codeOf);
    expect(codes.filter((code) => code === 'OK')).toHaveLength(1);
    expect(codes.filter((code) => code !== 'OK')).toEqual(Array(4).fill('IDEMPOTENCY_KEY_IN_USE'));
    const replay = await buyAt(viewer, tierId, 2, key);
    expect(replay.data?.purchaseTickets.tickets).toEqual(
      results.find((result) => result.data)?.data?.purchaseTickets.tickets,
    );
    expect(await soldOf(tierId)).toBe(2);
  });

  it('send each member alone when the group’s statement fails for one member’s sake', async () => {
    const tierId = await tier();
    // A member whose order no statement can write: a trigger of this test's own database
    // refuses its key, as a failing constraint would, so any statement it is in fails.
    // (Input the service refuses, such as a key with a NUL, never reaches a statement.)
    await database.prisma.$executeRawUnsafe(`
      CREATE FUNCTION refuse_poisoned_key() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.idempotency_key LIKE 'poisoned-%' THEN
          RAISE EXCEPTION 'this key is refused by the test';
        END IF;
        RETURN NEW;
      END $$`);
    await database.prisma.$executeRawUnsafe(
      'CREATE TRIGGER refuse_poisoned_key BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION refuse_poisoned_key()',
    );
    const keys: string[] = [randomUUID(), `poisoned-${randomUUID()}`, randomUUID(), randomUUID()];
    statements.length = 0;
    const results = await Promise.all(keys.map((key) => buyAt(customer(), tierId, 1, key))).finally(
      async () => {
        await database.prisma.$executeRawUnsafe('DROP TRIGGER refuse_poisoned_key ON orders');
        await database.prisma.$executeRawUnsafe('DROP FUNCTION refuse_poisoned_key()');
      },
    );
    const sent = statements.filter((sql) => /purchase_tickets(_group)?\(/.test(sql));

    const codes = results.map(codeOf);
    expect([codes[0], codes[2], codes[3]]).toEqual(['OK', 'OK', 'OK']);
    expect(codes[1]).not.toBe('OK');
    expect(results[1]?.data?.purchaseTickets ?? null).toBeNull();
    expect(sent.filter((sql) => sql.includes('purchase_tickets_group('))).toHaveLength(1);
    expect(sent.filter((sql) => sql.includes('purchase_tickets('))).toHaveLength(keys.length);
    expect(await soldOf(tierId)).toBe(3);
  });

  it('resend members alone only once the failed group’s statement has let go of their keys', async () => {
    // PostgreSQL reports a failed statement before it has rolled its transaction back, and
    // the rollback is what releases the statement's locks: a group's idempotency keys,
    // which its members' own statements, resent alone at once, try to lock (and are
    // refused IDEMPOTENCY_KEY_IN_USE while they cannot). So a failure is answered only
    // once its transaction has ended. Here a statement locks a key, then fails; the key is
    // tried, at once, from another of the pool's connections, as a member alone would.
    const send = preparedStatements(database.prisma) as NonNullable<
      ReturnType<typeof preparedStatements>
    >;
    const pool = database.connection.pool as NonNullable<typeof database.connection.pool>;
    // Another connection, open and idle, as a busy tier's pool has.
    const other = await pool.connect();
    const tryKey = (key: number) =>
      other.query<{ free: boolean }>('SELECT pg_try_advisory_xact_lock($1::bigint) AS free', [key]);
    const stillLocked: number[] = [];
    try {
      for (let key = 1; key <= 50; key++) {
        const tried = await send({
          name: `lock_then_fail_${key}`,
          text: `DO $$ BEGIN
                   PERFORM pg_advisory_xact_lock(${key});
                   RAISE EXCEPTION 'the statement fails';
                 END $$`,
          values: [],
        }).then(
          () => null,
          (error: Error) => {
            expect(error.message).toBe('the statement fails');
            return tryKey(key);
          },
        );
        if (!tried?.rows[0]?.free) stillLocked.push(key);
      }
    } finally {
      other.release();
    }

    expect(stillLocked).toEqual([]);
  });

  it('refuse each member of a closed tier as a purchase alone is refused', async () => {
    const salesStartAt = new Date(Date.now() + 3_600_000);
    const tierId = await tier({ salesStartAt });
    const results = await Promise.all(
      [customer(), customer()].map((viewer) => buyAt(viewer, tierId, 1)),
    );

    for (const result of results) {
      expect(result.errors?.[0]?.extensions).toMatchObject({
        code: 'SALES_CLOSED',
        salesStartAt: salesStartAt.toISOString(),
      });
    }
  });
});
