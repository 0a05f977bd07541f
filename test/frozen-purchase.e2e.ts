// A purchase sent to a PostgreSQL server of the test's own that freezes (SIGSTOP) before it
// answers: the service gives the statement up by its deadline and answers
// SERVICE_UNAVAILABLE. The frozen server still holds the statement, and runs it when it
// thaws, so the purchase may commit after that answer: the buyer's retry with the same
// idempotency key must then find that one order, never place a second, and the stock must
// count it once.
import { randomUUID } from 'node:crypto';
import type { Identity } from '@ticketing/auth';
import { executorFor } from '@ticketing/platform/testing';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../subgraphs/tickets/src/context.ts';
import { createTicketsServer } from '../subgraphs/tickets/src/server.ts';
import { createTicketsServices } from '../subgraphs/tickets/src/subgraph.ts';
import {
  frozenStatementFailsWithinMs,
  type OwnPostgres,
  shortDatabaseDeadlines,
  startOwnPostgres,
} from './own-servers.ts';

const nowhere = 'http://127.0.0.1:9/graphql';
const purchase = /* GraphQL */ `
  mutation ($input: PurchaseInput!) {
    purchaseTickets(input: $input) { id tickets { id } }
  }
`;

let postgres: OwnPostgres;
let database: Awaited<ReturnType<typeof ticketsDatabase.open>>;
let tierId: string;
const server = createTicketsServer();
let service: ReturnType<typeof createTicketsServices>['service'];

beforeAll(async () => {
  postgres = await startOwnPostgres();
  database = await ticketsDatabase.open(
    { kind: 'postgres', url: postgres.url.replace(/\/postgres$/, '/tickets'), poolSize: 4 },
    { deadlines: shortDatabaseDeadlines },
  );
  const eventId = randomUUID();
  await database.prisma.eventSnapshot.create({
    data: { eventId, status: 'PUBLISHED', startsAt: new Date(Date.now() + 86_400_000), version: 1 },
  });
  ({ id: tierId } = await database.prisma.ticketTier.create({
    data: { eventId, name: 'Floor', priceCents: 2500, currency: 'EUR', capacity: 100 },
  }));
  service = createTicketsServices(
    database.prisma,
    { events: { url: nowhere, secret: 'unused' }, users: { url: nowhere, secret: 'unused' } },
    {
      holdSeconds: 60,
      perUserCap: 10,
      maxActiveHolds: 3,
      groupCommit: { maxSize: 8, queueWaitMs: 10_000 },
    },
  ).service;
  await server.start();
}, 120_000);

afterAll(async () => {
  await postgres?.thaw().catch(() => {});
  await server.stop();
  await database?.close().catch(() => {});
  await postgres?.stop();
});

describe('a purchase whose database froze before it answered', () => {
  it('is answered SERVICE_UNAVAILABLE by its deadline, and its retry finds the one order', async () => {
    const viewer: Identity = { userId: randomUUID(), role: 'CUSTOMER', sessionId: 'test' };
    const buy = () =>
      executorFor(server, () =>
        createContext(database.prisma, service, {
          viewer,
          clientAddress: undefined,
          requestId: undefined,
        }),
      )<{ purchaseTickets: { id: string; tickets: unknown[] } }>(purchase, {
        input: { tierId, quantity: 2, idempotencyKey: 'frozen-purchase-key' },
      });
    // Every pooled connection open before the freeze: only the answer's deadline can end it.
    await Promise.all(Array.from({ length: 4 }, () => database.prisma.$queryRaw`SELECT 1`));

    await postgres.freeze();
    const started = performance.now();
    let first: Awaited<ReturnType<typeof buy>>;
    try {
      first = await buy();
    } finally {
      await postgres.thaw();
    }
    expect(performance.now() - started).toBeLessThan(frozenStatementFailsWithinMs);
    expect(first.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');

    // The retry, as the client is told: in use while the thawed statement still runs.
    const deadline = Date.now() + 10_000;
    let retry = await buy();
    while (retry.errors?.[0]?.extensions?.code !== undefined && Date.now() < deadline) {
      expect(['IDEMPOTENCY_KEY_IN_USE', 'SERVICE_UNAVAILABLE']).toContain(
        retry.errors?.[0]?.extensions?.code,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      retry = await buy();
    }
    expect(retry.errors).toBeUndefined();
    expect(retry.data?.purchaseTickets.tickets).toHaveLength(2);

    const orders = await database.prisma.order.findMany({ where: { buyerId: viewer.userId } });
    expect(orders.map((order) => order.id)).toEqual([retry.data?.purchaseTickets.id]);
    const tier = await database.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
    expect(tier.sold).toBe(2);
    expect(await database.prisma.ticket.count({ where: { tierId } })).toBe(2);
  }, 60_000);
});
