// What a client chooses, by the thousand, and what it may cost the services: the series
// each one's /metrics exposes, and what the gateway takes as the client's address. Distinct
// paths, methods, addresses (through a trusted proxy's X-Forwarded-For), tokens, ids,
// search strings, errors and persisted-query hashes make no series of their own: what a
// client names is never a label value.
import { randomUUID } from 'node:crypto';
import { createLogger, type RunningService } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayOver, type Supergraph, startSupergraph } from './harness.ts';

let supergraph: Supergraph;
let gateway: RunningService;

beforeAll(async () => {
  supergraph = await startSupergraph();
  gateway = await gatewayOver(supergraph, {}, createLogger('gateway-under-test', 'silent'));
});
afterAll(async () => {
  await gateway?.stop();
  await supergraph?.stop();
});

/** Every service's /metrics: the gateway's and each subgraph's. */
const metricsUrls = () => [
  new URL('/metrics', gateway.url),
  ...Object.values(supergraph.subgraphUrls).map((url) => new URL('/metrics', url)),
];

/** The series of the services' own metrics (not prom-client's process and Node.js ones). */
async function ownSeries(): Promise<{ series: Set<string>; bytes: number }> {
  const series = new Set<string>();
  let bytes = 0;
  for (const url of metricsUrls()) {
    const text = await (await fetch(url)).text();
    const own = text
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .filter((line) => !/^(process|nodejs)_/.test(line))
      .map((line) => `${url.port} ${line.replace(/ \S+$/, '')}`);
    for (const name of own) series.add(name);
    bytes += own.join('\n').length;
  }
  return { series, bytes };
}

/** The i-th hostile request: each of a kind, each naming something no other names. */
async function hostile(i: number): Promise<void> {
  const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const json = { 'content-type': 'application/json', 'x-forwarded-for': address };
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(gateway.url, {
      method: 'POST',
      headers: { ...json, ...headers },
      body: JSON.stringify(body),
    });
  const kinds: (() => Promise<Response>)[] = [
    // A path of its own.
    () => fetch(new URL(`/graphql/${randomUUID()}/${i}`, gateway.url), { headers: json }),
    // A method of its own.
    () => fetch(gateway.url, { method: `M${i}`, headers: json }),
    // A token of its own, not a valid one.
    () => post({ query: '{ __typename }' }, { authorization: `Bearer ${randomUUID()}.${i}` }),
    // An event id of its own.
    () =>
      post({
        query: 'query ($id: ID!) { event(id: $id) { id } }',
        variables: { id: randomUUID() },
      }),
    // A search string of its own.
    () =>
      post({
        query:
          'query ($search: String) { events(first: 1, filter: { search: $search }) { edges { node { id } } } }',
        variables: { search: `word${i}` },
      }),
    // An error of its own: a variable that does not coerce, and a field that is not there.
    () =>
      post({
        query: 'query ($n: Int) { events(first: $n) { edges { node { id } } } }',
        variables: { n: `n${i}` },
      }),
    () => post({ query: `{ field${i} }`, operationName: `Op${i}` }),
    // A persisted query's hash of its own, not registered.
    () =>
      post({
        extensions: {
          persistedQuery: { version: 1, sha256Hash: randomUUID().replaceAll('-', '').repeat(2) },
        },
      }),
  ];
  const response = await (kinds[i % kinds.length] as () => Promise<Response>)();
  await response.arrayBuffer();
}

describe('what clients name, by the thousand', () => {
  it('grows no series in any service’s /metrics', async () => {
    // Each kind once first, so that every series these requests can touch exists.
    for (let i = 0; i < 16; i++) await hostile(i);
    const before = await ownSeries();
    for (let start = 16; start < 4_016; start += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, k) => hostile(start + k)));
    }
    const after = await ownSeries();
    expect([...after.series].filter((series) => !before.series.has(series))).toEqual([]);
    expect(after.bytes).toBe(before.bytes);
  }, 60_000);
});

describe('a trusted proxy’s X-Forwarded-For that names no address', () => {
  // The gateway believes X-Forwarded-For from TRUSTED_PROXIES (loopback here) and takes
  // its right-most untrusted entry as the client's address, for the users service's
  // throttles: a proxy that passes the client's header on as sent passes on whatever it
  // holds.
  const eventsFrom = (forwardedFor: string) =>
    fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
      body: JSON.stringify({ query: '{ events(first: 1) { edges { node { id } } } }' }),
    });

  it('is refused with 400 BAD_REQUEST naming the header, not taken as an address', async () => {
    for (const forwardedFor of [
      'x'.repeat(200),
      '203.0.113.7, not-an-address',
      `${'1'.repeat(60)}`,
      // An IPv6 address whose zone (the interface it is reached through) is any text: Node
      // takes it for an IP address, zone and all, so it was the client's text again, and
      // past 100 characters SERVICE_UNAVAILABLE.
      `fe80::7%${'x'.repeat(200)}`,
      `fe80::7%${'x'.repeat(16)}`,
    ]) {
      const response = await eventsFrom(forwardedFor);
      expect({ forwardedFor, status: response.status }).toEqual({ forwardedFor, status: 400 });
      const body = (await response.json()) as {
        errors: { message: string; extensions: unknown }[];
      };
      expect(body.errors).toEqual([
        {
          message: expect.stringContaining('X-Forwarded-For'),
          extensions: { code: 'BAD_REQUEST' },
        },
      ]);
    }
  });

  it('names an address when its right-most untrusted entry is one', async () => {
    for (const forwardedFor of [
      '203.0.113.7',
      'not-an-address, 203.0.113.7',
      '2001:db8::7',
      '::ffff:203.0.113.7',
      'fe80::7%eth0',
    ]) {
      const response = await eventsFrom(forwardedFor);
      expect({ forwardedFor, body: await response.json() }).toEqual({
        forwardedFor,
        body: { data: { events: { edges: expect.any(Array) } } },
      });
    }
  });
});
