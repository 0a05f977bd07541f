// Listing events through the gateway: keyset pagination under concurrent inserts, filters
// and search that return exactly the matching set, and User.organizedEvents.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
const hour = 3_600_000;
const base = Date.now() + 10 * 24 * hour;

interface Row {
  id: string;
  title: string;
  venue: string;
  city: string;
  cityKey: string;
  timezone: string;
  startsAt: Date;
  status: 'DRAFT' | 'PUBLISHED' | 'CANCELLED';
  organizerId: string;
}

function row(overrides: Partial<Row> & { city: string; startsAt: Date }): Row {
  return {
    id: randomUUID(),
    title: 'Event',
    venue: 'Hall',
    timezone: 'Europe/Berlin',
    status: 'PUBLISHED',
    organizerId: organizer.user.id,
    ...overrides,
    cityKey: overrides.city.toLowerCase(),
  };
}

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
});
afterAll(async () => {
  await supergraph?.stop();
});

type Page = {
  events: {
    edges: { cursor: string; node: { id: string } }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    totalCount: number;
  };
};
const listQuery = /* GraphQL */ `
  query ($first: Int, $after: String, $filter: EventFilter, $orderBy: EventOrder) {
    events(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
      edges { cursor node { id } }
      pageInfo { hasNextPage endCursor }
      totalCount
    }
  }
`;

/** Every id the listing returns, page by page; `between` runs after each page. */
async function walk(
  variables: Record<string, unknown>,
  between: () => Promise<void> = async () => {},
  pageSize = 20,
): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (;;) {
    const result: Awaited<ReturnType<typeof supergraph.request<Page>>> =
      await supergraph.request<Page>(listQuery, { ...variables, first: pageSize, after });
    expect(result.errors).toBeUndefined();
    const page = result.data?.events as Page['events'];
    ids.push(...page.edges.map((edge) => edge.node.id));
    if (!page.pageInfo.hasNextPage) return ids;
    after = page.pageInfo.endCursor;
    await between();
  }
}

describe('pagination', () => {
  it('walks 250 events in pages of 20 with no duplicates or gaps while events are being inserted', async () => {
    // Ten events share each start time, so that ties are broken by id.
    const originals = Array.from({ length: 250 }, (_, i) =>
      row({ city: 'Paginopolis', startsAt: new Date(base + Math.floor(i / 10) * hour) }),
    );
    await supergraph.databases.events.event.createMany({ data: originals });

    let inserted = 0;
    const insertSome = async () => {
      // Before and after the cursor, and at the very start times already taken.
      const batch = [0, 12, 24].map((slot) =>
        row({ city: 'Paginopolis', startsAt: new Date(base + ((slot + inserted) % 25) * hour) }),
      );
      inserted += batch.length;
      await supergraph.databases.events.event.createMany({ data: batch });
    };
    const seen = await walk({ filter: { city: 'Paginopolis' } }, insertSome);

    expect(inserted).toBeGreaterThanOrEqual(36);
    expect(new Set(seen).size).toBe(seen.length);
    const seenSet = new Set(seen);
    expect(originals.filter((event) => !seenSet.has(event.id))).toEqual([]);
  });

  it('walks the same set backwards with STARTS_AT_DESC', async () => {
    const forwards = await walk({ filter: { city: 'Paginopolis' }, orderBy: 'STARTS_AT_ASC' });
    const backwards = await walk({ filter: { city: 'Paginopolis' }, orderBy: 'STARTS_AT_DESC' });
    expect(backwards).toEqual(forwards.toReversed());
  });

  it('refuses a cursor from another ordering, and first above 100', async () => {
    const page = await supergraph.request<Page>(listQuery, {
      first: 1,
      filter: { city: 'Paginopolis' },
    });
    const cursor = page.data?.events.pageInfo.endCursor;
    const mixed = await supergraph.request(listQuery, {
      first: 1,
      after: cursor,
      orderBy: 'STARTS_AT_DESC',
    });
    expect(mixed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    const tooMany = await supergraph.request(listQuery, { first: 101 });
    expect(tooMany.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'first',
    });
  });

  it('refuses an ordering given as null, which is not the default', async () => {
    const result = await supergraph.request(listQuery, { first: 1, orderBy: null });
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'orderBy',
    });
  });

  it('takes a cursor only as it was issued, not base64’s other spellings of it', async () => {
    const filter = { city: 'Cursorville' };
    await supergraph.databases.events.event.createMany({
      data: [0, 1].map((i) => row({ city: filter.city, startsAt: new Date(base + i * hour) })),
    });
    const page = await supergraph.request<Page>(listQuery, { first: 1, filter });
    const cursor = page.data?.events.pageInfo.endCursor as string;
    const next = await supergraph.request<Page>(listQuery, { first: 1, after: cursor, filter });
    expect(next.data?.events.edges).toHaveLength(1);
    const respelled = [
      `${cursor}==`,
      Buffer.from(cursor, 'base64url').toString('base64'),
      `${cursor}!`,
      ` ${cursor}`,
      // The same position, with what the decoder would have ignored.
      Buffer.from(
        JSON.stringify([...JSON.parse(Buffer.from(cursor, 'base64url').toString()), 'more']),
      ).toString('base64url'),
    ].filter((spelling) => spelling !== cursor);
    expect(respelled).toHaveLength(5);
    for (const after of respelled) {
      const result = await supergraph.request(listQuery, { first: 1, after, filter });
      expect(result.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'after',
      });
    }
  });
});

describe('filters and search', () => {
  const cities = ['Filterburg', 'Lisbon-on-Test', 'Oslo Test'];
  const words = ['Jazz Night', 'Rust Conference', 'Opera Gala', 'jazz brunch', 'Chess Open'];
  const venues = ['Blue Note Hall', 'Opera House', 'Warehouse 9'];
  const statuses = ['PUBLISHED', 'CANCELLED', 'DRAFT'] as const;
  let dataset: Row[];

  beforeAll(async () => {
    dataset = Array.from({ length: 90 }, (_, i) =>
      row({
        city: cities[i % 3] as string,
        title: `${words[i % 5]} ${i}`,
        venue: venues[i % 7 === 0 ? 1 : i % 3] as string,
        status: statuses[i % 4 === 3 ? 2 : i % 2] as Row['status'],
        startsAt: new Date(base + 1_000 * hour + i * 5 * hour),
        // Drafts: half the organizer's own, half someone else's.
        organizerId: i % 8 === 3 ? randomUUID() : organizer.user.id,
      }),
    );
    await supergraph.databases.events.event.createMany({ data: dataset });
  });

  const inDataset = (id: string) => dataset.some((event) => event.id === id);
  const visibleToAnyone = (event: Row) => event.status !== 'DRAFT';
  /** Cancelled events are listed only when asked for, by status or includeCancelled. */
  const listed = (event: Row, filter: Record<string, unknown> = {}) =>
    event.status !== 'CANCELLED' ||
    filter.status === 'CANCELLED' ||
    filter.includeCancelled === true;
  const time = (hours: number) => new Date(base + 1_000 * hour + hours * hour);

  const cases: [string, Record<string, unknown>, (event: Row) => boolean][] = [
    ['city, in any case', { city: 'filterBURG' }, (event) => event.city === 'Filterburg'],
    [
      'start from',
      { startsAfter: time(200).toISOString() },
      (event) => event.startsAt >= time(200),
    ],
    [
      'start before',
      { startsBefore: time(100).toISOString() },
      (event) => event.startsAt < time(100),
    ],
    [
      'a start window',
      { startsAfter: time(50).toISOString(), startsBefore: time(300).toISOString() },
      (event) => event.startsAt >= time(50) && event.startsAt < time(300),
    ],
    ['status', { status: 'CANCELLED' }, (event) => event.status === 'CANCELLED'],
    [
      'city, cancelled ones too',
      { city: 'Filterburg', includeCancelled: true },
      (event) => event.city === 'Filterburg',
    ],
    ['search in titles, in any case', { search: 'JAZZ' }, (event) => /jazz/i.test(event.title)],
    [
      'search in venues',
      { search: 'opera' },
      (event) => /opera/i.test(event.title) || /opera/i.test(event.venue),
    ],
    [
      'all together',
      {
        city: 'Oslo Test',
        search: 'jazz',
        status: 'PUBLISHED',
        startsBefore: time(400).toISOString(),
      },
      (event) =>
        event.city === 'Oslo Test' &&
        /jazz/i.test(event.title) &&
        event.status === 'PUBLISHED' &&
        event.startsAt < time(400),
    ],
  ];

  it.each(cases)('by %s return exactly the matching events', async (_, filter, matches) => {
    const expected = dataset
      .filter((event) => visibleToAnyone(event) && listed(event, filter) && matches(event))
      .map((event) => event.id);
    expect(expected.length).toBeGreaterThan(0);
    const ids = (await walk({ filter })).filter(inDataset);
    expect(ids.toSorted()).toEqual(expected.toSorted());
  });

  it('count what they match in totalCount', async () => {
    const result = await supergraph.request<Page>(listQuery, {
      first: 1,
      filter: { city: 'Filterburg' },
    });
    expect(result.data?.events.totalCount).toBe(
      dataset.filter(
        (event) => event.city === 'Filterburg' && visibleToAnyone(event) && listed(event),
      ).length,
    );
  });

  it('show an organizer their own drafts, and nobody else’s', async () => {
    const ids = (await walk({ filter: { city: 'Filterburg' } })).filter(inDataset);
    const asOrganizer = await supergraph.request<Page>(
      listQuery,
      { first: 100, filter: { city: 'Filterburg' } },
      {
        token: organizer.accessToken,
      },
    );
    const mine = (event: Row) => event.organizerId === organizer.user.id;
    expect(asOrganizer.data?.events.edges.map((edge) => edge.node.id).toSorted()).toEqual(
      dataset
        .filter(
          (event) =>
            event.city === 'Filterburg' && (visibleToAnyone(event) || mine(event)) && listed(event),
        )
        .map((event) => event.id)
        .toSorted(),
    );
    expect(ids.length).toBeLessThan(asOrganizer.data?.events.edges.length ?? 0);
  });

  it('refuse a search with no word the trigram index can find, which would read every event', async () => {
    for (const search of ['!!!', '...', '%%%', '___', 'a--', '  -- ']) {
      const result = await supergraph.request(listQuery, { first: 5, filter: { search } });
      expect(result.errors?.[0]?.extensions, search).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'filter.search',
      });
    }
    for (const search of ['ac/dc', '0% j', 'e_c', '!a!', 'ab!', '日本語']) {
      const result = await supergraph.request(listQuery, { first: 5, filter: { search } });
      expect(result.errors, search).toBeUndefined();
    }
  });

  it('refuse a search shorter than 3 characters', async () => {
    const result = await supergraph.request(listQuery, { first: 5, filter: { search: 'ja' } });
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'filter.search',
    });
  });
});

describe('User.organizedEvents', () => {
  it('pages through what the caller may see of an organizer’s events', async () => {
    const host = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const mine = [0, 1, 2, 3, 4].map((i) =>
      row({
        city: 'Hostville',
        title: `Hosted ${i}`,
        startsAt: new Date(base + i * hour),
        status: i < 2 ? 'DRAFT' : 'PUBLISHED',
        organizerId: host.user.id,
      }),
    );
    await supergraph.databases.events.event.createMany({ data: mine });
    const query = /* GraphQL */ `
      query ($id: ID!, $after: String) {
        event(id: $id) {
          organizer {
            organizedEvents(first: 2, after: $after) {
              totalCount
              edges { node { title } }
              pageInfo { hasNextPage endCursor }
            }
          }
        }
      }
    `;
    type Result = {
      event: {
        organizer: {
          organizedEvents: {
            totalCount: number;
            edges: { node: { title: string } }[];
            pageInfo: { hasNextPage: boolean; endCursor: string };
          };
        };
      };
    };
    const published = mine[4]?.id;
    const first = await supergraph.request<Result>(query, { id: published });
    expect(first.data?.event.organizer.organizedEvents).toMatchObject({
      totalCount: 3,
      edges: [{ node: { title: 'Hosted 2' } }, { node: { title: 'Hosted 3' } }],
      pageInfo: { hasNextPage: true },
    });
    const second = await supergraph.request<Result>(query, {
      id: published,
      after: first.data?.event.organizer.organizedEvents.pageInfo.endCursor,
    });
    expect(second.data?.event.organizer.organizedEvents).toMatchObject({
      totalCount: 3,
      edges: [{ node: { title: 'Hosted 4' } }],
      pageInfo: { hasNextPage: false },
    });

    const own = await supergraph.request<{ me: { organizedEvents: { totalCount: number } } }>(
      '{ me { organizedEvents(first: 10) { totalCount } } }',
      {},
      { token: host.accessToken },
    );
    expect(own.data?.me.organizedEvents.totalCount).toBe(5);
    expect(
      codeOf(
        await supergraph.request(
          '{ me { organizedEvents(first: 101) { totalCount } } }',
          {},
          { token: host.accessToken },
        ),
      ),
    ).toBe('BAD_USER_INPUT');
  });
});
