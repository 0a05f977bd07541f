// The response cache shared by both gateways through Redis, on the real topology (NGINX,
// two gateway processes, the subgraphs on PostgreSQL) with a Redis of the test's own: what
// is served from it, to whom, and how soon a change reaches every gateway.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type HoldingProxy,
  type OwnRedis,
  startHoldingProxy,
  startOwnRedis,
} from './own-servers.ts';
import {
  apiClient,
  type Call,
  purchaseMutation,
  type SaleTopology,
  startSaleTopology,
  tierOnSale,
  waitFor,
} from './sales.ts';

/** The documented bound: an event update or a purchase is visible at every gateway by then. */
const invalidationBoundMs = 1_000;

const eventPage = /* GraphQL */ `
  query EventPage($id: ID!) {
    event(id: $id) {
      id
      title
      status
      ticketsAvailable
      ticketTiers { id available onSale }
    }
  }
`;

/** An event's own fields, without availability: cached for 30 s, not 1 s. */
const eventFields = /* GraphQL */ `
  query EventFields($id: ID!) {
    event(id: $id) {
      id
      title
    }
  }
`;

interface EventPage {
  event: {
    id: string;
    title: string;
    status: string;
    ticketsAvailable: number | null;
    ticketTiers: { id: string; available: number; onSale: boolean }[];
  } | null;
}

let redis: OwnRedis;
let sale: SaleTopology;
let gateways: Call[];
let eventId: string;
let tierId: string;

beforeAll(async () => {
  redis = await startOwnRedis();
  sale = await startSaleTopology('response-cache', {
    buyers: 2,
    env: { REDIS_URL: redis.url, DEDUPLICATE_INFLIGHT: 'false' },
  });
  gateways = ['gateway-1', 'gateway-2'].map((name) => {
    const running = sale.started.topology.processes.get(name);
    if (!running) throw new Error(`${name} is not running`);
    return apiClient(new URL('/graphql', running.url).toString());
  });
  ({ eventId, tierId } = await tierOnSale({
    call: sale.call,
    tickets: sale.tickets,
    organizerToken: sale.organizer.token,
    capacity: 1_000,
  }));
}, 120_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(sale.started.logs.join('\n'));
});

afterAll(async () => {
  await sale?.stop();
  await redis?.stop();
});

/** A gateway's own address, for its /graphql and /metrics. */
function gatewayUrl(gateway: number, path: string): URL {
  const running = sale.started.topology.processes.get(`gateway-${gateway + 1}`);
  if (!running) throw new Error(`no gateway ${gateway}`);
  return new URL(path, running.url);
}

/**
 * An anonymous read of an event's page (the test's event by default) through one gateway,
 * with the cache's headers.
 */
async function readPage(gateway: number, page = { query: eventPage, id: eventId }) {
  const started = performance.now();
  const response = await fetch(gatewayUrl(gateway, '/graphql'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: page.query, variables: { id: page.id } }),
  });
  const body = (await response.json()) as { data?: EventPage; errors?: unknown[] };
  return {
    status: response.status,
    ms: performance.now() - started,
    cache: response.headers.get('x-cache'),
    cacheControl: response.headers.get('cache-control'),
    body,
  };
}

/** Reads through `gateway` until its answer came from the cache. */
async function warm(gateway: number, page?: Parameters<typeof readPage>[1]) {
  await waitFor(async () => (await readPage(gateway, page)).cache === 'HIT', 'a cache hit', 5_000);
}

/** A gateway's /metrics, as a reader of one series' value (0 while it has none). */
async function metrics(gateway: number): Promise<(series: string) => number> {
  const text = await (await fetch(gatewayUrl(gateway, '/metrics'))).text();
  return (series) => {
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };
}

/**
 * A gateway's cache lookups so far: hits from its memory (`local`) and from Redis, and
 * entries found invalidated in Redis.
 */
async function lookups(gateway: number) {
  const counter = await metrics(gateway);
  return {
    local: counter('graphql_response_cache_lookups_total{result="hit",reason="local"}'),
    redis: counter('graphql_response_cache_lookups_total{result="hit",reason=""}'),
    invalidated: counter('graphql_response_cache_invalidated_total'),
  };
}

/**
 * A gateway's cache writes so far, by outcome, and its subgraph queries that joined an
 * identical one in flight.
 */
async function stores(gateway: number) {
  const counter = await metrics(gateway);
  const outcome = (name: string) =>
    counter(`graphql_response_cache_stores_total{outcome="${name}"}`);
  return {
    stored: outcome('stored'),
    raced: outcome('raced'),
    failed: outcome('failed'),
    shared: (subgraph: 'events' | 'tickets') =>
      counter(`graphql_subgraph_fetches_shared_total{subgraph="${subgraph}"}`),
  };
}

/**
 * Polls every gateway until `seen` holds at each; returns how long the slowest took since
 * `started` (by default, since the call).
 */
async function visibleEverywhere(
  seen: (page: EventPage) => boolean,
  {
    page,
    started = performance.now(),
  }: { page?: Parameters<typeof readPage>[1]; started?: number } = {},
): Promise<number> {
  await Promise.all(
    gateways.map((_, gateway) =>
      waitFor(
        async () => {
          const read = await readPage(gateway, page);
          return read.body.data ? seen(read.body.data) : false;
        },
        `the change at gateway-${gateway + 1}`,
        10_000,
      ),
    ),
  );
  return performance.now() - started;
}

/** Renames the test's event, as its organizer; resolves to the new title once answered. */
async function renameEvent(): Promise<string> {
  const title = `Renamed ${randomUUID().slice(0, 8)}`;
  const updated = await sale.call(
    sale.organizer.token,
    'mutation ($id: ID!, $title: String!) { updateEvent(id: $id, input: { title: $title }) { title } }',
    { id: eventId, title },
  );
  expect(updated.body.errors).toBeUndefined();
  return title;
}

describe('the shared response cache', () => {
  it('serves an anonymous page from Redis at both gateways, with a public Cache-Control', async () => {
    await warm(0);
    const second = await readPage(1);
    expect(second.cache).toBe('HIT');
    expect(second.body.errors).toBeUndefined();
    expect(second.body.data?.event?.id).toBe(eventId);
    // Availability may be 1 s old: so says the header to any cache in front.
    expect(second.cacheControl).toMatch(/^max-age=[01], public$/);
  });

  it('never serves a per-user field to another user', async () => {
    const [alice, bob] = sale.buyers;
    if (!alice || !bob) throw new Error('two buyers are seeded');
    await sale.call(alice.token, purchaseMutation, {
      input: { tierId, quantity: 1, idempotencyKey: randomUUID() },
    });
    const query = /* GraphQL */ `
      query Mine($id: ID!) {
        me { id name }
        myTickets(first: 5) { edges { node { id code } } }
        event(id: $id) { id title }
      }
    `;
    type Mine = {
      me: { id: string } | null;
      myTickets: { edges: { node: { code: string } }[] } | null;
    };
    const mine = async (call: Call, token: string | undefined) =>
      (await call(token, query, { id: eventId })).body.data as Mine | undefined;
    for (let round = 0; round < 3; round++) {
      for (const call of gateways) {
        const asAlice = await mine(call, alice.token);
        const asBob = await mine(call, bob.token);
        const asNobody = await mine(call, undefined);
        expect(asAlice?.me?.id).toBe(alice.id);
        expect(asBob?.me?.id).toBe(bob.id);
        expect(asNobody?.me ?? null).toBeNull();
        const codes = asAlice?.myTickets?.edges.map((edge) => edge.node.code) ?? [];
        expect(codes.length).toBeGreaterThan(0);
        for (const code of codes) {
          expect(JSON.stringify(asBob)).not.toContain(code);
          expect(JSON.stringify(asNobody)).not.toContain(code);
        }
      }
    }
  });

  it('answers a request with a token from the subgraphs, never from the cache', async () => {
    await warm(0);
    const [alice] = sale.buyers;
    const response = await fetch(
      new URL('/graphql', sale.started.topology.processes.get('gateway-1')?.url),
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${alice?.token}` },
        body: JSON.stringify({ query: eventPage, variables: { id: eventId } }),
      },
    );
    expect(response.headers.get('x-cache')).toBeNull();
    // Never `public`: no cache in front may keep it for someone else.
    expect(response.headers.get('cache-control')).toMatch(/^(no-store|max-age=\d+, private)$/);
  });

  it('shows an event update at every gateway within the bound', async () => {
    await Promise.all([warm(0), warm(1)]);
    const title = await renameEvent();
    const took = await visibleEverywhere((page) => page.event?.title === title);
    expect(took).toBeLessThan(invalidationBoundMs);
  });

  it('keeps another event’s page cached, in Redis and in memory, when one event changes', async () => {
    const { eventId: otherId } = await tierOnSale({
      call: sale.call,
      tickets: sale.tickets,
      organizerToken: sale.organizer.token,
      capacity: 10,
      title: 'The other one',
    });
    const changed = { query: eventFields, id: eventId };
    const other = { query: eventFields, id: otherId };
    // The changed event in both gateways' memory; the other one in Redis and in the first
    // gateway's memory only, so that the second gateway must read it from Redis.
    await Promise.all([warm(0, changed), warm(1, changed), warm(0, other)]);
    const [first, second] = [await lookups(0), await lookups(1)];

    const title = await renameEvent();
    const renamed = performance.now();

    const fromRedis = await readPage(1, other);
    expect(fromRedis.cache).toBe('HIT');
    expect(await lookups(1)).toMatchObject({
      redis: second.redis + 1,
      invalidated: second.invalidated,
    });
    const fromMemory = await readPage(0, other);
    expect(fromMemory.cache).toBe('HIT');
    expect((await lookups(0)).local).toBe(first.local + 1);
    expect(fromMemory.body.data?.event?.title).toBe('The other one');

    // The changed event's page still shows the change at both gateways within the bound.
    const took = await visibleEverywhere((page) => page.event?.title === title, {
      page: changed,
      started: renamed,
    });
    expect(took).toBeLessThan(invalidationBoundMs);
  });

  it('shows a purchase at every gateway within the bound', async () => {
    await Promise.all([warm(0), warm(1)]);
    const before = (await readPage(0)).body.data?.event?.ticketsAvailable ?? 0;
    const [, bob] = sale.buyers;
    const bought = await sale.call(bob?.token, purchaseMutation, {
      input: { tierId, quantity: 2, idempotencyKey: randomUUID() },
    });
    expect(bought.body.errors).toBeUndefined();
    const took = await visibleEverywhere((page) => page.event?.ticketsAvailable === before - 2);
    expect(took).toBeLessThan(invalidationBoundMs);
  });

  it('falls back to the subgraphs without errors while Redis is frozen or down', async () => {
    await warm(0);
    redis.freeze();
    try {
      // Each gateway's memory stops serving once Redis misses its heartbeats (300 ms): it
      // could no longer hear an invalidation.
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (let i = 0; i < 5; i++) {
        const page = await readPage(i % 2);
        expect(page.status).toBe(200);
        expect(page.body.errors).toBeUndefined();
        expect(page.body.data?.event?.id).toBe(eventId);
        expect(page.cache).toBe('BYPASS');
        // The lookup's deadline (250 ms) and the subgraphs, never an error.
        expect(page.ms).toBeLessThan(2_000);
      }
    } finally {
      redis.thaw();
    }
    await redis.kill();
    try {
      for (let i = 0; i < 5; i++) {
        const page = await readPage(i % 2);
        expect(page.body.errors).toBeUndefined();
        expect(page.cache).toBe('BYPASS');
        expect(page.body.data?.event?.id).toBe(eventId);
      }
    } finally {
      await redis.start();
    }
    // Back by itself once the gateways have reconnected.
    await Promise.all([warm(0), warm(1)]);
  }, 60_000);

  it('stops showing a cancelled event as on sale at once', async () => {
    await Promise.all([warm(0), warm(1)]);
    const cancelled = await sale.call(
      sale.organizer.token,
      'mutation ($id: ID!) { cancelEvent(id: $id, reason: "Storm") { status } }',
      { id: eventId },
    );
    expect(cancelled.body.errors).toBeUndefined();
    // From the moment the mutation answered, no gateway shows it as published.
    for (const gateway of [0, 1]) {
      expect((await readPage(gateway)).body.data?.event?.status).toBe('CANCELLED');
    }
    // Its tiers stop selling as soon as the tickets service hears of it (the outbox), and
    // the cache never brings the old answer back.
    await visibleEverywhere((page) => page.event?.ticketsAvailable === 0);
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      for (const gateway of [0, 1]) {
        const page = (await readPage(gateway)).body.data?.event;
        expect(page?.status).toBe('CANCELLED');
        expect(page?.ticketsAvailable).toBe(0);
        expect(page?.ticketTiers.every((tier) => !tier.onSale)).toBe(true);
      }
    }
  }, 30_000);
});

describe('the response cache with identical subgraph queries shared in flight', () => {
  // Gateway 2 reaches the events and tickets services through proxies that can hold one
  // answer, and shares identical subgraph queries in flight (off for the rest of this file).
  let proxies: Record<'events' | 'tickets', HoldingProxy>;
  let heldId: string;

  beforeAll(async () => {
    const urlOf = (name: string) => {
      const running = sale.started.topology.processes.get(name);
      if (!running) throw new Error(`${name} is not running`);
      return running.url;
    };
    proxies = {
      events: await startHoldingProxy(urlOf('events')),
      tickets: await startHoldingProxy(urlOf('tickets')),
    };
    await sale.started.topology.restart('gateway-2', {
      EVENTS_URL: new URL('/graphql', proxies.events.url).toString(),
      TICKETS_URL: new URL('/graphql', proxies.tickets.url).toString(),
      DEDUPLICATE_INFLIGHT: 'true',
    });
    ({ eventId: heldId } = await tierOnSale({
      call: gateways[0] as Call,
      tickets: sale.tickets,
      organizerToken: sale.organizer.token,
      capacity: 10,
      title: 'Held in flight',
    }));
  }, 60_000);

  afterAll(async () => {
    if (!proxies) return;
    const started = sale.started.topology.processes;
    await sale.started.topology.restart('gateway-2', {
      EVENTS_URL: started.get('events')?.url,
      TICKETS_URL: started.get('tickets')?.url,
      DEDUPLICATE_INFLIGHT: 'false',
    });
    await Promise.all(Object.values(proxies).map((proxy) => proxy.stop()));
  }, 60_000);

  /** A page of the held event under an operation name of its own, with `fields`. */
  const heldPage = (operationName: string, fields: string) => ({
    query: `query ${operationName}($id: ID!) { event(id: $id) { ${fields} } }`,
    id: heldId,
    operationName,
  });

  /**
   * Sends `page` twice through gateway 2: the first request's query to `subgraph` is held
   * once the subgraph has answered; `meanwhile` runs; the second request then joins that
   * query in flight, and the held answer goes on. Resolves to both reads.
   */
  async function joinHeldFetch(
    page: { query: string; id: string; operationName: string },
    subgraph: 'events' | 'tickets',
    meanwhile: () => Promise<void> = async () => {},
  ) {
    const proxy = proxies[subgraph];
    const before = await stores(1);
    // The gateway names its query to a subgraph after the operation.
    const held = proxy.hold(`${page.operationName}__${subgraph}__`);
    const first = readPage(1, page);
    try {
      await held;
      await meanwhile();
      const second = readPage(1, page);
      await waitFor(
        async () => (await stores(1)).shared(subgraph) > before.shared(subgraph),
        'the second request joining the held query',
        5_000,
      );
      proxy.release();
      const [a, b] = await Promise.all([first, second]);
      // Both answers' cache writes are done (stored, or refused and counted).
      const written = (counts: typeof before) => counts.stored + counts.raced + counts.failed;
      await waitFor(
        async () => written(await stores(1)) >= written(before) + 2,
        'both answers’ cache writes',
        5_000,
      );
      return { a, b, before, after: await stores(1) };
    } finally {
      proxy.release();
    }
  }

  it('gives a request that joined a subgraph query that query’s Cache-Control', async () => {
    // The event's fields (30 s) from the events service, its availability (1 s) from the
    // tickets service: the second request sends its own events query, and joins the first
    // one's tickets query.
    const page = heldPage('HeldAvailability', 'id title ticketsAvailable');
    const { a, b } = await joinHeldFetch(page, 'tickets');
    expect(a.body.errors).toBeUndefined();
    expect(b.body.data).toEqual(a.body.data);
    expect(a.cacheControl).toBe('max-age=1, public');
    // Not the 30 s of its own events query: availability is never more than 1 s old.
    expect(b.cacheControl).toBe('max-age=1, public');
  });

  it('never stores an answer that joined a subgraph query sent before its lookup, across a cancellation', async () => {
    const page = heldPage('HeldInFlight', 'id title status');
    // The tickets service bumps the `events` tag again once the outbox brings it the
    // cancellation: an answer whose write comes after that bump would be refused anyway.
    const ticketsMetrics = new URL('/metrics', sale.started.topology.processes.get('tickets')?.url);
    const ticketsBumps = async () => {
      const text = await (await fetch(ticketsMetrics)).text();
      const series = 'response_cache_invalidations_total{tag="events",outcome="sent"} ';
      const line = text.split('\n').find((candidate) => candidate.startsWith(series));
      return line ? Number(line.slice(series.length)) : 0;
    };
    // A misses and sends the events query; the service answers (published), and the proxy
    // holds that answer. Meanwhile the event is cancelled through the other gateway
    // (committed, its tags bumped by both services), and B's lookup reads the new tag
    // versions, misses, and joins A's query.
    const { a, b, before, after } = await joinHeldFetch(page, 'events', async () => {
      const bumps = await ticketsBumps();
      const cancelled = await gateways[0]?.(
        sale.organizer.token,
        'mutation ($id: ID!) { cancelEvent(id: $id, reason: "Flood") { status } }',
        { id: heldId },
      );
      expect(cancelled?.body.errors).toBeUndefined();
      await waitFor(
        async () => (await ticketsBumps()) > bumps,
        'the tickets service’s invalidation',
        5_000,
      );
    });
    // Both got the answer read before the cancellation, through the subgraphs.
    expect(a.body.data?.event?.status).toBe('PUBLISHED');
    expect(b.body.data?.event?.status).toBe('PUBLISHED');
    expect([a.cache, b.cache]).toEqual(['MISS', 'MISS']);
    // The next reads, at either gateway, show the cancellation.
    for (const gateway of [1, 0, 1]) {
      const next = await readPage(gateway, page);
      expect(next.body.data?.event?.status).toBe('CANCELLED');
    }
    // Neither was kept: A's lookup read the tags before the cancellation, and B's answer
    // was read before it too.
    expect(after.raced - before.raced).toBe(2);
    expect(after.stored).toBe(before.stored);
  });
});
