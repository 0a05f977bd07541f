// The retention runner: batches until one comes back short, one run at a time, a failed run
// logged and the next one tried, and stop() waiting for a run in progress.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { applyRetention, type RetentionRule, RetentionSchedule } from '../src/retention.ts';

/** A rule over `rows` rows that have aged out, taking `batchMs` a batch. */
function rowsRule(rows: number, batchMs = 0) {
  const calls: number[] = [];
  let left = rows;
  const rule: RetentionRule = {
    name: 'rows',
    async deleteBatch(limit) {
      await new Promise((resolve) => setTimeout(resolve, batchMs));
      const count = Math.min(limit, left);
      left -= count;
      calls.push(count);
      return count;
    },
  };
  return { rule, calls, left: () => left };
}

describe('retention', () => {
  it('deletes in batches until one comes back short', async () => {
    const many = rowsRule(2_500);
    const none = rowsRule(0);
    const deleted = await applyRetention([many.rule, { ...none.rule, name: 'none' }], 1_000);
    expect(deleted).toEqual({ rows: 2_500, none: 0 });
    expect(many.calls).toEqual([1_000, 1_000, 500]);
    expect(none.calls).toEqual([0]);
  });

  it('goes on after a failed run, and stop() waits for the run in progress', async () => {
    let runs = 0;
    const slow = rowsRule(Number.POSITIVE_INFINITY, 200);
    const rule: RetentionRule = {
      name: 'flaky',
      async deleteBatch(limit) {
        runs += 1;
        if (runs === 1) throw new Error('the database is away');
        // The second run deletes one short batch, slowly.
        return (await slow.rule.deleteBatch(limit)) - 1;
      },
    };
    const schedule = new RetentionSchedule([rule], createLogger('retention-test', 'silent'), 20);
    schedule.start(0);
    while (runs < 2) await new Promise((r) => setTimeout(r, 5));
    // The second run is in its batch now; stop() returns only when it has finished.
    await schedule.stop();
    expect(runs).toBe(2);
    expect(slow.calls).toHaveLength(1);
    // Stopped: no further run.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(runs).toBe(2);
  });
});
