// A Redis that answers, but refuses or has lost what it held: out of memory (every write
// refused), a read-only replica, state flushed. Two gateways and the services share a Redis
// of this file's own, which the tests turn hostile and back. Each answer stays correct: what
// the cache cannot confirm it does not serve, and nothing waits past its deadline.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, signedSubgraphHeaders, startSubgraph } from '@ticketing/platform';
import { dropDatabase, uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { usersSubgraph } from '@ticketing/users-subgraph/subgraph';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type OwnRedis, startOwnRedis } from '../own-servers.ts';
import { gatewayOver, type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  codeOf,
  eventChangesDelivered,
  eventOnSale,
  logIn,
  meQuery,
  refresh,
  renamedEvent,
  signUp,
} from './operations.ts';

let redis: OwnRedis;
/** The test's own connection, to turn Redis hostile and back. */
let admin: Redis;
let supergraph: Supergraph;
let organizer: AuthPayload;
let eventId: string;
const adminEmail = 'hostile-redis-admin@example.com';
const adminPassword = 'the admin password of the hostile redis test';

beforeAll(async () => {
  redis = await startOwnRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  supergraph = await startSupergraph({
    gateways: 2,
    env: {
      REDIS_URL: redis.url,
      BOOTSTRAP_ADMIN_EMAIL: adminEmail,
      BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
    },
  });
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  ({ eventId } = await eventOnSale(supergraph, organizer.accessToken, [
    { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 50 },
  ]));
});
afterAll(async () => {
  await supergraph?.stop();
  admin?.disconnect();
  await redis?.stop();
});
beforeEach(() => eventChangesDelivered(supergraph));

/** Sends an anonymous `query` to gateway `gateway`, with where its answer came from. */
async function send(query: string, gateway: number, variables: object = {}) {
  const response = await fetch(new URL('/graphql', supergraph.gatewayUrls[gateway]), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    cache: response.headers.get('x-cache'),
    body: (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] },
  };
}

/** What gateway `gateway`'s readiness says. */
const gatewayReadiness = async (gateway: number) =>
  (await fetch(new URL('/health/ready', supergraph.gatewayUrls[gateway]))).json();

/** Renames the event through gateway 1; resolves to its new title. */
const renameEvent = () => renamedEvent(supergraph, organizer.accessToken, eventId);

const unique = () => `# ${randomUUID()}\n`;

/** Ways a reachable Redis refuses every write, each with how to end it. */
const refusals: [string, () => Promise<() => Promise<unknown>>][] = [
  [
    'out of memory',
    async () => {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
      return () => admin.config('SET', 'maxmemory', '0');
    },
  ],
  [
    'a read-only replica',
    async () => {
      // A master that is never reached: the replica keeps its data and refuses writes.
      await admin.config('SET', 'replica-read-only', 'yes');
      await admin.replicaof('127.0.0.1', '1');
      return () => admin.replicaof('NO', 'ONE');
    },
  ],
];

describe('a Redis that refuses writes', () => {
  let end: (() => Promise<unknown>) | undefined;
  afterEach(async () => {
    await end?.();
    end = undefined;
  });

  for (const [refusal, begin] of refusals) {
    it(`never serves an event's old state from the cache once its change answered: ${refusal}`, async () => {
      const page = `${unique()}query ($id: ID!) { event(id: $id) { id title } }`;
      const listing = `${unique()}{ events(first: 5) { edges { node { id title } } } }`;
      for (const gateway of [0, 1]) {
        for (const query of [page, listing]) {
          await send(query, gateway, { id: eventId });
          expect((await send(query, gateway, { id: eventId })).cache).toBe('HIT');
        }
      }
      end = await begin();
      for (const gateway of [0, 1]) {
        await expect
          .poll(() => gatewayReadiness(gateway))
          .toMatchObject({
            status: 'degraded',
            problems: { redis: expect.stringMatching(/refused a write/) },
          });
      }
      const title = await renameEvent();
      for (const gateway of [0, 1]) {
        for (const query of [page, listing]) {
          // Asked twice: a miss must not be stored and served as current either.
          for (let i = 0; i < 2; i++) {
            const after = await send(query, gateway, { id: eventId });
            expect(after.status).toBe(200);
            expect(after.body.errors).toBeUndefined();
            expect(JSON.stringify(after.body.data)).toContain(title);
          }
        }
      }
      await end();
      end = undefined;
      for (const gateway of [0, 1]) {
        await expect.poll(() => gatewayReadiness(gateway)).toMatchObject({ status: 'ready' });
      }
      // Healthy again, the cache serves hits again.
      const again = `${unique()}query ($id: ID!) { event(id: $id) { id title } }`;
      await send(again, 0, { id: eventId });
      await expect
        .poll(async () => (await send(again, 1, { id: eventId })).cache, { timeout: 5_000 })
        .toBe('HIT');
    });
  }
});

describe('a Redis that lost keys', () => {
  it('never brings an event’s old page back when its version key is evicted after a change', async () => {
    const versionKey = `ticketing:response-cache:event:${eventId}`;
    const page = `${unique()}query ($id: ID!) { event(id: $id) { id title } }`;
    // The event's version key gone (a day after its last change, or evicted) when the page
    // is stored.
    await admin.del(versionKey);
    await send(page, 0, { id: eventId });
    expect((await send(page, 0, { id: eventId })).cache).toBe('HIT');
    const title = await renameEvent();
    // Evicted again under memory pressure (allkeys-* or volatile-*: it has a TTL) before
    // anyone read the page.
    await admin.del(versionKey);
    for (const gateway of [0, 1]) {
      const after = await send(page, gateway, { id: eventId });
      expect(JSON.stringify(after.body.data)).toContain(title);
    }
  });

  // The `events` tag's version counts every change; a listing is stamped with it. Lost (evicted
  // under memory pressure, flushed) while a listing stamped with it lives on, it must not
  // count up again to a value the listing holds, nor match that listing by its absence.
  const eventsTagKey = 'ticketing:response-cache:tag:events';
  it('never brings an old listing back when the events tag’s version is lost and counted again', async () => {
    const listing = `${unique()}{ events(first: 5) { edges { node { id title } } } }`;
    await admin.del(eventsTagKey);
    const before = await renameEvent();
    await eventChangesDelivered(supergraph);
    await send(listing, 0);
    const stored = await send(listing, 0);
    expect(stored.cache).toBe('HIT');
    expect(JSON.stringify(stored.body.data)).toContain(before);
    await admin.del(eventsTagKey);
    const title = await renameEvent();
    await eventChangesDelivered(supergraph);
    for (const gateway of [0, 1]) {
      expect(JSON.stringify((await send(listing, gateway)).body.data)).toContain(title);
    }
  });

  it('never brings an old listing back when the events tag’s version is lost twice', async () => {
    const listing = `${unique()}{ events(first: 5) { edges { node { id title } } } }`;
    // Lost when the listing is stored, and again after a change before anyone read it.
    await admin.del(eventsTagKey);
    await send(listing, 0);
    expect((await send(listing, 0)).cache).toBe('HIT');
    const title = await renameEvent();
    await admin.del(eventsTagKey);
    for (const gateway of [0, 1]) {
      expect(JSON.stringify((await send(listing, gateway)).body.data)).toContain(title);
    }
  });
});

describe('a Redis restarted empty', () => {
  it('keeps a token revoked before refused, and shows a change made after at once', async () => {
    const session = await signUp(supergraph);
    const loggedOut = await supergraph.request(
      'mutation ($t: String!) { logOut(refreshToken: $t) }',
      { t: session.refreshToken },
    );
    expect(loggedOut.errors).toBeUndefined();
    const page = `${unique()}query ($id: ID!) { event(id: $id) { id title } }`;
    for (const gateway of [0, 1]) {
      await send(page, gateway, { id: eventId });
      expect((await send(page, gateway, { id: eventId })).cache).toBe('HIT');
    }
    await redis.kill();
    await redis.start();
    const ready = async (gateway: number) =>
      (await (await fetch(new URL('/health/ready', supergraph.gatewayUrls[gateway]))).json()) as {
        status: string;
      };
    for (const gateway of [0, 1]) {
      await expect.poll(async () => (await ready(gateway)).status).toBe('ready');
      // Redis lost the revocation; the gateway's memory did not.
      const me = await supergraph.request(meQuery, {}, { token: session.accessToken, gateway });
      expect(codeOf(me)).toBe('UNAUTHENTICATED');
    }
    await eventChangesDelivered(supergraph);
    const title = await renameEvent();
    for (const gateway of [0, 1]) {
      const after = await send(page, gateway, { id: eventId });
      expect(JSON.stringify(after.body.data)).toContain(title);
    }
  });
  // Redis lost the stored revocations; the users service's database did not. A gateway that
  // starts after the loss (a restart, a new replica) loads what the users service stored
  // again, and hears it published, within its check interval and a Redis deadline.
  const losses: [string, () => Promise<unknown>][] = [
    ['flushed', () => admin.flushall()],
    [
      'restarted without persistence',
      async () => {
        await redis.kill();
        await redis.start();
      },
    ],
  ];
  for (const [loss, lose] of losses) {
    it(`refuses tokens revoked before it at a gateway started after it: ${loss}`, async () => {
      const loggedOut = await signUp(supergraph);
      expect(
        (
          await supergraph.request('mutation ($t: String!) { logOut(refreshToken: $t) }', {
            t: loggedOut.refreshToken,
          })
        ).errors,
      ).toBeUndefined();
      // Promoted, then demoted: the token issued between stops at the second change too.
      const demoted = await signUp(supergraph);
      const adminToken = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn
        .accessToken as string;
      const setRole = async (role: string) => {
        const changed = await supergraph.request(
          'mutation ($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { role } }',
          { id: demoted.user.id, role },
          { token: adminToken },
        );
        expect(changed.errors).toBeUndefined();
      };
      await setRole('ORGANIZER');
      // A token whose `iat` (whole seconds) is past the first change's `before`.
      const promotedAt = Date.now();
      await expect
        .poll(() => Math.floor(Date.now() / 1000) > Math.floor(promotedAt / 1000), {
          interval: 50,
        })
        .toBe(true);
      const between = (await refresh(supergraph, demoted.refreshToken)).data?.refreshSession
        .accessToken as string;
      await setRole('CUSTOMER');
      const revoked = [loggedOut.accessToken, demoted.accessToken, between];
      for (const token of revoked) {
        expect(codeOf(await supergraph.request(meQuery, {}, { token }))).toBe('UNAUTHENTICATED');
      }
      await lose();
      const gateway = await gatewayOver(
        supergraph,
        { REDIS_URL: redis.url, LOG_LEVEL: 'silent' },
        createLogger('gateway-started-after-the-loss', 'silent'),
      );
      try {
        const me = async (token: string) =>
          codeOf(
            (await (
              await fetch(new URL('/graphql', gateway.url), {
                method: 'POST',
                headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
                body: JSON.stringify({ query: meQuery }),
              })
            ).json()) as { errors?: { extensions?: Record<string, unknown> }[] },
          );
        for (const token of revoked) {
          // The bound: the users service's check interval (1 s) and a Redis deadline, and
          // slack for a busy machine.
          await expect
            .poll(() => me(token), { timeout: 3_000, interval: 50 })
            .toBe('UNAUTHENTICATED');
        }
        // A token not revoked still works there.
        expect(await me(organizer.accessToken)).toBeUndefined();
      } finally {
        await gateway.stop();
      }
    });
  }
});

describe('revocations in a Redis that refuses writes', () => {
  for (const [refusal, begin] of refusals) {
    it(`stop a logged-out access token at every gateway all the same: ${refusal}`, async () => {
      const session = await signUp(supergraph);
      const end = await begin();
      try {
        const loggedOut = await supergraph.request(
          'mutation ($t: String!) { logOut(refreshToken: $t) }',
          { t: session.refreshToken },
        );
        expect(loggedOut.errors).toBeUndefined();
        for (const gateway of [0, 1]) {
          await expect
            .poll(
              async () =>
                codeOf(
                  await supergraph.request(meQuery, {}, { token: session.accessToken, gateway }),
                ),
              { timeout: 1_000, interval: 20 },
            )
            .toBe('UNAUTHENTICATED');
        }
      } finally {
        await end();
      }
    });
  }
});

describe('used gateway assertions in a Redis that refuses writes', () => {
  it('says so once and reports degraded while it lasts, serving every request', async () => {
    const secret = 'users-secret-for-the-hostile-redis-test-0123456789';
    const dataDir = await mkdtemp(join(tmpdir(), 'ticketing-hostile-redis-'));
    const databaseUrl = uniqueTestDatabaseUrl('hostile_redis_users');
    const lines: { msg?: string; level: number }[] = [];
    const service = await startSubgraph(
      usersSubgraph,
      {
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: '0',
        SEED_DEMO_DATA: 'false',
        DRAIN_DEADLINE_MS: '0',
        DATA_DIR: dataDir,
        USERS_DATABASE_URL: databaseUrl,
        USERS_SUBGRAPH_SECRET: secret,
        REDIS_URL: redis.url,
      },
      createLogger('users', 'info', { write: (line: string) => lines.push(JSON.parse(line)) }),
    );
    const body = JSON.stringify({ query: '{ _service { sdl } }' });
    const sign = () =>
      signedSubgraphHeaders({
        secret,
        subgraph: 'users',
        body,
        viewer: null,
        issuedAt: Date.now(),
      });
    const post = async () =>
      (
        await fetch(service.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...sign() },
          body,
        })
      ).status;
    const readiness = async () =>
      (await (await fetch(new URL('/health/ready', service.url))).json()) as {
        status: string;
        problems?: Record<string, string>;
      };
    try {
      await expect.poll(async () => (await readiness()).status).toBe('ready');
      await post();
      const end = await (refusals[0] as (typeof refusals)[number])[1]();
      try {
        for (let i = 0; i < 20; i++) expect(await post()).toBe(200);
        const warned = lines.filter((line) => line.level >= 40 && /assertion/.test(line.msg ?? ''));
        expect(warned).toHaveLength(1);
        expect(await readiness()).toMatchObject({
          status: 'degraded',
          problems: { redis: expect.stringMatching(/used-assertion/) },
        });
      } finally {
        await end();
      }
      expect(await post()).toBe(200);
      expect(await readiness()).toMatchObject({ status: 'ready' });
    } finally {
      await service.stop();
      await dropDatabase(databaseUrl);
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
