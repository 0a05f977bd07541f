import { executorFor } from '@ticketing/platform/testing';
import { eventsDatabase, type PrismaClient } from '@ticketing/prisma/events';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createContext } from '../src/context.ts';
import { EventRepository } from '../src/repositories/EventRepository.ts';
import { createEventsServer } from '../src/server.ts';
import { createEventsServices } from '../src/subgraph.ts';

const organizerId = '0190a000-0000-7000-8000-0000000000aa';
const day = 24 * 60 * 60 * 1000;
const base = Date.UTC(2030, 0, 1, 19);

let database: TestDatabase<PrismaClient>;
const server = createEventsServer();

function anEvent(id: number, overrides: Record<string, unknown> = {}) {
  return {
    id: `0190a000-0000-7000-8001-${String(id).padStart(12, '0')}`,
    title: `Event ${id}`,
    venue: 'Hall',
    city: 'Berlin',
    cityKey: 'berlin',
    timezone: 'Europe/Berlin',
    startsAt: new Date(base + id * day),
    status: 'PUBLISHED' as const,
    organizerId,
    ...overrides,
  };
}

const run = executorFor(server, () =>
  createContext(database.prisma, createEventsServices(database.prisma).service, {
    viewer: null,
    clientAddress: undefined,
    requestId: undefined,
  }),
);

beforeAll(async () => {
  database = await createTestDatabase(eventsDatabase);
  await database.prisma.event.createMany({
    data: [
      anEvent(1),
      anEvent(2, { status: 'CANCELLED' }),
      anEvent(3, { status: 'DRAFT' }),
      anEvent(4),
      anEvent(5),
    ],
  });
  await server.start();
});
afterAll(async () => {
  await server.stop();
  await database?.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

type Page = {
  events: {
    edges: { cursor: string; node: { title: string; status: string } }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    totalCount: number;
  };
};
const listQuery = /* GraphQL */ `
  query List($first: Int, $after: String, $filter: EventFilter) {
    events(first: $first, after: $after, filter: $filter) {
      edges { cursor node { title status } }
      pageInfo { hasNextPage endCursor }
      totalCount
    }
  }
`;

describe('events', () => {
  it('lists published events soonest first, cancelled ones when asked, and never drafts', async () => {
    const { data, errors } = await run<Page>(listQuery, {
      first: 10,
      filter: { includeCancelled: true },
    });
    expect(errors).toBeUndefined();
    expect(data?.events.edges.map((edge) => edge.node.title)).toEqual([
      'Event 1',
      'Event 2',
      'Event 4',
      'Event 5',
    ]);
    expect(data?.events.totalCount).toBe(4);
    const listed = await run<Page>(listQuery, { first: 10 });
    expect(listed.data?.events.edges.map((edge) => edge.node.title)).toEqual([
      'Event 1',
      'Event 4',
      'Event 5',
    ]);
    expect(listed.data?.events.totalCount).toBe(3);
    expect(data?.events.pageInfo).toEqual({
      hasNextPage: false,
      endCursor: data?.events.edges.at(-1)?.cursor,
    });
  });

  it('continues after a cursor without repeats, even when an earlier event is inserted meanwhile', async () => {
    const filter = { includeCancelled: true };
    const first = await run<Page>(listQuery, { first: 2, filter });
    expect(first.data?.events.edges.map((edge) => edge.node.title)).toEqual(['Event 1', 'Event 2']);
    expect(first.data?.events.pageInfo.hasNextPage).toBe(true);

    const early = anEvent(0, { title: 'Inserted before the cursor' });
    await database.prisma.event.create({ data: early });
    try {
      const second = await run<Page>(listQuery, {
        first: 2,
        after: first.data?.events.pageInfo.endCursor,
        filter,
      });
      expect(second.data?.events.edges.map((edge) => edge.node.title)).toEqual([
        'Event 4',
        'Event 5',
      ]);
      expect(second.data?.events.pageInfo.hasNextPage).toBe(false);
    } finally {
      await database.prisma.event.delete({ where: { id: early.id } });
    }
  });

  it.each([101, -1])('rejects first: %i with BAD_USER_INPUT', async (first) => {
    const { data, errors } = await run<Page>(listQuery, { first });
    expect(data).toBeNull();
    expect(errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'first',
    });
  });

  it('rejects a cursor it did not issue with BAD_USER_INPUT', async () => {
    const { errors } = await run<Page>(listQuery, { first: 2, after: 'not-a-cursor' });
    expect(errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'after',
    });
    expect(errors?.[0]?.extensions).not.toHaveProperty('stacktrace');
  });
});

describe('Event references', () => {
  const entitiesQuery = /* GraphQL */ `
    query ($representations: [_Any!]!) {
      _entities(representations: $representations) {
        ... on Event { id title organizer { id } }
      }
    }
  `;

  it('resolve in one batched query, with hidden drafts and unknown ids as null', async () => {
    const batch = vi.spyOn(EventRepository.prototype, 'findVisibleByIds');
    const ids = [
      anEvent(1).id,
      anEvent(3).id,
      '0190a000-0000-7000-8001-999999999999',
      anEvent(5).id,
    ];
    const { data, errors } = await run<{ _entities: unknown[] }>(entitiesQuery, {
      representations: ids.map((id) => ({ __typename: 'Event', id })),
    });
    expect(errors).toBeUndefined();
    expect(data?._entities).toEqual([
      { id: anEvent(1).id, title: 'Event 1', organizer: { id: organizerId } },
      null,
      null,
      { id: anEvent(5).id, title: 'Event 5', organizer: { id: organizerId } },
    ]);
    expect(batch).toHaveBeenCalledTimes(1);
  });
});

describe('a draft deleted while a change of it is under way', () => {
  const organizer = { userId: organizerId, role: 'ORGANIZER' as const, sessionId: 'session' };
  const asOrganizer = executorFor(server, () =>
    createContext(database.prisma, createEventsServices(database.prisma).service, {
      viewer: organizer,
      clientAddress: undefined,
      requestId: undefined,
    }),
  );

  /** Deletes the draft just before the repository's `method` writes to it. */
  function deletedBefore(method: 'updateIfStatus' | 'deleteDraft', id: string) {
    const write = EventRepository.prototype[method] as (...args: unknown[]) => Promise<unknown>;
    vi.spyOn(EventRepository.prototype, method).mockImplementation(async function (
      this: EventRepository,
      ...args: unknown[]
    ) {
      await database.prisma.event.delete({ where: { id } });
      return write.apply(this, args);
    } as never);
  }

  it.each([
    [
      'updated',
      'mutation ($id: ID!) { updateEvent(id: $id, input: { title: "New" }) { id } }',
      'updateIfStatus',
      21,
    ],
    ['published', 'mutation ($id: ID!) { publishEvent(id: $id) { id } }', 'updateIfStatus', 22],
    ['deleted again', 'mutation ($id: ID!) { deleteEvent(id: $id) }', 'deleteDraft', 23],
  ] as const)('is not found when %s, not a draft still', async (_, mutation, method, number) => {
    const draft = anEvent(number, { status: 'DRAFT' });
    await database.prisma.event.create({ data: draft });
    deletedBefore(method, draft.id);
    const { errors } = await asOrganizer(mutation, { id: draft.id });
    expect(errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
