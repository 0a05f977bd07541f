import { describe, expect, it } from 'vitest';
import { InflightQueries, isQuery } from '../src/inflight.ts';

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

describe('identical subgraph queries in flight', () => {
  it('are sent once, and each request gets its own copy of the answer', async () => {
    const inflight = new InflightQueries();
    const answer = deferred<{ data: { events: { id: string }[] } }>();
    let sent = 0;
    const send = () => {
      sent += 1;
      return answer.promise;
    };
    const first = inflight.share('same', send);
    const second = inflight.share('same', send);
    answer.resolve({ data: { events: [{ id: 'a' }] } });
    const [one, two] = await Promise.all([first, second]);
    expect(sent).toBe(1);
    expect(one).toEqual({ data: { events: [{ id: 'a' }] } });
    expect(two).toEqual(one);
    (one.data as { events: { id: string }[] }).events.push({ id: 'changed' });
    expect((two.data as { events: unknown[] }).events).toHaveLength(1);
  });

  it('are sent again once the first answer has landed', async () => {
    const inflight = new InflightQueries();
    let sent = 0;
    const send = async () => {
      sent += 1;
      return { data: { n: sent } };
    };
    await inflight.share('same', send);
    await inflight.share('same', send);
    expect(sent).toBe(2);
  });

  it('are not shared across keys, and a failure reaches every waiter', async () => {
    const inflight = new InflightQueries();
    let sent = 0;
    const fail = async () => {
      sent += 1;
      throw new Error('subgraph down');
    };
    const results = await Promise.allSettled([
      inflight.share('a', fail),
      inflight.share('a', fail),
      inflight.share('b', fail),
    ]);
    expect(sent).toBe(2);
    expect(results.every((result) => result.status === 'rejected')).toBe(true);
  });

  it('tell a request that joins one when it was sent, and not the one that sent it', async () => {
    const inflight = new InflightQueries();
    const answer = deferred<{ data: { n: number } }>();
    const send = () => answer.promise;
    const told: string[] = [];
    const beforeSend = performance.now();
    const first = inflight.share('same', send, () => told.push('first'));
    const joinedAt = performance.now();
    let sentAt = Number.NaN;
    const second = inflight.share('same', send, (at) => {
      sentAt = at;
      told.push('second');
    });
    answer.resolve({ data: { n: 1 } });
    await Promise.all([first, second]);
    expect(told).toEqual(['second']);
    // The flight's own send time, before the second request arrived: a cache that read its
    // tag versions in between must not store what this flight brings.
    expect(sentAt).toBeGreaterThanOrEqual(beforeSend);
    expect(sentAt).toBeLessThanOrEqual(joinedAt);
  });

  it('covers queries only, never mutations', () => {
    expect(isQuery('{ events { id } }')).toBe(true);
    expect(isQuery('query EventList__events__0($first:Int){events(first:$first){id}}')).toBe(true);
    expect(isQuery('mutation PurchaseTickets__tickets__0{purchaseTickets{id}}')).toBe(false);
  });
});
