// Readiness is public through NGINX (`/health/ready`): a flood of probes must not become a
// flood of checks (a gateway's check asks every subgraph and Redis, a subgraph's asks its
// database and Redis), nor a flood of log lines when the check fails: one line when the
// state changes, with the reason.
import { ApolloServer } from '@apollo/server';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningService, serveGraphQL } from '../src/http.ts';
import { createLogger } from '../src/logger.ts';

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

const cleanUps: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanUp of cleanUps.splice(0)) await cleanUp();
});

/**
 * A service whose readiness check takes `checkMs`, fails while `state.failing`, and reports
 * `degraded` while `state.degraded`.
 */
async function serve(checkMs: number) {
  const state = { failing: false, degraded: false, checks: 0 };
  const logLines: { msg?: string; err?: { message?: string }; problems?: unknown }[] = [];
  const service: RunningService = await serveGraphQL({
    name: 'readiness-test',
    drainDeadlineMs: 0,
    host: '127.0.0.1',
    port: 0,
    logger: createLogger('readiness-test', 'info', {
      write: (line: string) => {
        logLines.push(JSON.parse(line));
      },
    }),
    createApolloServer: (plugins) =>
      new ApolloServer({ typeDefs: 'type Query { ok: Boolean }', plugins }),
    context: async () => ({}),
    async checkReadiness() {
      state.checks += 1;
      await sleep(checkMs);
      if (state.failing) throw new Error('the database did not answer');
      if (state.degraded)
        return { status: 'degraded', problems: { redis: 'redis is reconnecting' } };
      return { checked: state.checks };
    },
  });
  cleanUps.push(() => service.stop());
  const probe = async () => {
    const response = await fetch(new URL('/health/ready', service.url));
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const stateMessages = ['readiness check failed', 'readiness degraded', 'ready again'];
  const readinessLines = () => logLines.filter((line) => stateMessages.includes(line.msg ?? ''));
  return { state, probe, readinessLines };
}

describe('readiness under a flood of probes', () => {
  it('runs one check for the probes that arrive while it runs, and answers each with it', async () => {
    const { state, probe } = await serve(1_000);
    const answers = await Promise.all(Array.from({ length: 40 }, probe));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.status).toBe('ready');
    }
    // The 40 probes arrive within the second the check takes; on a busy machine a few may
    // come after it ended, and start the next one.
    expect(state.checks).toBeLessThanOrEqual(3);
  });

  it('checks again for a probe after the shared check ended: no answer outlives its check', async () => {
    const { state, probe } = await serve(200);
    expect((await probe()).status).toBe(200);
    state.failing = true;
    const answers = await Promise.all(Array.from({ length: 40 }, probe));
    for (const answer of answers) {
      expect(answer).toEqual({ status: 503, body: { status: 'unavailable' } });
    }
    expect(state.checks).toBeLessThanOrEqual(1 + 6);
    state.failing = false;
    expect((await probe()).status).toBe(200);
  });
});

describe('readiness logs', () => {
  it('say when the state changes, with the reason, not at every failed check', async () => {
    const { state, probe, readinessLines } = await serve(0);
    expect((await probe()).status).toBe(200);
    state.failing = true;
    for (let i = 0; i < 5; i += 1) expect((await probe()).status).toBe(503);
    state.failing = false;
    state.degraded = true;
    for (let i = 0; i < 5; i += 1) expect((await probe()).body.status).toBe('degraded');
    state.degraded = false;
    for (let i = 0; i < 5; i += 1) expect((await probe()).body.status).toBe('ready');

    expect(state.checks).toBe(16);
    expect(readinessLines()).toEqual([
      expect.objectContaining({
        msg: 'readiness check failed',
        err: expect.objectContaining({ message: 'the database did not answer' }),
      }),
      expect.objectContaining({
        msg: 'readiness degraded',
        problems: { redis: 'redis is reconnecting' },
      }),
      expect.objectContaining({ msg: 'ready again' }),
    ]);
  });
});
