// The revocations a gateway holds in memory. Every logOut, every session a login past the
// account's limit ends, every password change, role change and deletion adds one, for as
// long as a token it can stop may live (15 minutes and the clock tolerance). A revoked
// token is rarely presented again once its holder knows it is revoked: what holds the
// list's memory must be the clock, not the lookups. A Redis of the test's own: the list
// loads every revocation stored in the Redis it is given, whoever published it.
import { randomUUID } from 'node:crypto';
import {
  connectRedis,
  createLogger,
  type RedisConnection,
  type Revocation,
  RevocationList,
  RevocationPublisher,
  revocationLifetimeMs,
} from '@ticketing/platform';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type OwnRedis, startOwnRedis } from '../../../test/own-servers.ts';

const logger = createLogger('revocations-test', 'silent');

let redis: OwnRedis;
const connections: RedisConnection[] = [];

beforeAll(async () => {
  redis = await startOwnRedis();
});
afterEach(async () => {
  for (const connection of connections.splice(0)) await connection.close();
});
afterAll(async () => {
  await redis?.stop();
});

function connect(name: string): RedisConnection {
  const connection = connectRedis(redis.url, { timeoutMs: 2_000, logger, name });
  connections.push(connection);
  return connection;
}

async function until(condition: () => boolean, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A list over the test's Redis, emptied first, whose clock is `clock.now`, and a
 * publisher.
 */
async function listWithClock() {
  const publisher = connect('publisher');
  await until(() => publisher.available, 'connected');
  await publisher.client.flushall();
  const clock = { now: Date.now() };
  const list = new RevocationList(connect('revocations'), connect('reader'), logger, {
    now: () => clock.now,
  });
  await until(() => list.problem() === undefined, 'connected');
  const publish = (revocations: Revocation[]) =>
    new RevocationPublisher(publisher, logger).publish(...revocations);
  // Subscribed once a revocation published now is heard.
  const probe = { userId: randomUUID(), sessionId: randomUUID(), issuedAt: 0 };
  for (const deadline = Date.now() + 10_000; !list.isRevoked(probe); ) {
    if (Date.now() > deadline) throw new Error('never subscribed');
    await publish([{ kind: 'session', id: probe.sessionId }]);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { clock, list, publish };
}

const sessions = (count: number): Revocation[] =>
  Array.from({ length: count }, () => ({ kind: 'session', id: randomUUID() }));

describe('the revocations a gateway holds', () => {
  it('leaves 20,000 revoked sessions no entry once every token they could stop has expired', async () => {
    const { clock, list, publish } = await listWithClock();
    const revoked = sessions(20_000);
    const users: Revocation[] = Array.from({ length: 1_000 }, () => ({
      kind: 'user',
      id: randomUUID(),
      before: Math.floor(clock.now / 1000) + 1,
    }));
    const held = list.size;
    for (let start = 0; start < revoked.length; start += 2_000) {
      await publish(revoked.slice(start, start + 2_000));
    }
    await publish(users);
    await until(() => list.size === held + 21_000, 'every revocation heard');
    const token = { userId: randomUUID(), sessionId: randomUUID(), issuedAt: 0 };
    expect(list.isRevoked(token)).toBe(false);
    expect(list.size).toBe(held + 21_000);

    // Past the lifetime of every token they could stop, none of them is held: not only
    // the ones that are looked up again.
    clock.now += revocationLifetimeMs + 1;
    expect(list.isRevoked(token)).toBe(false);
    expect(list.size).toBe(0);
  }, 30_000);

  it('keeps a revocation for as long as a token it can stop may live', async () => {
    const { clock, list, publish } = await listWithClock();
    const early = sessions(100);
    const user = randomUUID();
    const before = Math.floor(clock.now / 1000) + 1;
    const held = list.size;
    await publish([...early, { kind: 'user', id: user, before }]);
    await until(() => list.size === held + 101, 'the early revocations heard');

    clock.now += revocationLifetimeMs / 2;
    const late = sessions(100);
    await publish(late);
    await until(() => list.size === held + 201, 'the late revocations heard');

    const facts = (revocation: Revocation) => ({
      userId: randomUUID(),
      sessionId: revocation.id,
      issuedAt: 0,
    });
    // Just before its end, a revocation still stops its tokens.
    clock.now += revocationLifetimeMs / 2 - 1_000;
    expect(early.every((revocation) => list.isRevoked(facts(revocation)))).toBe(true);
    expect(list.isRevoked({ userId: user, sessionId: randomUUID(), issuedAt: before - 1 })).toBe(
      true,
    );
    // The early ones end; the late ones, half their lifetime left, stand.
    clock.now += 2_000;
    expect(list.isRevoked({ userId: user, sessionId: randomUUID(), issuedAt: before - 1 })).toBe(
      false,
    );
    expect(late.every((revocation) => list.isRevoked(facts(revocation)))).toBe(true);
    expect(list.size).toBe(100);
  }, 30_000);
});
