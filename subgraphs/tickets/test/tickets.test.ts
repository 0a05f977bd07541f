import type { Identity } from '@ticketing/auth';
import { executorFor } from '@ticketing/platform/testing';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { type PrismaClient, ticketsDatabase } from '@ticketing/prisma/tickets';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createContext } from '../src/context.ts';
import { TicketRepository } from '../src/repositories/TicketRepository.ts';
import { createTicketsServer } from '../src/server.ts';
import { createTicketsServices } from '../src/subgraph.ts';
import { subgraphsAway } from './subgraphs-away.ts';

const concert = '0190a000-0000-7000-8001-000000000001';
const talk = '0190a000-0000-7000-8001-000000000002';
const noTiers = '0190a000-0000-7000-8001-000000000003';
const owner = '0190a000-0000-7000-8000-000000000003';
const tiers = [
  {
    id: '0190a000-0000-7000-8002-000000000001',
    eventId: concert,
    name: 'VIP',
    priceCents: 9000,
    currency: 'EUR',
    capacity: 10,
    sold: 10,
  },
  {
    id: '0190a000-0000-7000-8002-000000000002',
    eventId: concert,
    name: 'Floor',
    priceCents: 3000,
    currency: 'EUR',
    capacity: 100,
    sold: 1,
  },
  {
    id: '0190a000-0000-7000-8002-000000000003',
    eventId: talk,
    name: 'Seat',
    priceCents: 1000,
    currency: 'EUR',
    capacity: 50,
    sold: 0,
  },
];
const ticket = {
  id: '0190a000-0000-7000-8003-000000000001',
  tierId: tiers[1]?.id as string,
  eventId: concert,
  ownerId: owner,
  code: 'T-1',
};

let database: TestDatabase<PrismaClient>;
const server = createTicketsServer();
/** Runs operations as `viewer` (the ticket's owner unless said otherwise). */
const runAs = (viewer: Identity | null) =>
  executorFor(server, () =>
    createContext(
      database.prisma,
      createTicketsServices(database.prisma, subgraphsAway, {
        holdSeconds: 60,
        perUserCap: 10,
        maxActiveHolds: 3,
      }).service,
      { viewer, clientAddress: undefined, requestId: undefined },
    ),
  );
const run = runAs({ userId: owner, role: 'CUSTOMER', sessionId: 'test' });

beforeAll(async () => {
  database = await createTestDatabase(ticketsDatabase);
  await database.prisma.ticketTier.createMany({ data: tiers });
  await database.prisma.ticket.create({ data: ticket });
  // The events service reported both as published; it never mentioned `noTiers`.
  await database.prisma.eventSnapshot.createMany({
    data: [concert, talk].map((eventId) => ({
      eventId,
      status: 'PUBLISHED' as const,
      startsAt: new Date(Date.now() + 86_400_000),
      version: 1,
    })),
  });
  await server.start();
});
afterAll(async () => {
  await server.stop();
  await database?.close();
});

describe('Event fields', () => {
  it('give each event its tiers, cheapest first, and what is still available, in one batch', async () => {
    const batch = vi.spyOn(TicketRepository.prototype, 'findTiersByEventIds');
    const { data, errors } = await run<{ _entities: unknown[] }>(
      /* GraphQL */ `
        query ($representations: [_Any!]!) {
          _entities(representations: $representations) {
            ... on Event { id ticketsAvailable ticketTiers { name available } }
          }
        }
      `,
      { representations: [concert, talk, noTiers].map((id) => ({ __typename: 'Event', id })) },
    );
    expect(errors).toBeUndefined();
    expect(data?._entities).toEqual([
      {
        id: concert,
        ticketsAvailable: 99,
        ticketTiers: [
          { name: 'Floor', available: 99 },
          { name: 'VIP', available: 0 },
        ],
      },
      { id: talk, ticketsAvailable: 50, ticketTiers: [{ name: 'Seat', available: 50 }] },
      { id: noTiers, ticketsAvailable: 0, ticketTiers: [] },
    ]);
    expect(batch).toHaveBeenCalledTimes(1);
  });
});

describe('ticket', () => {
  it('references its event and owner for the other subgraphs to resolve', async () => {
    const { data, errors } = await run(
      /* GraphQL */ `
        query ($id: ID!) {
          ticket(id: $id) { status tier { name priceCents } event { id } owner { id } }
        }
      `,
      { id: ticket.id },
    );
    expect(errors).toBeUndefined();
    expect(data).toEqual({
      ticket: {
        status: 'ACTIVE',
        tier: { name: 'Floor', priceCents: 3000 },
        event: { id: concert },
        owner: { id: owner },
      },
    });
  });

  it('is null for someone else, so that ids reveal nothing', async () => {
    const stranger = runAs({
      userId: '0190a000-0000-7000-8000-00000000beef',
      role: 'CUSTOMER',
      sessionId: 'test',
    });
    const { data, errors } = await stranger(`{ ticket(id: "${ticket.id}") { id } }`);
    expect(errors).toBeUndefined();
    expect(data).toEqual({ ticket: null });
  });

  it('is null for an unknown id', async () => {
    const { data, errors } = await run(
      '{ ticket(id: "0190a000-0000-7000-8003-00000000ffff") { id } }',
    );
    expect(errors).toBeUndefined();
    expect(data).toEqual({ ticket: null });
  });
});
