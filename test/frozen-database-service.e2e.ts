// A subgraph on a PostgreSQL server of the test's own, frozen (SIGSTOP): connections stay
// open, nothing answers. What does not need an answer from the database must not wait for
// one: readiness answers within its own deadline (a probe that hangs is as bad as one that
// lies), and a stopping service exits within its drain deadline.

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type RunningService,
  readinessDeadlineMs,
  signedSubgraphHeaders,
  startSubgraph,
  stopWaitMs,
} from '@ticketing/platform';
import { usersSubgraph } from '@ticketing/users-subgraph/subgraph';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type OwnPostgres, startOwnPostgres } from './own-servers.ts';

const secret = 'users-secret-for-the-frozen-database-test-0123456789';
const drainDeadlineMs = 1_000;
let postgres: OwnPostgres;
let dataDir: string;
let service: RunningService | undefined;
/** Holds a lock that a request's statement waits for, until the server is thawed. */
let locker: pg.Client | undefined;

beforeAll(async () => {
  postgres = await startOwnPostgres();
  dataDir = await mkdtemp(join(tmpdir(), 'ticketing-frozen-service-'));
}, 120_000);

afterEach(async () => {
  await postgres.thaw().catch(() => {});
  await locker?.end();
  locker = undefined;
  await service?.stop();
  service = undefined;
});

afterAll(async () => {
  await postgres?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function startUsers(extra: NodeJS.ProcessEnv = {}): Promise<RunningService> {
  const url = new URL(postgres.url);
  url.pathname = '/users';
  service = await startSubgraph(usersSubgraph, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    SEED_DEMO_DATA: 'false',
    DRAIN_DEADLINE_MS: String(drainDeadlineMs),
    DATA_DIR: dataDir,
    USERS_DATABASE_URL: url.toString(),
    USERS_SUBGRAPH_SECRET: secret,
    ...extra,
  });
  return service;
}

async function readiness(running: RunningService) {
  const started = performance.now();
  const response = await fetch(new URL('/health/ready', running.url), {
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, ms: performance.now() - started };
}

describe('a subgraph whose database is frozen', () => {
  it('answers readiness within its own deadline', async () => {
    const users = await startUsers();
    expect((await readiness(users)).status).toBe(200);
    await postgres.freeze();
    const probes = await Promise.all(Array.from({ length: 3 }, () => readiness(users)));
    for (const probe of probes) {
      expect(probe.status).toBe(503);
      // Its own deadline, with room for a busy machine; the statement's would be 12 s.
      expect(probe.ms).toBeLessThan(readinessDeadlineMs + 2_000);
    }
    // Probes that come while the database stays frozen answer as fast.
    expect((await readiness(users)).ms).toBeLessThan(readinessDeadlineMs + 2_000);
  }, 60_000);

  it('stops within its drain deadline, a request waiting on the database included', async () => {
    const users = await startUsers();
    expect((await readiness(users)).status).toBe(200);
    // A request whose statement the frozen server holds: it would wait for the statement's
    // answer deadline (12 s), past the drain's, and past a pod's grace period with it. The
    // statement is held at a lock of the table first, seen waiting there, and only then is
    // the server frozen: it reached the database, whatever the machine's load.
    const database = new URL(postgres.url);
    database.pathname = '/users';
    locker = new pg.Client({ connectionString: database.toString() });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
    const body = JSON.stringify({
      query: 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { id } } }',
      variables: { r: [{ __typename: 'User', id: randomUUID() }] },
    });
    const waiting = fetch(users.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...signedSubgraphHeaders({ secret, subgraph: 'users', body, viewer: null }),
      },
      body,
    }).catch(() => undefined);
    for (const since = Date.now(); ; ) {
      await locker.query('SELECT pg_stat_clear_snapshot()');
      const { rows } = await locker.query(
        `SELECT 1 FROM pg_stat_activity
         WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE '%FROM "public"."users"%'`,
      );
      if (rows.length > 0) break;
      if (Date.now() - since > 20_000) throw new Error('the request never reached the database');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await postgres.freeze();
    const started = performance.now();
    const stopped = await Promise.race([
      users.stop().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(() => resolve('still stopping'), 20_000)),
    ]);
    expect(stopped).toBe('stopped');
    // The drain, then a short wait for what is still at the database, with room for a busy
    // machine.
    expect(performance.now() - started).toBeLessThan(drainDeadlineMs + stopWaitMs + 2_000);
    await waiting;
  }, 60_000);
});
