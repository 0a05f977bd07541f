// The response cache's first level against a real Redis of the test's own: what it serves,
// what drops it, and that it never serves what it could not hear invalidated.
import { randomUUID } from 'node:crypto';
import {
  connectRedis,
  createLogger,
  invalidateCachedResponses,
  type RedisConnection,
  responseCacheHeartbeatWindowMs,
  responseCacheMetrics,
} from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OwnRedis, startOwnRedis, startOwnRelay } from '../../test/own-servers.ts';
import { type LocalEntry, LocalResponseCache } from '../src/local-response-cache.ts';

/** A SUBSCRIBE as it is sent (RESP), not a connection name that contains the word. */
const subscribeCommand = /\r\nsubscribe\r\n/i;

const logger = createLogger('local-response-cache-test', 'silent');

let redis: OwnRedis;
let publisher: RedisConnection;

beforeAll(async () => {
  redis = await startOwnRedis();
  publisher = connectRedis(redis.url, { timeoutMs: 250, logger, name: 'publisher' });
});
afterAll(async () => {
  await publisher?.close();
  await redis?.stop();
});

async function until(condition: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A first level listening under a namespace of its own, serving once subscribed. */
async function startLocal(options: { maxBytes?: number } = {}) {
  const namespace = `test-${randomUUID().slice(0, 8)}`;
  const local = new LocalResponseCache({
    subscriber: connectRedis(redis.url, { timeoutMs: 250, logger, name: 'subscriber' }),
    namespace,
    logger,
    ...options,
  });
  await until(() => local.serving, 'the subscription');
  return { local, namespace };
}

/** Entries the first level dropped for `cause`, in /metrics. */
async function droppedFor(cause: string): Promise<number> {
  const { values } = await responseCacheMetrics().localDropped.get();
  return values.find((value) => value.labels.cause === cause)?.value ?? 0;
}

/** A lookup that never finds an entry due for a refresh. */
const fresh = { refreshAfter: 1, claim: true };

function entry(data: Record<string, unknown>, fields: Partial<LocalEntry> = {}): LocalEntry {
  return {
    body: Buffer.from(JSON.stringify({ data })),
    data,
    at: Date.now(),
    maxAge: 30,
    eventIds: [],
    listing: false,
    stock: true,
    ...fields,
  };
}

describe('the response cache’s first level', () => {
  it('drops only the entries holding a changed event, and every listing', async () => {
    const { local, namespace } = await startLocal();
    const [a, b] = [randomUUID(), randomUUID()];
    local.set('a', entry({ event: { id: a } }, { eventIds: [a] }), local.generation);
    local.set('b', entry({ event: { id: b } }, { eventIds: [b] }), local.generation);
    local.set('listing', entry({ events: [] }, { listing: true }), local.generation);
    await invalidateCachedResponses(publisher, namespace, 'events', logger, [a]);
    await until(() => local.get('a', fresh) === undefined, 'event a dropped');
    expect(local.get('listing', fresh)).toBeUndefined();
    expect(local.get('b', fresh)?.data).toEqual({ event: { id: b } });
    await local.close();
  });

  it('drops on a stock move every entry with data from the tickets service, and only those', async () => {
    const { local, namespace } = await startLocal();
    const [a, b] = [randomUUID(), randomUUID()];
    local.set('a', entry({ event: { id: a } }, { eventIds: [a] }), local.generation);
    const fields = entry({ event: { id: b } }, { eventIds: [b], stock: false });
    local.set('b', fields, local.generation);
    await invalidateCachedResponses(publisher, namespace, 'stock', logger);
    await until(() => local.get('a', fresh) === undefined, 'the entry dropped');
    expect(local.get('b', fresh)).toBe(fields);
    expect(local.size).toBe(1);
    await local.close();
  });

  it('never keeps an answer read before an invalidation that arrived meanwhile', async () => {
    const { local, namespace } = await startLocal();
    const before = local.generation;
    await invalidateCachedResponses(publisher, namespace, 'events', logger, [randomUUID()]);
    await until(() => local.generation !== before, 'the invalidation');
    local.set('late', entry({ event: { id: 'x' } }, { eventIds: ['x'] }), before);
    expect(local.get('late', fresh)).toBeUndefined();
    await local.close();
  });

  it('sends one request on to refresh a due entry, and serves it to the others until its max-age', async () => {
    const { local } = await startLocal();
    const due = { refreshAfter: 1 / 4, claim: true };
    local.set('due', entry({ a: 1 }, { at: Date.now() - 400, maxAge: 1 }), local.generation);
    // The early path leaves a due entry to Apollo's, which claims it and refreshes it.
    expect(local.get('due', { ...due, claim: false })).toBeUndefined();
    expect(local.get('due', due)).toBeUndefined();
    expect(local.get('due', due)?.data).toEqual({ a: 1 });
    expect(local.get('due', { ...due, claim: false })?.data).toEqual({ a: 1 });
    local.set('old', entry({ a: 1 }, { at: Date.now() - 1_000, maxAge: 1 }), local.generation);
    expect(local.get('old', due)).toBeUndefined();
    expect(local.get('old', due)).toBeUndefined();
    await local.close();
  });

  it('keeps no more bytes than its bound', async () => {
    const { local } = await startLocal({ maxBytes: 10_000 });
    for (let i = 0; i < 100; i++) {
      local.set(`k${i}`, entry({ text: 'x'.repeat(500) }), local.generation);
    }
    // About 2 KB each as weighed: four fit, the oldest went first.
    expect(local.size).toBeGreaterThan(0);
    expect(local.size).toBeLessThanOrEqual(5);
    expect(local.get('k99', fresh)).toBeDefined();
    expect(local.get('k0', fresh)).toBeUndefined();
    await local.close();
  });

  it('drops a malformed message’s possible targets: everything', async () => {
    const { local, namespace } = await startLocal();
    local.set('a', entry({ a: 1 }), local.generation);
    await publisher.client.publish(`${namespace}:response-cache:invalidations`, '{not json');
    await until(() => local.size === 0, 'everything dropped');
    await local.close();
  });

  it('stops serving while Redis is frozen or down, and starts empty once back', async () => {
    const { local } = await startLocal();
    local.set('a', entry({ a: 1 }), local.generation);
    const heartbeatDrops = await droppedFor('heartbeat');
    redis.freeze();
    try {
      // Unheard heartbeats: an invalidation could be missed, so nothing is served.
      await until(() => !local.serving, 'serving to stop while frozen', 1_000);
      expect(local.get('a', fresh)).toBeUndefined();
    } finally {
      redis.thaw();
    }
    await until(() => local.serving, 'serving again after the thaw');
    // It may have missed a message while frozen: it kept nothing from before.
    expect(local.get('a', fresh)).toBeUndefined();
    expect(await droppedFor('heartbeat')).toBe(heartbeatDrops + 1);
    await redis.kill();
    try {
      await until(() => !local.serving, 'serving to stop while down', 1_000);
      local.set('b', entry({ b: 1 }), local.generation);
      expect(local.get('b', fresh)).toBeUndefined();
    } finally {
      await redis.start();
    }
    await until(() => local.serving, 'serving again after the restart', 5_000);
    // Whatever was published while it was away is lost: it kept nothing from before.
    expect(local.get('a', fresh)).toBeUndefined();
    expect(local.size).toBe(0);
    await local.close();
  }, 20_000);

  // The service that changed an event answers its client once its bump returns; from then
  // on no gateway may show the old page. Redis stalled under the bump (descheduled on a
  // busy host, a slow disk's fork) is the case in between: its deadline (250 ms) passes
  // while the gateways may still count its last heartbeat as recent.
  it('serves no page an event change has returned from, whatever Redis was doing meanwhile', async () => {
    for (const stallMs of [400, 1_500]) {
      const { local, namespace } = await startLocal();
      const a = randomUUID();
      local.set('a', entry({ event: { id: a } }, { eventIds: [a] }), local.generation);
      redis.freeze();
      const frozenAt = performance.now();
      let thawed = false;
      const thaw = setTimeout(() => {
        thawed = true;
        redis.thaw();
      }, stallMs);
      try {
        await invalidateCachedResponses(publisher, namespace, 'events', logger, [a]);
        const returnedAfter = performance.now() - frozenAt;
        // The change's client may read the page now.
        expect(local.get('a', fresh)).toBeUndefined();
        // Not by chance of the heartbeats' phase: a stall shorter than the bump's wait is
        // waited for (the bump is in Redis, and published, when it returns); a longer one
        // returns only once no gateway may count Redis's last heartbeat as recent, and the
        // bump is sent when Redis is back.
        expect(thawed || returnedAfter >= responseCacheHeartbeatWindowMs).toBe(true);
      } finally {
        clearTimeout(thaw);
        redis.thaw();
      }
      await until(() => local.serving, 'serving again after the thaw');
      expect(local.get('a', fresh)).toBeUndefined();
      // The bump itself reaches Redis (a long stall's once the connection is back).
      await until(() => publisher.available, 'the publisher back', 5_000);
      const bumped = async () =>
        (await publisher.client.get(`${namespace}:response-cache:event:${a}`)) !== null;
      for (const deadline = Date.now() + 5_000; !(await bumped()); ) {
        if (Date.now() > deadline) throw new Error('the bump never reached Redis');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await local.close();
    }
  }, 20_000);
});

describe('the response cache’s first level, its subscription answered after the deadline', () => {
  // Redis's answer to the SUBSCRIBE held past the command's 250 ms deadline, as on a busy
  // moment: Redis subscribed it, but the first level took the late answer for a failure and
  // never served, for as long as that connection lasted.
  it('subscribes again, and serves once an answer says it is subscribed', async () => {
    await using relay = await startOwnRelay(redis.url);
    relay.slowAnswersTo(subscribeCommand, 400);
    const namespace = `test-${randomUUID().slice(0, 8)}`;
    const local = new LocalResponseCache({
      subscriber: connectRedis(relay.url, { timeoutMs: 250, logger, name: 'subscriber' }),
      namespace,
      logger,
    });
    try {
      await until(() => local.serving, 'the subscription');
      // Subscribed indeed: it hears an invalidation.
      const id = randomUUID();
      local.set('a', entry({ event: { id } }, { eventIds: [id] }), local.generation);
      await invalidateCachedResponses(publisher, namespace, 'events', logger, [id]);
      await until(() => local.get('a', fresh) === undefined, 'the entry dropped');
    } finally {
      await local.close();
    }
  });
});

describe('the response cache’s first level, its subscription refused by Redis', () => {
  // A refusal is an answer: asked again at once, it would only be refused again, as fast as
  // Redis can answer, for as long as the connection lasts.
  it('asks once, not again and again, and does not serve', async () => {
    await using own = await startOwnRedis();
    const admin = connectRedis(own.url, { timeoutMs: 250, logger, name: 'admin' });
    try {
      await until(() => admin.available, 'connected');
      // The user every connection here logs in as may subscribe to no channel.
      await admin.client.acl('SETUSER', 'default', 'resetchannels');
      const local = new LocalResponseCache({
        subscriber: connectRedis(own.url, { timeoutMs: 250, logger, name: 'subscriber' }),
        namespace: `test-${randomUUID().slice(0, 8)}`,
        logger,
      });
      const refusals = async () => {
        const stats = String(await admin.client.info('commandstats'));
        return Number(/cmdstat_subscribe:.*rejected_calls=(\d+)/.exec(stats)?.[1] ?? 0);
      };
      for (const deadline = Date.now() + 3_000; (await refusals()) === 0; ) {
        if (Date.now() > deadline) throw new Error('the subscription was never refused');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await refusals()).toBe(1);
      expect(local.serving).toBe(false);
      await local.close();
    } finally {
      await admin.close();
    }
  });
});
