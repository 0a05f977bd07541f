// Readiness is public through NGINX (`/health/ready`): a flood of probes must not become a
// flood of checks (a gateway's check asks every subgraph and Redis, a subgraph's asks its
// database and Redis), nor of log lines when the check fails.
import { ApolloServer } from '@apollo/server';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningService, serveGraphQL } from '../src/http.ts';
import { createLogger } from '../src/logger.ts';

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

const cleanUps: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanUp of cleanUps.splice(0)) await cleanUp();
});

/** A service whose readiness check takes `checkMs` and fails while `state.failing`. */
async function serve(checkMs: number) {
  const state = { failing: false, checks: 0 };
  const logLines: { msg?: string }[] = [];
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
      return { checked: state.checks };
    },
  });
  cleanUps.push(() => service.stop());
  const probe = async () => {
    const response = await fetch(new URL('/health/ready', service.url));
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const failures = () => logLines.filter((line) => line.msg === 'readiness check failed').length;
  return { state, probe, failures };
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
    const { state, probe, failures } = await serve(200);
    expect((await probe()).status).toBe(200);
    state.failing = true;
    const answers = await Promise.all(Array.from({ length: 40 }, probe));
    for (const answer of answers) {
      expect(answer).toEqual({ status: 503, body: { status: 'unavailable' } });
    }
    // One failed check is one log line, not one a probe.
    expect(state.checks).toBeLessThanOrEqual(1 + 6);
    expect(failures()).toBe(state.checks - 1);
    state.failing = false;
    expect((await probe()).status).toBe(200);
  });
});
