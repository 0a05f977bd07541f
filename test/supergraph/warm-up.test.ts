// The gateway's warm-up at start (gateway/src/warm-up.ts): a gateway that has started has
// planned the queries clients send, without reading or writing the response cache, and a
// gateway whose subgraphs are away still starts, within the warm-up's deadline.
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { readManifest } from '@ticketing/gateway/safelist';
import { createLogger, type RunningService } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, testRedisUrl } from '../support.ts';
import { gatewayOver, type Supergraph, startSupergraph } from './harness.ts';

let supergraph: Supergraph;
const gateways: RunningService[] = [];

beforeAll(async () => {
  supergraph = await startSupergraph();
});
afterAll(async () => {
  for (const gateway of gateways) await gateway.stop();
  await supergraph?.stop();
});

/** A gateway over the test supergraph with `env` changed, and the log lines it writes. */
async function gatewayWith(env: NodeJS.ProcessEnv) {
  const lines: { msg?: string; [field: string]: unknown }[] = [];
  const write = (line: string) => void lines.push(JSON.parse(line));
  const gateway = await gatewayOver(
    supergraph,
    env,
    createLogger('gateway-under-test', 'info', { write }),
  );
  gateways.push(gateway);
  return { gateway, lines };
}

/**
 * The counters this file reads, from a gateway's /metrics. Every gateway in this process
 * shares one registry, so only differences between two reads with nothing else running
 * in between say anything.
 */
async function counters(graphqlUrl: string) {
  const text = await (await fetch(new URL('/metrics', graphqlUrl))).text();
  const total = (name: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  return {
    planHits: total('graphql_query_plan_cache_hits_total'),
    planMisses: total('graphql_query_plan_cache_misses_total'),
    cacheLookups: total('graphql_response_cache_lookups_total'),
    cacheStores: total('graphql_response_cache_stores_total'),
  };
}

const clientQueries = readManifest().operations.filter((operation) => operation.type === 'query');

describe('the warm-up at start', () => {
  it('plans every client query before the gateway listens, and leaves the response cache alone', async () => {
    const gatewayUrl = supergraph.gatewayUrls[0] as string;
    const before = await counters(gatewayUrl);
    const { gateway, lines } = await gatewayWith({
      REDIS_URL: testRedisUrl,
      CACHE_NAMESPACE: `test-${randomUUID()}`,
    });
    const started = await counters(gateway.url);

    expect(lines.find((line) => line.msg === 'warm-up done')).toMatchObject({
      warmed: clientQueries.length,
      failed: {},
      skipped: [],
    });
    expect(started.planMisses - before.planMisses).toBe(clientQueries.length);
    expect(started.cacheLookups - before.cacheLookups).toBe(0);
    expect(started.cacheStores - before.cacheStores).toBe(0);

    // A client's first request: its plan is found, and the cache has no entry for it.
    const eventList = clientQueries.find((operation) => operation.name === 'EventList');
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: eventList?.body,
        operationName: 'EventList',
        variables: { first: 5 },
      }),
    });
    expect(response.status).toBe(200);
    expect((await response.json()).errors).toBeUndefined();
    expect(response.headers.get('x-cache')).toBe('MISS');
    const after = await counters(gateway.url);
    expect(after.planHits - started.planHits).toBe(1);
    expect(after.planMisses - started.planMisses).toBe(0);
  });

  it('starts within its deadline when the subgraphs are away, and says what it could not warm', async () => {
    // One subgraph refuses connections; the other two accept them and never answer.
    const silentSockets: Socket[] = [];
    const silent: Server = createServer((socket) => silentSockets.push(socket));
    silent.listen(0, '127.0.0.1');
    await new Promise((resolve) => silent.once('listening', resolve));
    const address = silent.address();
    const silentUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/graphql`;
    try {
      const warmUpMs = 1_000;
      const began = performance.now();
      const { gateway, lines } = await gatewayWith({
        USERS_URL: `http://127.0.0.1:${await freePort()}/graphql`,
        EVENTS_URL: silentUrl,
        TICKETS_URL: silentUrl,
        WARM_UP_TIMEOUT_MS: String(warmUpMs),
        // Far longer than the warm-up's deadline: only that deadline ends its requests.
        SUBGRAPH_TIMEOUT_MS: '30000',
      });
      const elapsed = performance.now() - began;

      expect(elapsed).toBeGreaterThanOrEqual(warmUpMs * 0.9);
      // The deadline, plus the start itself on a busy machine; far below the subgraph timeout.
      expect(elapsed).toBeLessThan(warmUpMs + 5_000);
      const incomplete = lines.find((line) => line.msg === 'warm-up incomplete: starting anyway');
      expect(incomplete?.warmed).toBe(0);
      // Every query is named: failed (the users one refused; the one in flight at the
      // deadline, whose silent subgraph the deadline cut off, whichever of the two timers
      // fired first) or skipped (not reached in time).
      const failed = Object.values(incomplete?.failed ?? {}) as string[];
      expect(failed.length).toBeGreaterThan(0);
      for (const code of failed) expect(['SERVICE_UNAVAILABLE', 'TIMED_OUT']).toContain(code);
      const skipped = (incomplete?.skipped ?? []) as string[];
      expect(failed.length + skipped.length).toBe(clientQueries.length);
      const ready = await fetch(new URL('/health/ready', gateway.url));
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'degraded' });
    } finally {
      for (const socket of silentSockets) socket.destroy();
      silent.close();
    }
  });
});
