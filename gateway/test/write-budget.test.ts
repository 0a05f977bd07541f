import { connectRedis, createLogger } from '@ticketing/platform';
import { describe, expect, it } from 'vitest';
import { WriteBudget, writeBudgetDefaults } from '../src/write-budget.ts';

describe('a write budget', () => {
  it('is ACCOUNT_WRITE_BURST fields at once, and new again after burst / perSecond seconds', async () => {
    const budget = new WriteBudget(writeBudgetDefaults);
    expect([budget.points, budget.windowSeconds]).toEqual([300, 15]);
    expect(await budget.spend('organizer', 22)).toBeUndefined();
    expect(await budget.spend('organizer', 278)).toBeUndefined();
    const retryAfter = await budget.spend('organizer', 1);
    expect(retryAfter).toBeGreaterThanOrEqual(14);
    expect(retryAfter).toBeLessThanOrEqual(15);
    // Another account's budget is its own.
    expect(await budget.spend('buyer', 15)).toBeUndefined();
  });

  it('is at least a second’s worth, each second, when the burst is smaller', () => {
    const budget = new WriteBudget({ perSecond: 1_000_000, burst: 300 });
    expect([budget.points, budget.windowSeconds]).toEqual([1_000_000, 1]);
  });

  it('counts in memory at once while Redis is away', async () => {
    // A closed port: the connection is never up.
    const redis = connectRedis('redis://127.0.0.1:9', {
      timeoutMs: 250,
      logger: createLogger('test', 'silent'),
      name: 'write budget test',
    });
    try {
      const budget = new WriteBudget({ perSecond: 1, burst: 3, redis: redis.client });
      const began = performance.now();
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await budget.spend('organizer', 1));
      expect(answers).toEqual([undefined, undefined, undefined, expect.any(Number)]);
      expect(performance.now() - began).toBeLessThan(100);
    } finally {
      await redis.close();
    }
  });
});
