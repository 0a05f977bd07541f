// The response cache shared by both gateways through Redis, on the real topology (NGINX,
// two gateway processes, the subgraphs on PostgreSQL) with a Redis of the test's own: what
// is served from it, to whom, and how soon a change reaches every gateway.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type OwnRedis, startOwnRedis } from './own-servers.ts';
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

/** An anonymous read of the event page through one gateway, with the cache's headers. */
async function readPage(gateway: number) {
  const call = gateways[gateway];
  if (!call) throw new Error(`no gateway ${gateway}`);
  const started = performance.now();
  const response = await fetch(
    new URL('/graphql', sale.started.topology.processes.get(`gateway-${gateway + 1}`)?.url),
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: eventPage, variables: { id: eventId } }),
    },
  );
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
async function warm(gateway: number) {
  await waitFor(async () => (await readPage(gateway)).cache === 'HIT', 'a cache hit', 5_000);
}

/** Polls every gateway until `seen` holds at each; returns how long the slowest took. */
async function visibleEverywhere(seen: (page: EventPage) => boolean): Promise<number> {
  const started = performance.now();
  await Promise.all(
    gateways.map((_, gateway) =>
      waitFor(
        async () => {
          const page = await readPage(gateway);
          return page.body.data ? seen(page.body.data) : false;
        },
        `the change at gateway-${gateway + 1}`,
        10_000,
      ),
    ),
  );
  return performance.now() - started;
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
    const title = `Renamed ${randomUUID().slice(0, 8)}`;
    const updated = await sale.call(
      sale.organizer.token,
      'mutation ($id: ID!, $title: String!) { updateEvent(id: $id, input: { title: $title }) { title } }',
      { id: eventId, title },
    );
    expect(updated.body.errors).toBeUndefined();
    const took = await visibleEverywhere((page) => page.event?.title === title);
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
