// Closing an account (the first step of its deletion) racing its own purchases, on a real
// PostgreSQL database: each round ends one way or the other, never both. Either the purchase
// committed first, and the closure is refused with ACCOUNT_HAS_TICKETS, or the account was
// closed first, and the purchase is refused whole, with no stock taken and no order left.
import { randomUUID } from 'node:crypto';
import type { Identity } from '@ticketing/auth';
import { isClosedAccount } from '@ticketing/platform';
import { dropDatabase, uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { GraphQLError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountClosureRepository } from '../src/repositories/AccountClosureRepository.ts';
import { AccountClosure } from '../src/services/AccountClosure.ts';
import { createTicketsServices } from '../src/subgraph.ts';

type Database = Awaited<ReturnType<typeof ticketsDatabase.open>>;

const eventId = '0190a000-0000-7000-8001-0000000000c1';
const url = uniqueTestDatabaseUrl('tickets_closure');
let database: Database;
// Neither peer is asked: both point at a closed port.
const nowhere = 'http://127.0.0.1:9/graphql';
const peers = {
  events: { url: nowhere, secret: 'unused' },
  users: { url: nowhere, secret: 'unused' },
};
const settings = { holdSeconds: 60, perUserCap: 10, maxActiveHolds: 3 };

beforeAll(async () => {
  database = await ticketsDatabase.open({ kind: 'postgres', url });
  await database.prisma.eventSnapshot.create({
    data: { eventId, status: 'PUBLISHED', startsAt: new Date(Date.now() + 86_400_000), version: 1 },
  });
});
afterAll(async () => {
  await database?.close();
  await dropDatabase(url);
});

const codeOf = (error: unknown) =>
  error instanceof GraphQLError ? error.extensions.code : isClosedAccount(error) ? 'CLOSED' : error;

describe('closing an account racing its purchases', () => {
  it.each([
    ['alone', undefined],
    ['with group commit', { maxSize: 8, queueWaitMs: 10_000 }],
  ])(
    'leaves a closed account with no ticket, or an open one with its tickets (%s)',
    async (_, groupCommit) => {
      const { service } = createTicketsServices(database.prisma, peers, {
        ...settings,
        groupCommit,
      });
      // The events service's count of the account's events is not what races here (it has
      // its own test, through the gateway): none.
      const accounts = new AccountClosure(
        new AccountClosureRepository(database.prisma, service.purchases),
        { closeOrganizer: async () => 0, reopenOrganizer: async () => {} },
      );
      const { id: tierId } = await database.prisma.ticketTier.create({
        data: { eventId, name: 'Floor', priceCents: 100, currency: 'EUR', capacity: 1_000 },
      });
      const outcomes = { closed: 0, refused: 0 };
      for (let round = 0; round < 20; round++) {
        const viewer: Identity = { userId: randomUUID(), role: 'CUSTOMER', sessionId: 'test' };
        const input = { tierId, quantity: 2, idempotencyKey: randomUUID() };
        const [bought, closed] = await Promise.allSettled([
          service.purchase(viewer, input),
          accounts.close(viewer),
        ]);
        const tickets = await database.prisma.ticket.count({ where: { ownerId: viewer.userId } });
        const orders = await database.prisma.order.count({ where: { buyerId: viewer.userId } });
        if (closed.status === 'fulfilled') {
          outcomes.closed += 1;
          expect(bought.status === 'rejected' && codeOf(bought.reason)).toBe('CLOSED');
          expect([tickets, orders]).toEqual([0, 0]);
        } else {
          outcomes.refused += 1;
          expect(codeOf(closed.reason)).toBe('ACCOUNT_HAS_TICKETS');
          expect(bought.status).toBe('fulfilled');
          expect([tickets, orders]).toEqual([2, 1]);
          expect(
            await database.prisma.closedAccount.count({ where: { userId: viewer.userId } }),
          ).toBe(0);
        }
      }
      const tier = await database.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
      expect(tier).toMatchObject({ sold: 2 * outcomes.refused, held: 0 });
      expect(outcomes.closed + outcomes.refused).toBe(20);
    },
  );
});

describe('closing an account racing its holds', () => {
  it('leaves a closed account holding nothing, or an open one with its hold released', async () => {
    const { service } = createTicketsServices(database.prisma, peers, settings);
    const accounts = new AccountClosure(
      new AccountClosureRepository(database.prisma, service.purchases),
      { closeOrganizer: async () => 0, reopenOrganizer: async () => {} },
    );
    const { id: tierId } = await database.prisma.ticketTier.create({
      data: { eventId, name: 'Held', priceCents: 100, currency: 'EUR', capacity: 1_000 },
    });
    // Closed first, then the hold: the order the race is lost in, made certain.
    const late: Identity = { userId: randomUUID(), role: 'CUSTOMER', sessionId: 'test' };
    await accounts.close(late);
    const refused = await service.hold(late, tierId, 2).then(
      () => 'held',
      (error: unknown) => codeOf(error),
    );
    expect(refused).toBe('CLOSED');
    expect(await database.prisma.hold.count({ where: { userId: late.userId } })).toBe(0);
    // At once: whichever wins, nothing stays held for a closed account.
    for (let round = 0; round < 20; round++) {
      const viewer: Identity = { userId: randomUUID(), role: 'CUSTOMER', sessionId: 'test' };
      const [held, closed] = await Promise.allSettled([
        service.hold(viewer, tierId, 2),
        accounts.close(viewer),
      ]);
      expect(closed.status).toBe('fulfilled');
      if (held.status === 'rejected') expect(codeOf(held.reason)).toBe('CLOSED');
      expect(
        await database.prisma.hold.count({ where: { userId: viewer.userId, status: 'ACTIVE' } }),
      ).toBe(0);
    }
    const tier = await database.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
    expect(tier).toMatchObject({ sold: 0, held: 0 });
  });
});
