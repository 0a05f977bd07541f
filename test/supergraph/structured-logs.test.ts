// Every line a service writes is a line of its structured log: JSON, at LOG_LEVEL, with the
// request's id when written while a request is handled. What the libraries write of their
// own (Apollo Server's and Apollo Gateway's messages) goes there too, never to the console
// as plain text, which an operator's log pipeline drops or mis-parses.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { startGateway } from '@ticketing/gateway/main';
import {
  createLogger,
  type RunningService,
  type SubgraphDefinition,
  signedSubgraphHeaders,
  startSubgraph,
} from '@ticketing/platform';
import { dropDatabase, uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { usersSubgraph } from '@ticketing/users-subgraph/subgraph';
import pg from 'pg';
import type { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { inProcessServiceSettings } from './harness.ts';

const secret = 'users-secret-for-the-structured-logs-test-0123456789';
let env: NodeJS.ProcessEnv;
let dataDir: string;
const running: RunningService[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ticketing-structured-logs-'));
  env = {
    ...inProcessServiceSettings(dataDir),
    USERS_DATABASE_URL: uniqueTestDatabaseUrl('structured_logs_users'),
    USERS_SUBGRAPH_SECRET: secret,
  };
});
afterAll(async () => {
  for (const service of running) await service.stop();
  if (env) await dropDatabase(env.USERS_DATABASE_URL as string);
  await rm(dataDir, { recursive: true, force: true });
});

/** What reaches the process's own stdout and stderr meanwhile, or its console, past every logger. */
let direct: string[] = [];
const consoleMethods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
const originals = {
  stdout: process.stdout.write,
  stderr: process.stderr.write,
  console: Object.fromEntries(consoleMethods.map((method) => [method, console[method]])),
};
beforeEach(() => {
  direct = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    process[stream].write = ((chunk: string | Uint8Array) => {
      direct.push(`${stream}: ${String(chunk)}`);
      return true;
    }) as typeof process.stdout.write;
  }
  for (const method of consoleMethods) {
    console[method] = (...args: unknown[]) => {
      direct.push(`console.${method}: ${args.map(String).join(' ')}`);
    };
  }
});
afterEach(() => {
  process.stdout.write = originals.stdout;
  process.stderr.write = originals.stderr;
  Object.assign(console, originals.console);
});

/** A logger at `level` keeping the lines it writes, as written. */
function collecting(name: string, level: pino.LevelWithSilent) {
  const written: string[] = [];
  const logger = createLogger(name, level, {
    write: (line: string) => {
      written.push(line);
    },
  });
  const lines = () => written.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, written, lines };
}

const levels = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/**
 * `subgraph` with one plugin more, one that fails as a careless plugin might: after the
 * answer (Apollo Server's own message) or before execution (an unexpected error).
 */
function withFailingPlugin<Client, Location, TContext extends BaseContext>(
  subgraph: SubgraphDefinition<Client, Location, TContext>,
): SubgraphDefinition<Client, Location, TContext> {
  const failing: ApolloServerPlugin<TContext> = {
    async requestDidStart({ request }) {
      return {
        async didResolveOperation() {
          if (request.operationName?.startsWith('FailsBefore')) {
            throw new Error('the plugin failed before execution');
          }
        },
        async willSendResponse() {
          if (request.operationName === 'FailsAfter') {
            throw new Error('the plugin failed after the answer');
          }
        },
      };
    },
  };
  return {
    ...subgraph,
    async setUp(prisma, options) {
      const setup = await subgraph.setUp(prisma, options);
      return { ...setup, plugins: [...(setup.plugins ?? []), failing] };
    },
  };
}

/** A users service logging at `level` into lines the test reads. */
async function usersLogging(level: pino.LevelWithSilent) {
  const log = collecting('users', level);
  const service = await startSubgraph(withFailingPlugin(usersSubgraph), env, log.logger);
  running.push(service);
  return { service, ...log };
}

/** Posts `query` (named `operationName`) to the users subgraph as the gateway would. */
async function post(service: RunningService, query: string, operationName: string, id: string) {
  const body = JSON.stringify({ query, operationName });
  const response = await fetch(service.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-request-id': id,
      ...signedSubgraphHeaders({
        secret,
        subgraph: 'users',
        body,
        viewer: null,
        issuedAt: Date.now(),
      }),
    },
    body,
  });
  return { status: response.status, text: await response.text() };
}

describe('a subgraph’s Apollo Server', () => {
  it('writes a failing plugin’s message as a JSON line at error, with the request’s id', async () => {
    const { service, written, lines } = await usersLogging('info');
    const answer = await post(
      service,
      'query FailsAfter { __typename }',
      'FailsAfter',
      'structured-after',
    );
    expect(answer.status).toBe(500);
    expect(direct).toEqual([]);
    for (const line of written) expect(() => JSON.parse(line)).not.toThrow();
    const apollos = lines().filter((line) =>
      String(line.msg).startsWith('Unexpected error processing request'),
    );
    expect(apollos).toEqual([
      expect.objectContaining({
        level: levels.error,
        service: 'users',
        requestId: 'structured-after',
      }),
    ]);
  });

  it('writes nothing of its own below LOG_LEVEL', async () => {
    const { service, written } = await usersLogging('fatal');
    const answer = await post(service, 'query FailsAfter { __typename }', 'FailsAfter', 'quiet');
    expect(answer.status).toBe(500);
    expect(direct).toEqual([]);
    expect(written).toEqual([]);
  });
});

describe('a subgraph’s log of an unexpected error', () => {
  it('cuts the client’s operation name at 256 characters, as an access line cuts a path', async () => {
    const { service, written, lines } = await usersLogging('info');
    // As long as a document may be: the gateway's limit is 8 KB.
    const name = `FailsBefore${'x'.repeat(7_900)}`;
    const answer = await post(service, `query ${name} { __typename }`, name, 'long-name');
    expect(answer.status).toBe(500);
    expect(direct).toEqual([]);
    const unexpected = lines().filter((line) => line.msg === 'unexpected error');
    expect(unexpected).toEqual([
      expect.objectContaining({
        level: levels.error,
        requestId: 'long-name',
        operationName: `${name.slice(0, 256)}…`,
      }),
    ]);
    expect(Math.max(...written.map((line) => line.length))).toBeLessThan(4_096);
  });
});

describe('a subgraph’s log of a failed field', () => {
  it('cuts each alias of its path at 256 characters', async () => {
    const { service, written, lines } = await usersLogging('info');
    // The table gone from under the service: a failure no client input explains.
    const database = new pg.Client({ connectionString: env.USERS_DATABASE_URL });
    await database.connect();
    await database.query('ALTER TABLE users RENAME TO users_away');
    const alias = `a${'l'.repeat(7_000)}`;
    try {
      const answer = await post(
        service,
        `query Aliased { ${alias}: _entities(representations: [{ __typename: "User", id: "${randomUUID()}" }]) { ... on User { id } } }`,
        'Aliased',
        'long-alias',
      );
      expect(answer.status).toBe(200);
    } finally {
      await database.query('ALTER TABLE users_away RENAME TO users');
      await database.end();
    }
    expect(direct).toEqual([]);
    const unexpected = lines().filter((line) => line.msg === 'unexpected error');
    expect(unexpected).toEqual([
      expect.objectContaining({
        level: levels.error,
        requestId: 'long-alias',
        path: [`${alias.slice(0, 256)}…`, 0],
      }),
    ]);
    expect(Math.max(...written.map((line) => line.length))).toBeLessThan(4_096);
  });
});

describe('the gateway’s Apollo Gateway and Apollo Server', () => {
  it('write their messages as JSON lines of the gateway’s log', async () => {
    const { logger, written, lines } = collecting('gateway-under-test', 'debug');
    const gateway = await startGateway(
      {
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: '0',
        DRAIN_DEADLINE_MS: '0',
        WARM_UP_TIMEOUT_MS: '0',
        USERS_URL: 'http://127.0.0.1:9/graphql',
        EVENTS_URL: 'http://127.0.0.1:9/graphql',
        TICKETS_URL: 'http://127.0.0.1:9/graphql',
        AUTH_JWKS_URL: 'http://127.0.0.1:9/.well-known/jwks.json',
      },
      logger,
    );
    running.push(gateway);
    expect(direct).toEqual([]);
    for (const line of written) expect(() => JSON.parse(line)).not.toThrow();
    // Apollo Gateway's own word on the schema it loaded: not left to the console, and at
    // debug, as Apollo's own logger would keep it from an operator at info.
    expect(lines()).toContainEqual(
      expect.objectContaining({
        level: levels.debug,
        service: 'gateway-under-test',
        msg: expect.stringMatching(/^Gateway successfully loaded schema/),
      }),
    );
    // A request whose subgraph is unreachable: each line it writes is JSON, with its id.
    const before = written.length;
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'gateway-structured' },
      body: JSON.stringify({ query: '{ events(first: 1) { edges { node { id } } } }' }),
    });
    const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
    expect(body.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    expect(direct).toEqual([]);
    const during = lines().slice(before);
    expect(during).toContainEqual(
      expect.objectContaining({
        level: levels.error,
        msg: 'masked an error as SERVICE_UNAVAILABLE',
      }),
    );
    for (const line of during)
      expect(line.requestId, JSON.stringify(line)).toBe('gateway-structured');
  });
});
