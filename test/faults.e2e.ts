// The edge stays up when a dependency fails, through NGINX and both gateway processes:
// a frozen subgraph, a Redis that freezes and then dies, and a body NGINX must not send to
// disk. The services run on the test's own Redis, which the test freezes and kills.
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type OwnRedis, startOwnRedis } from './own-servers.ts';
import {
  type Call,
  outcomeOf,
  purchaseMutation,
  type SaleTopology,
  startSaleTopology,
  tierOnSale,
} from './sales.ts';
import type { TestTopology } from './support.ts';

let redis: OwnRedis;
let sale: SaleTopology;
let started: TestTopology;
let call: Call;
let buyers: { id: string; token: string }[];
let tierId: string;

/** The gateways' deadline for one subgraph request (their default). */
const subgraphTimeoutMs = 15_000;

beforeAll(async () => {
  redis = await startOwnRedis();
  sale = await startSaleTopology('faults', {
    buyers: 20,
    env: { REDIS_URL: redis.url, MAX_TICKETS_PER_EVENT: '100000' },
  });
  ({ started, call, buyers } = sale);
  ({ tierId } = await tierOnSale({
    call,
    tickets: sale.tickets,
    organizerToken: sale.organizer.token,
    capacity: 100_000,
  }));
}, 120_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(started.logs.join('\n'));
});

afterAll(async () => {
  await sale?.stop();
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readiness(): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(new URL('/health/ready', started.topology.publicUrl));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Runs `work` in a loop on `clients` concurrent clients until `until` resolves. */
async function underLoad<T>(
  clients: number,
  until: Promise<unknown>,
  work: (client: number) => Promise<T>,
) {
  let done = false;
  void until.then(() => {
    done = true;
  });
  const results: T[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (!done) results.push(await work(client));
    }),
  );
  return results;
}

describe('a body of 900 KB', () => {
  it('gets a GraphQL answer through NGINX, whoever started it', async () => {
    const response = await call(
      undefined,
      'query Big($search: String) { events(first: 1, filter: { search: $search }) { totalCount } }',
      { search: 'x'.repeat(900 * 1024) },
    );
    expect(response.status).toBe(200);
    expect(response.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'filter.search',
    });
    const errors = await readFile(join(started.runDir, 'error.log'), 'utf8');
    expect(errors).not.toMatch(/client_body|Permission denied/);
  });
});

describe('a Redis outage', () => {
  /** Sends an operation by hash, and again with its text when the hash is unknown (APQ). */
  async function persisted(query: string) {
    const persistedQuery = {
      version: 1,
      sha256Hash: createHash('sha256').update(query).digest('hex'),
    };
    const send = async (body: Record<string, unknown>) => {
      const response = await fetch(started.topology.publicUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return (await response.json()) as {
        data?: unknown;
        errors?: { extensions?: { code?: string } }[];
      };
    };
    const began = Date.now();
    let result = await send({ extensions: { persistedQuery } });
    let resent = false;
    if (result.errors?.[0]?.extensions?.code === 'PERSISTED_QUERY_NOT_FOUND') {
      resent = true;
      result = await send({ query, extensions: { persistedQuery } });
    }
    return { ok: !result.errors && result.data != null, resent, ms: Date.now() - began, result };
  }
  const operation = (n: number) => `query Apq${n} { events(first: 1) { totalCount } }`;

  it('keeps persisted queries working within the deadline, reports degraded, and recovers', async () => {
    expect((await readiness()).body.status).toBe('ready');
    for (let n = 0; n < 20; n++) expect((await persisted(operation(n))).ok).toBe(true);

    // Frozen: Redis accepts nothing and answers nothing; every command meets its deadline.
    redis.freeze();
    const frozen = await underLoad(8, sleep(4_000), (client) =>
      persisted(operation(client * 1000 + Math.floor(Math.random() * 40))),
    );
    expect((await readiness()).body).toMatchObject({
      status: 'degraded',
      problems: { redis: expect.any(String) },
    });
    redis.thaw();
    // Gone: connections are refused.
    await redis.kill();
    const gone = await underLoad(8, sleep(4_000), (client) =>
      persisted(operation(client * 1000 + 500 + Math.floor(Math.random() * 40))),
    );
    const whileAway = await readiness();
    expect(whileAway.status).toBe(200);
    expect(whileAway.body).toMatchObject({
      status: 'degraded',
      problems: { redis: expect.any(String) },
    });

    for (const [phase, results] of Object.entries({ frozen, gone })) {
      expect(results.length, phase).toBeGreaterThan(20);
      expect(
        results.filter((result) => !result.ok).map((result) => result.result),
        phase,
      ).toEqual([]);
      // Each attempt, resent or not, within a few Redis deadlines, never a hang.
      expect(Math.max(...results.map((result) => result.ms)), phase).toBeLessThan(3_000);
    }

    // Back: every gateway says so once its client has reconnected, and the cache is shared
    // again.
    await redis.start();
    const deadline = Date.now() + 15_000;
    for (const gateway of ['gateway-1', 'gateway-2']) {
      const url = new URL('/health/ready', started.topology.processes.get(gateway)?.url);
      while (((await (await fetch(url)).json()) as { status: string }).status !== 'ready') {
        if (Date.now() > deadline) throw new Error(`${gateway} did not recover with Redis`);
        await sleep(200);
      }
    }
    const query = `query Shared { apq_${randomUUID().replaceAll('-', '')}: events(first: 1) { totalCount } }`;
    const persistedQuery = {
      version: 1,
      sha256Hash: createHash('sha256').update(query).digest('hex'),
    };
    const direct = async (gateway: string, body: Record<string, unknown>) => {
      const response = await fetch(started.topology.processes.get(gateway)?.url as string, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return (await response.json()) as { errors?: unknown };
    };
    expect(
      (await direct('gateway-1', { query, extensions: { persistedQuery } })).errors,
    ).toBeUndefined();
    expect((await direct('gateway-2', { extensions: { persistedQuery } })).errors).toBeUndefined();
  });
});

describe('a frozen users subgraph', () => {
  const withoutUsers = /* GraphQL */ `
    query WithoutUsers { events(first: 5) { edges { node { id title ticketsAvailable } } } }
  `;
  const withUsers = /* GraphQL */ `
    query WithUsers { events(first: 5) { edges { node { id title organizer { name } } } } }
  `;

  it('fails only what needs it, within the deadline, and takes no gateway out of rotation', async () => {
    const errorLogBefore = await readFile(join(started.runDir, 'error.log'), 'utf8');
    started.topology.signal('users', 'SIGSTOP');
    const frozenFor = sleep(40_000).then(() => started.topology.signal('users', 'SIGCONT'));
    let purchases = 0;
    const results = await underLoad(6, frozenFor, async (client) => {
      const began = Date.now();
      if (client < 2) {
        // Each purchase by the next buyer: a quiet machine sells thousands in 40 s.
        const buyer = buyers[purchases % buyers.length] as { token: string };
        purchases++;
        const response = await call(buyer.token, purchaseMutation, {
          input: { tierId, quantity: 1, idempotencyKey: randomUUID() },
        });
        return { kind: 'purchase', response, ms: Date.now() - began };
      }
      const kind = client < 4 ? 'withoutUsers' : 'withUsers';
      const response = await call(undefined, kind === 'withUsers' ? withUsers : withoutUsers);
      return { kind, response, ms: Date.now() - began };
    });

    const of = (kind: string) => results.filter((result) => result.kind === kind);
    // What does not need users: no failure at all.
    for (const kind of ['purchase', 'withoutUsers']) {
      expect(of(kind).length, kind).toBeGreaterThan(10);
      expect(
        of(kind)
          .filter((result) => outcomeOf(result.response) !== 'OK')
          .map((result) => JSON.stringify(result.response.body)),
        kind,
      ).toEqual([]);
    }
    // What needs users: within the deadline, with the events and a coded error on the names.
    const needing = of('withUsers');
    expect(needing.length).toBeGreaterThan(2);
    const partial = needing.filter((result) => result.response.body.errors);
    expect(partial.length).toBeGreaterThan(0);
    for (const { response, ms } of partial) {
      expect(response.status).toBe(200);
      expect(ms).toBeLessThan(subgraphTimeoutMs + 5_000);
      const listing = response.body.data?.events as
        | { edges: { node: { title: string; organizer: unknown } }[] }
        | undefined;
      const edges = listing?.edges ?? [];
      expect(edges.length).toBeGreaterThan(0);
      expect(
        edges.every((edge) => typeof edge.node.title === 'string' && edge.node.organizer === null),
      ).toBe(true);
      expect(response.body.errors?.map((error) => error.extensions?.code)).toContain(
        'SERVICE_UNAVAILABLE',
      );
      expect(JSON.stringify(response.body.errors)).not.toMatch(/users|4\d{3}|fetch|stack/i);
    }
    expect(purchases).toBeGreaterThan(10);

    // NGINX took no gateway out of rotation, and both served throughout.
    const errorLog = (await readFile(join(started.runDir, 'error.log'), 'utf8')).slice(
      errorLogBefore.length,
    );
    expect(errorLog).not.toMatch(/upstream timed out|no live upstreams|temporarily disabled/);
    expect(new Set(results.map((result) => result.response.servedBy))).toEqual(
      new Set(['gateway-1', 'gateway-2']),
    );

    // Thawed, the names come back.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const response = await call(undefined, withUsers);
      if (!response.body.errors) break;
      if (Date.now() > deadline) throw new Error('the users subgraph did not come back');
      await sleep(200);
    }
  });
});
