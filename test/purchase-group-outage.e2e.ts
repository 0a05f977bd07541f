// Group commit when the database goes away: a PostgreSQL server of the test's own, stopped
// under a tier's concurrent purchases. The group's statement fails as unavailable, and every
// member is answered SERVICE_UNAVAILABLE from that one failure, none resent alone.
import { randomUUID } from 'node:crypto';
import type { Identity } from '@ticketing/auth';
import { executorFor } from '@ticketing/platform/testing';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../subgraphs/tickets/src/context.ts';
import { createTicketsServer } from '../subgraphs/tickets/src/server.ts';
import { createTicketsServices } from '../subgraphs/tickets/src/subgraph.ts';
import { type OwnPostgres, startOwnPostgres } from './own-servers.ts';

type Database = Awaited<ReturnType<typeof ticketsDatabase.open>>;

let postgres: OwnPostgres;
let database: Database;
let tierId: string;
/** Every statement the service sent (or tried to send), in order. */
const statements: string[] = [];
const server = createTicketsServer();
let grouping: ReturnType<typeof createTicketsServices>['service'];
// Neither peer is asked during a purchase: both point at a closed port.
const nowhere = 'http://127.0.0.1:9/graphql';

const purchase = /* GraphQL */ `
  mutation ($input: PurchaseInput!) {
    purchaseTickets(input: $input) { tickets { id } }
  }
`;

/** `count` buyers, one ticket each, all at once: one group of the tier. */
function buyTogether(count: number) {
  return Promise.all(
    Array.from({ length: count }, () => {
      const viewer: Identity = { userId: randomUUID(), role: 'CUSTOMER', sessionId: 'test' };
      return executorFor(server, () =>
        createContext(database.prisma, grouping, {
          viewer,
          clientAddress: undefined,
          requestId: undefined,
        }),
      )<{ purchaseTickets: { tickets: unknown[] } }>(purchase, {
        input: { tierId, quantity: 1, idempotencyKey: randomUUID() },
      });
    }),
  );
}

const purchaseStatements = () =>
  statements.filter((sql) => /purchase_tickets(_group)?\(/.test(sql));

beforeAll(async () => {
  postgres = await startOwnPostgres();
  database = await ticketsDatabase.open(
    { kind: 'postgres', url: postgres.url.replace(/\/postgres$/, '/tickets') },
    { onQuery: (sql) => statements.push(sql) },
  );
  const eventId = randomUUID();
  await database.prisma.eventSnapshot.create({
    data: { eventId, status: 'PUBLISHED', startsAt: new Date(Date.now() + 86_400_000), version: 1 },
  });
  ({ id: tierId } = await database.prisma.ticketTier.create({
    data: { eventId, name: 'Floor', priceCents: 2500, currency: 'EUR', capacity: 100 },
  }));
  const peers = {
    events: { url: nowhere, secret: 'unused' },
    users: { url: nowhere, secret: 'unused' },
  };
  grouping = createTicketsServices(database.prisma, peers, {
    holdSeconds: 60,
    perUserCap: 10,
    maxActiveHolds: 3,
    groupCommit: { maxSize: 8, queueWaitMs: 10_000 },
  }).service;
  await server.start();
}, 120_000);

afterAll(async () => {
  await server.stop();
  await database?.close().catch(() => {});
  await postgres?.stop();
});

describe('group commit with the database stopped', () => {
  it('sells a group in one statement while the database is up', async () => {
    statements.length = 0;
    const results = await buyTogether(6);

    expect(results.map((result) => result.errors)).toEqual(Array(6).fill(undefined));
    expect(purchaseStatements()).toHaveLength(1);
    expect(purchaseStatements()[0]).toMatch(/purchase_tickets_group\(/);
  });

  it('answers every member SERVICE_UNAVAILABLE from the group’s one failed statement', async () => {
    await postgres.stop();
    statements.length = 0;
    const results = await buyTogether(6);

    for (const result of results) {
      expect(result.data?.purchaseTickets ?? null).toBeNull();
      expect(result.errors?.[0]).toMatchObject({
        message: 'A service is unavailable; try again shortly.',
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      });
    }
    // The group's statement, and no member resent alone to fail the same way.
    expect(purchaseStatements()).toHaveLength(1);
    expect(purchaseStatements()[0]).toMatch(/purchase_tickets_group\(/);
  });
});
