// What the services write for the gateways' response cache, against a real Redis of the
// test's own: the tag versions, and each changed event's own version.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OwnRedis, startOwnRedis } from '../../../test/own-servers.ts';
import { createLogger } from '../src/logger.ts';
import { connectRedis, type RedisConnection } from '../src/redis.ts';
import {
  invalidateCachedResponses,
  responseCacheEventKey,
  responseCacheTagKey,
} from '../src/response-cache.ts';

const logger = createLogger('response-cache-test', 'silent');

let redis: OwnRedis;
let connection: RedisConnection;
const testStartedAt = Date.now();

/** A connection that takes commands: it queues none while it connects. */
async function connected(name: string): Promise<RedisConnection> {
  const opened = connectRedis(redis.url, { timeoutMs: 250, logger, name });
  if (opened.client.status !== 'ready') await once(opened.client, 'ready');
  return opened;
}

beforeAll(async () => {
  redis = await startOwnRedis();
  connection = await connected('test');
});
afterAll(async () => {
  await connection?.close();
  await redis?.stop();
});

/**
 * The versions of the two tags and of events A and B, under `namespace`, as how many times
 * each tag was bumped: a tag's version counts from the time it started at (ms since the
 * epoch, times 1,000), which must be since `since`.
 */
async function versions(namespace: string, since = testStartedAt) {
  const values = await connection.client.mget(
    responseCacheTagKey(namespace, 'events'),
    responseCacheTagKey(namespace, 'stock'),
    responseCacheEventKey(namespace, 'A'),
    responseCacheEventKey(namespace, 'B'),
  );
  const [events, stock, a, b] = values.map((value) => bumps(value, since));
  return { events, stock, a, b };
}

/** How many times the tag whose version `value` is was bumped (see `versions`). */
function bumps(value: string | null, since = testStartedAt): string | null {
  if (value === null) return null;
  const startedAt = Math.floor(Number(value) / 1_000);
  expect(startedAt).toBeGreaterThanOrEqual(since);
  expect(startedAt).toBeLessThanOrEqual(Date.now());
  return String(Number(value) % 1_000);
}

describe('invalidating cached responses', () => {
  it('moves a changed event’s own version to the events tag’s, and no other event’s', async () => {
    const namespace = `test-${randomUUID().slice(0, 8)}`;
    await invalidateCachedResponses(connection, namespace, 'events', logger, ['A']);
    expect(await versions(namespace)).toEqual({ events: '1', stock: null, a: '1', b: null });
    await invalidateCachedResponses(connection, namespace, 'events', logger, ['B']);
    expect(await versions(namespace)).toEqual({ events: '2', stock: null, a: '1', b: '2' });
  });

  it('moves only the events tag for a change that names no event, and no event for a stock move', async () => {
    const namespace = `test-${randomUUID().slice(0, 8)}`;
    await invalidateCachedResponses(connection, namespace, 'events', logger, ['A']);
    await invalidateCachedResponses(connection, namespace, 'events', logger);
    await invalidateCachedResponses(connection, namespace, 'stock', logger, ['A']);
    expect(await versions(namespace)).toEqual({ events: '2', stock: '1', a: '1', b: null });
  });

  it('keeps an event’s version far longer than any entry lives, and not for ever', async () => {
    const namespace = `test-${randomUUID().slice(0, 8)}`;
    await invalidateCachedResponses(connection, namespace, 'events', logger, ['A']);
    const ttl = await connection.client.pttl(responseCacheEventKey(namespace, 'A'));
    expect(ttl).toBeGreaterThan(60 * 60 * 1_000);
    expect(ttl).toBeLessThanOrEqual(24 * 60 * 60 * 1_000);
  });

  it('publishes the bump with the events it names, after the versions moved', async () => {
    const namespace = `test-${randomUUID().slice(0, 8)}`;
    const subscriber = await connected('subscriber');
    try {
      await subscriber.client.subscribe(`${namespace}:response-cache:invalidations`);
      const heard = new Promise<{ message: string; a: string | null }>((resolve) => {
        subscriber.client.once('message', async (_channel: string, message: string) => {
          const a = await connection.client.get(responseCacheEventKey(namespace, 'A'));
          resolve({ message, a });
        });
      });
      await invalidateCachedResponses(connection, namespace, 'events', logger, ['A']);
      const { message, a } = await heard;
      expect({ message, a: bumps(a) }).toEqual({
        message: '{"tag":"events","eventIds":["A"]}',
        a: '1',
      });
    } finally {
      await subscriber.close();
    }
  });
});

describe('invalidating while Redis is stalled', () => {
  // An event change asks again for a bump whose deadline passed on a live connection
  // (Redis descheduled, or blocked by a slow command): it returns once Redis has run it.
  it('asks again until Redis has run the bump, and runs it once', async () => {
    const namespace = `test-${randomUUID().slice(0, 8)}`;
    const subscriber = await connected('subscriber');
    const messages: string[] = [];
    try {
      await subscriber.client.subscribe(`${namespace}:response-cache:invalidations`);
      subscriber.client.on('message', (_channel: string, message: string) => {
        messages.push(message);
      });
      redis.freeze();
      // Longer than a command's deadline (250 ms), shorter than the connection's silence
      // that replaces it (1 s): the attempts queue on the same connection.
      const thaw = setTimeout(() => redis.thaw(), 600);
      try {
        await invalidateCachedResponses(connection, namespace, 'events', logger, ['A']);
      } finally {
        clearTimeout(thaw);
        redis.thaw();
      }
      expect(await versions(namespace)).toEqual({ events: '1', stock: null, a: '1', b: null });
      await connection.client.ping();
      await subscriber.client.ping();
      expect(messages).toEqual(['{"tag":"events","eventIds":["A"]}']);
    } finally {
      await subscriber.close();
    }
  });
});

describe('invalidating while Redis is away', () => {
  // A gateway may be back with Redis before the service that changed something: a bump
  // lost then left the gateway's entries showing the old state until their max-age.
  it('waits for a connection lost moments ago, and sends the bump before it returns', async () => {
    const namespace = `test-${randomUUID().slice(0, 8)}`;
    await redis.kill();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(connection.available).toBe(false);
    const restarting = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await redis.start();
    })();
    await invalidateCachedResponses(connection, namespace, 'events', logger, ['A']);
    await restarting;
    // Returned once sent: the versions are there at once.
    expect(await versions(namespace)).toEqual({ events: '1', stock: null, a: '1', b: null });
  });

  it('keeps a bump it could not send, and sends it when the connection is back', async () => {
    const namespace = `test-${randomUUID().slice(0, 8)}`;
    await redis.kill();
    await invalidateCachedResponses(connection, namespace, 'events', logger, ['A']);
    await invalidateCachedResponses(connection, namespace, 'events', logger);
    await invalidateCachedResponses(connection, namespace, 'events', logger, ['B']);
    await invalidateCachedResponses(connection, namespace, 'stock', logger);
    await redis.start();
    await connection.whenAvailable(5_000);
    const deadline = Date.now() + 5_000;
    const sent = async () => {
      const now = await versions(namespace);
      return now.stock !== null && now.a !== null && now.events === '2';
    };
    while (!(await sent())) {
      if (Date.now() > deadline) throw new Error('the kept bumps were not sent');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The events named move their own versions, even beside a bump that named none (which
    // is sent too); one bump a tag for all the events it named.
    const after = await versions(namespace);
    expect(after.stock).toBe('1');
    expect(after.a).not.toBeNull();
    expect(after.a).toBe(after.b);
  });
});

describe('invalidating while Redis refuses writes', () => {
  it('says so once, not once a bump, and once when it takes them again', async () => {
    const namespace = `test-${randomUUID().slice(0, 8)}`;
    const lines: { level: number; msg: string }[] = [];
    const watched = createLogger('response-cache-test', 'info', {
      write: (line: string) => lines.push(JSON.parse(line)),
    });
    await connection.client.config('SET', 'maxmemory-policy', 'noeviction');
    await connection.client.config('SET', 'maxmemory', '1');
    try {
      for (let i = 0; i < 10; i++) {
        await invalidateCachedResponses(connection, namespace, 'stock', watched);
      }
      expect(lines.filter((line) => line.level >= 40)).toHaveLength(1);
    } finally {
      await connection.client.config('SET', 'maxmemory', '0');
    }
    await invalidateCachedResponses(connection, namespace, 'stock', watched);
    await invalidateCachedResponses(connection, namespace, 'stock', watched);
    expect(lines.filter((line) => line.level < 40)).toHaveLength(1);
    expect((await versions(namespace)).stock).toBe('2');
  });
});
