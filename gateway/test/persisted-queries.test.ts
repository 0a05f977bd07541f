// The persisted-query store shared through Redis, against the real Redis of the tests.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PersistedQueryCache } from '../src/persisted-queries.ts';

const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
let redis: Redis;
/** A prefix of this run's own, so that nothing else in Redis is counted or removed. */
const prefix = `ticketing-test:apq:${randomUUID()}:`;

beforeAll(() => {
  redis = new Redis(redisUrl, { lazyConnect: false });
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const document = (index: number) => `{ __typename } # ${index}`;

describe('the shared persisted-query store', () => {
  it('serves a document registered through one gateway through another', async () => {
    const registering = new PersistedQueryCache(redis, { prefix });
    const serving = new PersistedQueryCache(redis, { prefix });
    await registering.set('apq:one', document(1), { ttl: 60 });
    expect(await serving.get('apq:one')).toBe(document(1));
    expect(await serving.get('apq:other')).toBeUndefined();
  });

  it('holds a bounded number of documents in Redis, however many are registered', async () => {
    // Anonymous clients register documents at will (each within MAX_DOCUMENT_BYTES): one
    // key each, for a day, filled Redis without bound.
    const slots = 32;
    const registering = new PersistedQueryCache(redis, { prefix: `${prefix}b:`, slots });
    for (let index = 0; index < 500; index++) {
      await registering.set(`apq:${index}`, document(index), { ttl: 60 });
    }
    expect((await redis.keys(`${prefix}b:*`)).length).toBeLessThanOrEqual(slots);
    // Another gateway finds some of them, each its own document, never another's.
    const serving = new PersistedQueryCache(redis, { prefix: `${prefix}b:`, slots });
    let found = 0;
    for (let index = 0; index < 500; index++) {
      const text = await serving.get(`apq:${index}`);
      if (text !== undefined) {
        expect(text).toBe(document(index));
        found += 1;
      }
    }
    expect(found).toBeGreaterThan(0);
    expect(found).toBeLessThanOrEqual(slots);
  });
});
