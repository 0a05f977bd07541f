// Replay protection across replicas and restarts: a gateway assertion accepted once is
// refused by every replica that shares Redis, and by a restarted process even without
// Redis. When Redis is unreachable or dies, requests are still served (each process
// refuses replays to itself) and readiness says `degraded`.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningService, signedSubgraphHeaders, startSubgraph } from '@ticketing/platform';
import { dropDatabase, uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { usersSubgraph } from '@ticketing/users-subgraph/subgraph';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, testRedisUrl } from '../support.ts';
import { inProcessServiceSettings } from './harness.ts';

const secret = 'users-secret-for-the-replay-test-0123456789abcdef';
const body = JSON.stringify({ query: '{ _service { sdl } }' });
let env: NodeJS.ProcessEnv;
let dataDir: string;
const running = new Set<RunningService>();

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ticketing-replay-'));
  env = {
    ...inProcessServiceSettings(dataDir),
    USERS_DATABASE_URL: uniqueTestDatabaseUrl('replay_users'),
    USERS_SUBGRAPH_SECRET: secret,
  };
});
afterAll(async () => {
  for (const service of running) await service.stop();
  await dropDatabase(env.USERS_DATABASE_URL as string);
  await rm(dataDir, { recursive: true, force: true });
});

/** A users replica on the shared database, with `extra` settings. */
async function replica(extra: NodeJS.ProcessEnv = {}): Promise<RunningService> {
  const service = await startSubgraph(usersSubgraph, { ...env, ...extra });
  running.add(service);
  return service;
}

async function stop(service: RunningService) {
  await service.stop();
  running.delete(service);
}

const sign = () =>
  signedSubgraphHeaders({ secret, subgraph: 'users', body, viewer: null, issuedAt: Date.now() });

async function post(service: RunningService, headers: Record<string, string>) {
  const started = performance.now();
  const response = await fetch(service.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const json = (await response.json()) as { errors?: { message: string }[] };
  return {
    status: response.status,
    message: json.errors?.[0]?.message,
    ms: performance.now() - started,
  };
}

async function readiness(service: RunningService) {
  const response = await fetch(new URL('/health/ready', service.url), {
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

/** Polls until `check` holds, for at most `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((wake) => setTimeout(wake, 50));
  }
}

describe('with Redis shared by the replicas', () => {
  it('a request accepted by one replica is refused by another', async () => {
    const first = await replica({ REDIS_URL: testRedisUrl });
    const second = await replica({ REDIS_URL: testRedisUrl });
    // Each connects to Redis in the background: one that has not yet would keep the id to itself.
    for (const service of [first, second]) {
      await eventually(async () => (await readiness(service)).body.status === 'ready');
    }
    const headers = sign();
    expect((await post(first, headers)).status).toBe(200);
    const replay = await post(second, headers);
    expect(replay.status).toBe(403);
    expect(replay.message).toMatch(/already used/);
    // A fresh assertion is still served by the second replica.
    expect((await post(second, sign())).status).toBe(200);
    await stop(first);
    await stop(second);
  });
});

describe('after a restart', () => {
  it('a request accepted before is refused, even without Redis', async () => {
    const before = await replica();
    const headers = sign();
    expect((await post(before, headers)).status).toBe(200);
    await stop(before);
    const after = await replica();
    const replay = await post(after, headers);
    expect(replay.status).toBe(403);
    expect(replay.message).toMatch(/before this service started/);
    expect((await post(after, sign())).status).toBe(200);
    await stop(after);
  });
});

describe('when Redis is unreachable', () => {
  it('serves requests at once, refuses replays locally, and reports degraded', async () => {
    const nobody = `redis://127.0.0.1:${await freePort()}`;
    const service = await replica({ REDIS_URL: nobody });
    const ready = await readiness(service);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: 'degraded',
      problems: { redis: expect.any(String) },
    });
    const headers = sign();
    const first = await post(service, headers);
    expect(first.status).toBe(200);
    // No waiting on a connection that is not there: well under a second even on a busy
    // machine (the command deadline is 250 ms, and nothing is queued offline).
    expect(first.ms).toBeLessThan(2_000);
    const replay = await post(service, headers);
    expect(replay.status).toBe(403);
    expect(replay.message).toMatch(/already used/);
    await stop(service);
  });

  it('keeps serving when its Redis dies, and recovers when it is back', async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    try {
      const service = await replica({ REDIS_URL: `redis://127.0.0.1:${port}` });
      await eventually(async () => (await readiness(service)).body.status === 'ready');
      expect((await post(service, sign())).status).toBe(200);

      redis.kill('SIGKILL');
      await once(redis, 'exit');
      await eventually(async () => (await readiness(service)).body.status === 'degraded');
      const headers = sign();
      expect((await post(service, headers)).status).toBe(200);
      expect((await post(service, headers)).status).toBe(403);

      redis = await startRedis(port);
      await eventually(async () => (await readiness(service)).body.status === 'ready');
      const again = sign();
      expect((await post(service, again)).status).toBe(200);
      expect((await post(service, again)).status).toBe(403);
      await stop(service);
    } finally {
      redis.kill('SIGKILL');
    }
  });
});

/** A Redis server of this test's own, without persistence, on `port`. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  await eventually(
    () =>
      new Promise<boolean>((resolve) => {
        const probe = connect(port, '127.0.0.1');
        probe.once('connect', () => {
          probe.destroy();
          resolve(true);
        });
        probe.once('error', () => resolve(false));
      }),
  );
  return child;
}
