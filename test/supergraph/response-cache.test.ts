// The response cache's policy, in-process: two gateways sharing Redis under a namespace of
// this file's own. What the Cache-Control header says, what is stored, and what a hit costs
// (test/response-cache.e2e.ts has the same cache on the real topology, with its failures).
import { randomUUID } from 'node:crypto';
import { relaySecret, signDelivery } from '@ticketing/platform';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { testRedisUrl } from '../support.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  draftEvent,
  eventChangesDelivered,
  eventOnSale,
  publishedEvent,
  renamedEvent,
  signUp,
} from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let eventId: string;

beforeAll(async () => {
  supergraph = await startSupergraph({
    gateways: 2,
    env: { REDIS_URL: testRedisUrl, CACHE_NAMESPACE: `test-${randomUUID()}` },
  });
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  ({ eventId } = await eventOnSale(supergraph, organizer.accessToken, [
    { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 50 },
  ]));
});
afterAll(async () => {
  await supergraph?.stop();
});
// An event's change reaches the tickets service through the outbox after the mutation's
// answer, and the tickets service then bumps the `events` tag again: a test that caches an
// answer before that second bump would find it invalidated by an earlier test's change (or
// its own set-up's). Each test, and each set-up that changes events, waits for it.
beforeEach(() => eventChangesDelivered(supergraph));

/** Sends `query` to gateway `gateway` and keeps the cache's headers. */
async function send(
  query: string,
  {
    gateway = 0,
    token,
    variables = {},
    accept,
    requestId,
  }: {
    gateway?: number;
    token?: string;
    variables?: object;
    accept?: string;
    requestId?: string;
  } = {},
) {
  const url = supergraph.gatewayUrls[gateway];
  if (!url) throw new Error(`no gateway ${gateway}`);
  const response = await fetch(new URL('/graphql', url), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(accept ? { accept } : {}),
      ...(requestId ? { 'x-request-id': requestId } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  return {
    status: response.status,
    body,
    cache: response.headers.get('x-cache'),
    cacheControl: response.headers.get('cache-control'),
    contentType: response.headers.get('content-type'),
    vary: varyOf(response),
  };
}

/** The request headers a response says it varies by, lower case, in order. */
const varyOf = (response: Response) =>
  (response.headers.get('vary') ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);

/** Renames the event through gateway 1; resolves to its new title. */
const renameEvent = () => renamedEvent(supergraph, organizer.accessToken, eventId);

/** The sum of a counter's series in gateway `gateway`'s /metrics, optionally only some. */
async function metric(gateway: number, name: string, labels = ''): Promise<number> {
  const url = supergraph.gatewayUrls[gateway];
  if (!url) throw new Error(`no gateway ${gateway}`);
  const text = await (await fetch(new URL('/metrics', url))).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

const unique = () => `# ${randomUUID()}\n`;

describe('the response cache policy', () => {
  it('keeps availability 1 s and event fields 30 s, as the subgraphs’ hints say', async () => {
    const withAvailability = await send(
      `${unique()}query ($id: ID!) { event(id: $id) { title ticketsAvailable } }`,
      { variables: { id: eventId } },
    );
    expect(withAvailability.cacheControl).toBe('max-age=1, public');
    const titles = await send(`${unique()}{ events(first: 5) { edges { node { title } } } }`);
    expect(titles.cacheControl).toBe('max-age=30, public');
  });

  it('never stores what has no hint, errors, or a caller with a token', async () => {
    const me = `${unique()}{ me { id } }`;
    expect((await send(me)).cacheControl).toBe('no-store');
    expect((await send(me)).cache).toBe('MISS');

    const tooMany = `${unique()}{ events(first: 1000) { edges { node { id } } } }`;
    expect((await send(tooMany)).body.errors).toBeDefined();
    expect((await send(tooMany)).cache).toBe('MISS');

    const listing = `${unique()}{ events(first: 5) { edges { node { title } } } }`;
    for (let i = 0; i < 2; i++) {
      const signedIn = await send(listing, { token: organizer.accessToken });
      expect(signedIn.cache).toBeNull();
      expect(signedIn.cacheControl).toBe('max-age=30, private');
    }
    expect((await send(listing)).cache).toBe('MISS');
  });

  it('answers a hit at the other gateway without asking any subgraph', async () => {
    const query = `${unique()}query ($id: ID!) { event(id: $id) { title organizer { name } ticketTiers { available } } }`;
    const variables = { id: eventId };
    // The statements each database was sent for one request, told by the request id the
    // gateway passes on: the background jobs (the hold sweeper every second, the outbox
    // relay) send theirs at any moment.
    const statementsFor = (requestId: string) =>
      Object.values(supergraph.sql).map(
        (log) => log.filter((statement) => statement.requestId === requestId).length,
      );
    const missId = randomUUID();
    expect((await send(query, { variables, requestId: missId })).cache).toBe('MISS');
    // The miss asked all three subgraphs' databases, under its id.
    expect(statementsFor(missId).every((count) => count > 0)).toBe(true);
    const hitId = randomUUID();
    const hit = await send(query, { gateway: 1, variables, requestId: hitId });
    expect(hit.cache).toBe('HIT');
    expect(hit.body.data).toMatchObject({ event: { ticketTiers: [{ available: 50 }] } });
    expect(statementsFor(hitId)).toEqual([0, 0, 0]);
  });

  it('answers a repeated hit from the gateway’s memory, before Apollo, with the same headers', async () => {
    const query = `${unique()}query ($id: ID!) { event(id: $id) { id title } }`;
    const variables = { id: eventId };
    const first = await send(query, { variables });
    expect(first.cache).toBe('MISS');
    const requests = () => metric(0, 'graphql_requests_total');
    const [before, localBefore] = [
      await requests(),
      await metric(0, 'graphql_response_cache_lookups_total', 'reason="local"'),
    ];
    const hit = await send(query, { variables });
    expect(hit.cache).toBe('HIT');
    expect(hit.cacheControl).toMatch(/^max-age=(29|30), public$/);
    expect(hit.body).toEqual(first.body);
    expect(hit.contentType).toBe(first.contentType);
    // Apollo never saw it; the cache's metric counts it as a hit all the same.
    expect(await requests()).toBe(before);
    expect(await metric(0, 'graphql_response_cache_lookups_total', 'reason="local"')).toBe(
      localBefore + 1,
    );
  });

  // The GraphQL-over-HTTP spec: an answer comes in a media type the client accepts. A hit
  // from memory came as application/json to a client that accepts only
  // application/graphql-response+json, and as a 200 to one that accepts neither, which the
  // same request answered by Apollo a moment before got as a 406.
  it('answers a hit from memory in the media type the client accepts, as Apollo answers a miss', async () => {
    const query = `${unique()}query ($id: ID!) { event(id: $id) { id title } }`;
    const variables = { id: eventId };
    const graphqlResponse = 'application/graphql-response+json';
    const miss = await send(query, { variables, accept: graphqlResponse });
    expect(miss.cache).toBe('MISS');
    expect(miss.contentType).toBe(`${graphqlResponse}; charset=utf-8`);
    const hit = await send(query, { variables, accept: graphqlResponse });
    expect(hit.cache).toBe('HIT');
    expect(hit.contentType).toBe(`${graphqlResponse}; charset=utf-8`);
    expect(hit.body).toEqual(miss.body);
    const preferred = await send(query, {
      variables,
      accept: `application/json;q=0.5, ${graphqlResponse}`,
    });
    expect(preferred.cache).toBe('HIT');
    expect(preferred.contentType).toBe(`${graphqlResponse}; charset=utf-8`);
    const either = await send(query, { variables, accept: '*/*' });
    expect(either.cache).toBe('HIT');
    expect(either.contentType).toBe('application/json; charset=utf-8');
    const neither = await send(query, { variables, accept: 'text/html' });
    expect(neither.status).toBe(406);
    expect(neither.cache).toBeNull();
    expect(neither.body.errors).toHaveLength(1);
  });

  it('keys an entry by what decides the answer: not undeclared variables, their order, or an explicit default', async () => {
    const query = `${unique()}query ($id: ID!, $first: Int = 2, $includeCancelled: Boolean) {
      event(id: $id) { id title }
      events(first: $first, filter: { includeCancelled: $includeCancelled }) { edges { node { id } } }
    }`;
    const misses = () => metric(0, 'graphql_response_cache_lookups_total', 'result="miss"');
    const first = await send(query, { variables: { id: eventId, includeCancelled: false } });
    expect(first.cache).toBe('MISS');
    const missesBefore = await misses();
    // A client that varies what the operation ignores gets the same entry, not a miss that
    // sends it to the subgraphs: another name, another order, the default written out.
    const variants = [
      { id: eventId, includeCancelled: false, [`x${randomUUID().slice(0, 8)}`]: 1 },
      { includeCancelled: false, id: eventId },
      { id: eventId, includeCancelled: false, first: 2 },
    ];
    for (const variables of variants) {
      const read = await send(query, { variables });
      expect(read.cache).toBe('HIT');
      expect(read.body).toEqual(first.body);
    }
    expect(await misses()).toBe(missesBefore);
    // What does change the answer still has an entry of its own.
    const other = await send(query, {
      variables: { id: eventId, includeCancelled: false, first: 1 },
    });
    expect(other.cache).toBe('MISS');
  });

  it('keeps a hot 1 s entry alive under continuous reads at both gateways: no reader waits on a fill', async () => {
    const query = `${unique()}query ($id: ID!) { event(id: $id) { title ticketTiers { available } } }`;
    const variables = { id: eventId };
    // Both gateways run in this process and count into its one registry: either's /metrics
    // has both's lookups (their sum counted each twice).
    const lookups = (labels: string) => metric(0, 'graphql_response_cache_lookups_total', labels);
    const counts = async () => ({
      misses: await lookups('result="miss"'),
      refreshes: await lookups('reason="refresh"'),
      filled: await lookups('reason="filled"'),
    });
    // Counted before the entry is made: the entry lives 1 s, and the scrapes of /metrics
    // between its miss and the readers took longer than that on a loaded machine, so that
    // the readers found it expired and waited on a fill.
    const before = await counts();
    expect((await send(query, { variables })).cache).toBe('MISS');
    // Four readers, two at each gateway, for three and a half max-ages.
    const end = Date.now() + 3_500;
    const answers: { cache: string | null; cacheControl: string | null }[] = [];
    await Promise.all(
      [0, 1, 0, 1].map(async (gateway) => {
        while (Date.now() < end) answers.push(await send(query, { gateway, variables }));
      }),
    );
    const after = await counts();
    expect(answers.length).toBeGreaterThan(20);
    expect(answers.filter((answer) => answer.cache !== 'HIT')).toEqual([]);
    // Never older than its max-age of 1 s when served.
    expect(
      answers.filter((answer) => !/^max-age=[01], public$/.test(answer.cacheControl ?? '')),
    ).toEqual([]);
    // The entry was run again behind the readers, at least once a max-age; none of them
    // found it gone (the one miss is the first request's) or waited for another's fill.
    expect(after.refreshes - before.refreshes).toBeGreaterThanOrEqual(3);
    expect(after.misses - after.refreshes - (before.misses - before.refreshes)).toBe(1);
    expect(after.filled - before.filled).toBe(0);
  });

  it('never answers a caller with a token, valid or not, from the gateway’s memory', async () => {
    const query = `${unique()}query ($id: ID!) { event(id: $id) { id title } }`;
    const variables = { id: eventId };
    await send(query, { variables });
    expect((await send(query, { variables })).cache).toBe('HIT');
    const signedIn = await send(query, { variables, token: organizer.accessToken });
    expect(signedIn.cache).toBeNull();
    expect(signedIn.cacheControl).toBe('max-age=30, private');
    const lying = await send(query, { variables, token: 'not-a-token' });
    expect(lying.cache).toBeNull();
    expect(lying.body.data ?? null).toBeNull();
    expect(JSON.stringify(lying.body.errors)).toContain('UNAUTHENTICATED');
  });

  it('keeps other events’ pages when one event changes, and drops that one’s', async () => {
    const other = (
      await eventOnSale(supergraph, organizer.accessToken, [
        { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 5 },
      ])
    ).eventId;
    await eventChangesDelivered(supergraph);
    const query = `${unique()}query ($id: ID!) { event(id: $id) { id title } }`;
    for (const gateway of [0, 1]) {
      for (const id of [eventId, other]) {
        await send(query, { gateway, variables: { id } });
        expect((await send(query, { gateway, variables: { id } })).cache).toBe('HIT');
      }
    }
    const title = await renameEvent();
    for (const gateway of [0, 1]) {
      const changed = await send(query, { gateway, variables: { id: eventId } });
      expect(changed.body.data).toMatchObject({ event: { title } });
      // Redis's entry went with the update (every event's does): this hit is the memory's.
      const kept = await send(query, { gateway, variables: { id: other } });
      expect(kept.cache).toBe('HIT');
      expect(kept.body.data).toMatchObject({ event: { id: other, title: 'On sale' } });
    }
  });

  it('discards an entry once an event changes, at every gateway', async () => {
    const query = `${unique()}{ events(first: 5) { edges { node { id title } } } }`;
    await send(query);
    expect((await send(query, { gateway: 1 })).cache).toBe('HIT');
    const title = await renameEvent();
    for (const gateway of [0, 1]) {
      const after = await send(query, { gateway });
      expect(JSON.stringify(after.body.data)).toContain(title);
    }
  });

  it('keeps listings when a draft, which no anonymous answer holds, is edited', async () => {
    const draftId = await draftEvent(supergraph, organizer.accessToken);
    const query = `${unique()}{ events(first: 5) { edges { node { id title } } } }`;
    await send(query);
    expect((await send(query, { gateway: 1 })).cache).toBe('HIT');
    const edited = await supergraph.request(
      'mutation ($id: ID!) { updateEvent(id: $id, input: { title: "Still a draft" }) { id } }',
      { id: draftId },
      { token: organizer.accessToken },
    );
    expect(edited.errors).toBeUndefined();
    expect((await send(query, { gateway: 1 })).cache).toBe('HIT');
  });

  it('keeps listings when every change of a delivery is refused, for none was applied', async () => {
    const query = `${unique()}{ events(first: 5) { edges { node { id title } } } }`;
    await send(query);
    expect((await send(query, { gateway: 1 })).cache).toBe('HIT');
    const tickets = supergraph.subgraphUrls.tickets;
    const sent = async () => {
      const text = await (await fetch(new URL('/metrics', tickets))).text();
      const line =
        /^response_cache_invalidations_total\{[^}]*tag="events"[^}]*outcome="sent"[^}]*\} (\d+)/m;
      return Number(line.exec(text)?.[1] ?? 0);
    };
    const before = await sent();
    // A change the tickets service cannot read (a newer events service's, or a damaged row),
    // as the outbox relay delivers it: signed, alone in its delivery.
    const body = JSON.stringify({
      messages: [
        { sequence: '1', topic: 'event.updated', eventId: randomUUID(), payload: 'not a snapshot' },
      ],
    });
    const timestamp = String(Date.now());
    const delivery = await fetch(new URL('/internal/event-changes', tickets), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-relay-timestamp': timestamp,
        'x-relay-signature': signDelivery(relaySecret({ NODE_ENV: 'test' }), timestamp, body),
      },
      body,
    });
    expect(delivery.status).toBe(422);
    expect(await delivery.json()).toMatchObject({ applied: [], refused: [{ sequence: '1' }] });
    expect(await sent()).toBe(before);
    for (const gateway of [0, 1]) expect((await send(query, { gateway })).cache).toBe('HIT');
  });

  it('drops an event’s page once it is cancelled, whatever the query’s aliases call `id`', async () => {
    const cancelled = (
      await eventOnSale(supergraph, organizer.accessToken, [
        { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 5 },
      ])
    ).eventId;
    await eventChangesDelivered(supergraph);
    type Node = { eventId: string; status: string };
    type Page = { event: { id: string; status?: string; organizer?: unknown } };
    const edgesOf = (data: Page) =>
      (data.event.organizer as { organizedEvents: { edges: { node: Node }[] } }).organizedEvents
        .edges;
    const pages: [string, Record<string, string>, (data: Page) => string | undefined][] = [
      // `id` names another field: the response's `id` is not the event's.
      [
        `${unique()}query ($id: ID!) { event(id: $id) { id: title status } }`,
        { id: cancelled },
        (data) => data.event.status,
      ],
      // Another event's page, holding this one under another name.
      [
        `${unique()}query ($id: ID!) { event(id: $id) { id organizer { organizedEvents(first: 100) { edges { node { eventId: id status } } } } } }`,
        { id: eventId },
        (data) => edgesOf(data).find((edge) => edge.node.eventId === cancelled)?.node.status,
      ],
    ];
    for (const [query, variables, statusOf] of pages) {
      await send(query, { variables });
      const hit = await send(query, { variables });
      expect(hit.cache).toBe('HIT');
      expect(statusOf(hit.body.data as Page)).toBe('PUBLISHED');
    }
    const cancel = await supergraph.request(
      'mutation ($id: ID!) { cancelEvent(id: $id) { status } }',
      { id: cancelled },
      { token: organizer.accessToken, gateway: 1 },
    );
    expect(cancel.errors).toBeUndefined();
    for (const gateway of [0, 1]) {
      for (const [query, variables, statusOf] of pages) {
        const after = await send(query, { gateway, variables });
        expect(statusOf(after.body.data as Page)).toBe('CANCELLED');
      }
    }
  });

  it('drops an event’s page that lists other events once one of them is published', async () => {
    // One event's page that also lists its organizer's events, without their ids.
    const query = `${unique()}query ($id: ID!) { event(id: $id) { id title organizer { organizedEvents(first: 100) { edges { node { title } } } } } }`;
    const variables = { id: eventId };
    const titles = (read: Awaited<ReturnType<typeof send>>) =>
      (
        read.body.data as {
          event: { organizer: { organizedEvents: { edges: { node: { title: string } }[] } } };
        }
      ).event.organizer.organizedEvents.edges.map((edge) => edge.node.title);
    await send(query, { variables });
    const hit = await send(query, { variables });
    expect(hit.cache).toBe('HIT');
    const title = `Published ${randomUUID().slice(0, 8)}`;
    await publishedEvent(supergraph, organizer.accessToken, title);
    for (const gateway of [0, 1]) {
      const after = await send(query, { gateway, variables });
      expect(titles(after)).toContain(title);
    }
  });

  it('keeps a page without availability in memory when stock moves', async () => {
    const { eventId: onSale, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 5 },
    ]);
    await eventChangesDelivered(supergraph);
    const buyer = await signUp(supergraph);
    // An event's own fields (30 s, from the events service alone), and a listing, which the
    // publication below drops: its drop tells that this gateway has heard both changes.
    const page = `${unique()}query ($id: ID!) { event(id: $id) { id title } }`;
    const listing = `${unique()}{ events(first: 5) { edges { node { id title } } } }`;
    const variables = { id: onSale };
    for (const [query, vars] of [
      [page, variables],
      [listing, {}],
    ] as const) {
      await send(query, { variables: vars });
      expect((await send(query, { variables: vars })).cache).toBe('HIT');
    }
    const dropped = () =>
      metric(0, 'graphql_response_cache_local_dropped_total', 'cause="invalidation"');
    const [droppedBefore, localBefore] = [
      await dropped(),
      await metric(0, 'graphql_response_cache_lookups_total', 'reason="local"'),
    ];
    // A purchase moves stock; then a publication changes the listing.
    const bought = await supergraph.request(
      'mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id } }',
      { input: { tierId: tierIds[0], quantity: 1, idempotencyKey: randomUUID() } },
      { token: buyer.accessToken, gateway: 1 },
    );
    expect(bought.errors).toBeUndefined();
    await publishedEvent(supergraph, organizer.accessToken, 'Later');
    await vi.waitFor(async () => expect(await dropped()).toBeGreaterThan(droppedBefore));
    // The page holds nothing the purchase changed: it is still served from memory.
    const after = await send(page, { variables });
    expect(after.cache).toBe('HIT');
    expect(await metric(0, 'graphql_response_cache_lookups_total', 'reason="local"')).toBe(
      localBefore + 1,
    );
  });
});

// A public answer's media type follows the client's Accept, and whether it is the anonymous
// answer at all follows Authorization: a shared cache in front (a CDN, a micro-cache at the
// edge) that was not told so could serve one client's type, or the anonymous answer, to
// another. Every answer of /graphql says so, on each path an answer takes.
describe('the request headers an answer varies by', () => {
  const varies = ['accept', 'authorization'];

  /** GETs `query` from gateway `gateway`, with the headers given. */
  async function get(query: string, gateway: number, headers: Record<string, string> = {}) {
    const url = new URL('/graphql', supergraph.gatewayUrls[gateway]);
    url.searchParams.set('query', query);
    const response = await fetch(url, {
      headers: { 'apollo-require-preflight': 'true', ...headers },
    });
    await response.arrayBuffer();
    return {
      status: response.status,
      cache: response.headers.get('x-cache'),
      cacheControl: response.headers.get('cache-control'),
      contentType: response.headers.get('content-type'),
      etag: response.headers.get('etag'),
      vary: varyOf(response),
    };
  }

  it('are named on a GET answered through Apollo, a hit from Redis, and a 304', async () => {
    const query = `${unique()}{ events(first: 5) { edges { node { title } } } }`;
    const miss = await get(query, 0);
    expect(miss).toMatchObject({ status: 200, cache: 'MISS', cacheControl: 'max-age=30, public' });
    expect(miss.vary).toEqual(expect.arrayContaining(varies));
    // The other gateway, whose memory does not hold it: a hit through Apollo's plugin.
    const hit = await get(query, 1, { accept: 'application/graphql-response+json' });
    expect(hit).toMatchObject({ status: 200, cache: 'HIT' });
    expect(hit.contentType).toMatch(/^application\/graphql-response\+json/);
    expect(hit.vary).toEqual(expect.arrayContaining(varies));
    expect(hit.etag).toBeTruthy();
    const unchanged = await get(query, 1, {
      accept: 'application/graphql-response+json',
      'if-none-match': hit.etag as string,
      // fetch adds `Cache-Control: no-cache` to a conditional request without one, which
      // Express answers in full.
      'cache-control': 'max-age=0',
    });
    expect(unchanged.status).toBe(304);
    expect(unchanged.vary).toEqual(expect.arrayContaining(varies));
  });

  it('are named on a POST answered through Apollo and on a hit from memory, before Apollo', async () => {
    const query = `${unique()}query ($id: ID!) { event(id: $id) { id title } }`;
    const variables = { id: eventId };
    const miss = await send(query, { variables });
    expect(miss.cache).toBe('MISS');
    expect(miss.vary).toEqual(expect.arrayContaining(varies));
    const requests = () => metric(0, 'graphql_requests_total');
    const before = await requests();
    const hit = await send(query, { variables });
    expect(hit.cache).toBe('HIT');
    expect(await requests()).toBe(before);
    expect(hit.vary).toEqual(expect.arrayContaining(varies));
  });

  it('are named on an answer to a caller with a token, and on a refusal', async () => {
    const signedIn = await send(`${unique()}{ me { id } }`, { token: organizer.accessToken });
    expect(signedIn.vary).toEqual(expect.arrayContaining(varies));
    const refused = await send('{ nothing }');
    expect(refused.status).toBe(400);
    expect(refused.vary).toEqual(expect.arrayContaining(varies));
  });
});
