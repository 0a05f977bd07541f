// The purchase through the tickets subgraph on a real PostgreSQL database: one statement a
// purchase, the tier's own rules (its sales window, its limit per order, the tier itself)
// decided by that statement, with the errors they always had.
import { randomUUID } from 'node:crypto';
import type { Identity } from '@ticketing/auth';
import { executorFor } from '@ticketing/platform/testing';
import { dropDatabase, uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
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
let service: ReturnType<typeof createTicketsServices>['service'];
const run = executorFor(server, () =>
  createContext(database.prisma, service, {
    viewer: buyer,
    clientAddress: undefined,
    requestId: undefined,
  }),
);

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
  service = createTicketsServices(
    database.prisma,
    { events: { url: nowhere, secret: 'unused' }, users: { url: nowhere, secret: 'unused' } },
    settings,
  ).service;
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
