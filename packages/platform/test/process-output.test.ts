// What Node writes of its own in a service (a warning, the error that ends it) is a line of
// the service's structured log like any other: JSON, at LOG_LEVEL, never plain text on
// stderr that an operator's log pipeline drops or mis-parses.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { ApolloServer } from '@apollo/server';
import { describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../../test/support.ts';
import { type RunningService, serveGraphQL } from '../src/http.ts';
import { createLogger } from '../src/logger.ts';

const fixture = fileURLToPath(new URL('./fixtures/process-output.ts', import.meta.url));
const consoleFixture = fileURLToPath(new URL('./fixtures/console-output.ts', import.meta.url));

async function run(level: string, file = fixture, args: string[] = []) {
  const child = spawn(process.execPath, ['--experimental-strip-types', file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: level, NODE_OPTIONS: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  const lines = stdout.split('\n').filter((line) => line !== '');
  return { code, stdout, stderr, lines };
}

describe('Node’s own output in a service', () => {
  it('is JSON lines of its log: a warning at warn, an unhandled rejection at fatal', async () => {
    const { code, stdout, stderr, lines } = await run('info');
    expect(stderr).toBe('');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed, stdout).toContainEqual(
      expect.objectContaining({
        level: 40,
        service: 'process-output',
        msg: 'this call is deprecated',
        warning: { name: 'DeprecationWarning', code: 'DEP_TEST' },
      }),
    );
    expect(parsed, stdout).toContainEqual(
      expect.objectContaining({
        level: 60,
        service: 'process-output',
        msg: 'unhandled rejection: exiting',
        err: expect.objectContaining({ message: 'nobody awaited this' }),
      }),
    );
    // It still ends the service, as it would have: its state is unknown.
    expect(code).toBe(1);
  }, 20_000);

  it('keeps a warning below LOG_LEVEL out', async () => {
    const { code, stderr, lines } = await run('error');
    expect(stderr).toBe('');
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.map((line) => line.level)).toEqual([60]);
    expect(code).toBe(1);
  }, 20_000);
});

describe('what a library writes to the console in a service', () => {
  it('is a JSON line of its log: ioredis’s warning of a password Redis does not need', async () => {
    const url = new URL(testRedisUrl);
    url.password = 'not-needed-by-this-redis';
    const { code, stdout, stderr, lines } = await run('info', consoleFixture, [url.toString()]);
    expect(stderr).toBe('');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed, stdout).toContainEqual(
      expect.objectContaining({
        level: 40,
        service: 'console-output',
        msg: expect.stringContaining('does not require a password'),
      }),
    );
    expect(parsed.at(-1)?.msg).toBe('done');
    expect(code).toBe(0);
  }, 20_000);
});

describe('an error after a service’s answer began', () => {
  it('is a JSON line of its log, not a stack on the console', async () => {
    const written: string[] = [];
    const logger = createLogger('answer-began', 'info', {
      write: (line: string) => {
        written.push(line);
      },
    });
    const printed: unknown[][] = [];
    const originalError = console.error;
    console.error = (...args: unknown[]) => {
      printed.push(args);
    };
    // Express prints such an error itself outside tests: as a service in production would.
    const environment = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    let service: RunningService | undefined;
    try {
      service = await serveGraphQL({
        name: 'answer-began',
        drainDeadlineMs: 0,
        host: '127.0.0.1',
        port: 0,
        logger,
        createApolloServer: (plugins) =>
          new ApolloServer({ typeDefs: 'type Query { ok: Boolean }', plugins }),
        context: async () => ({}),
        configure(app) {
          // A handler that fails once its answer's head is out (a stream that broke).
          app.get('/streaming', (_request, response, next) => {
            response.writeHead(200, { 'content-type': 'text/plain' });
            response.write('partial');
            next(new Error('the stream broke'));
          });
        },
      });
      // Its connection is cut, as Express's handler cuts it: the answer is incomplete.
      const outcome = await fetch(new URL('/streaming', service.url)).then(
        (response) => response.text().then(() => 'complete'),
        () => 'cut',
      );
      expect(outcome).not.toBe('complete');
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      process.env.NODE_ENV = environment;
      console.error = originalError;
      await service?.stop();
    }
    expect(printed).toEqual([]);
    const lines = written.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        msg: 'request failed after its answer began',
        err: expect.objectContaining({ message: 'the stream broke' }),
        requestId: expect.any(String),
      }),
    );
  });
});
