// What an operator sees when a service cannot start: the real start modules, as processes,
// with a bad setting. Each must exit non-zero at once with one log line that names what is
// wrong, and no stack trace: the line is read in `kubectl logs` or compose's output.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ServiceSpec, serviceCommand, services } from '../scripts/services.ts';
import { launchDefaults, repositoryRoot } from '../scripts/topology.ts';
import { freePort, spawnStart } from './support.ts';

const serviceNamed = (name: string) => services.find((spec) => spec.name === name) as ServiceSpec;

interface Outcome {
  code: number | null;
  /** What it wrote, stdout and stderr, line by line. */
  lines: string[];
}

/** Runs a service's start module with `env` (over a quiet default) until it exits. */
function start(spec: ServiceSpec, env: NodeJS.ProcessEnv): Promise<Outcome> {
  const [, ...args] = serviceCommand(spec);
  return run(args, env);
}

/** Runs `node <args>` in the repository with `env` (over a quiet default) until it exits. */
async function run(args: string[], env: NodeJS.ProcessEnv, deadlineMs = 30_000): Promise<Outcome> {
  const child = spawn(process.execPath, args, {
    cwd: repositoryRoot,
    env: { ...process.env, ...launchDefaults, PORT: '0', WARM_UP_TIMEOUT_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  // A service that starts despite the setting would run on: the deadline ends it.
  const deadline = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
  const [code] = await once(child, 'exit');
  clearTimeout(deadline);
  return { code, lines: output.split('\n').filter((line) => line.trim() !== '') };
}

/** Asserts one fatal JSON log line that matches `names`, and no stack trace anywhere. */
function expectOneClearLine({ code, lines }: Outcome, names: RegExp) {
  expect(code, lines.join('\n')).toBe(1);
  expect(lines, lines.join('\n')).toHaveLength(1);
  const entry = JSON.parse(lines[0] as string);
  expect(entry.level).toBe(60);
  expect(JSON.stringify(entry)).toMatch(names);
  expect(JSON.stringify(entry)).not.toMatch(/stack|\bat \S+ \(|file:\/\//);
}

describe('a service started with a bad setting', () => {
  for (const name of ['users', 'gateway-1']) {
    it(`${name}: a LOG_LEVEL it does not know`, async () => {
      expectOneClearLine(await start(serviceNamed(name), { LOG_LEVEL: 'loud' }), /LOG_LEVEL/);
    });

    it(`${name}: a PORT that is not a number`, async () => {
      expectOneClearLine(await start(serviceNamed(name), { PORT: '40O1' }), /PORT/);
    });
  }

  it('gateway-1: a HOST no name server knows', async () => {
    expectOneClearLine(
      await start(serviceNamed('gateway-1'), { HOST: 'nowhere.invalid' }),
      /HOST nowhere\.invalid.*resolve/,
    );
  });

  it('gateway-1: a port another process listens on', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const { port } = taken.address() as { port: number };
    try {
      expectOneClearLine(
        await start(serviceNamed('gateway-1'), { PORT: String(port) }),
        new RegExp(`PORT.*${port}.*already in use`),
      );
    } finally {
      taken.close();
    }
  });
});

/** Where a service would keep an embedded database; each test's own, empty. */
let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ticketing-start-up-'));
});
afterEach(() => rm(dataDir, { recursive: true, force: true }));

/** What the tickets service needs in production besides its database. */
const productionEnv = () => ({
  NODE_ENV: 'production',
  DATA_DIR: dataDir,
  USERS_SUBGRAPH_SECRET: 'start-up-test-users-subgraph-secret-0123456789',
  EVENTS_SUBGRAPH_SECRET: 'start-up-test-events-subgraph-secret-0123456789',
  TICKETS_SUBGRAPH_SECRET: 'start-up-test-tickets-subgraph-secret-0123456789',
  EVENT_RELAY_SECRET: 'start-up-test-event-relay-secret-0123456789',
});

describe('a subgraph in production without its database URL', () => {
  // It would keep its data in an embedded database on the container's own disk: lost with
  // the pod, and each replica with a stock of its own, so a tier sells once per replica.
  it('does not start, and names the variable', async () => {
    expectOneClearLine(
      await start(serviceNamed('tickets'), productionEnv()),
      /TICKETS_DATABASE_URL.*required in production/,
    );
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('is not migrated either: the init container fails, naming it', async () => {
    const { code, lines } = await run(
      ['--experimental-strip-types', 'prisma/scripts/migrate.ts', 'tickets'],
      productionEnv(),
    );
    expect(code, lines.join('\n')).toBe(1);
    expect(lines.join('\n')).toMatch(/TICKETS_DATABASE_URL.*required in production/);
    expect(lines.join('\n')).not.toMatch(/\bat \S+ \(|file:\/\//);
    expect(await readdir(dataDir)).toEqual([]);
  });
});

describe('a URL without the scheme its client speaks', () => {
  // "localhost:6379" and "users:4001/graphql" are URLs whose scheme is "localhost" and
  // "users": accepted as URLs, they left Redis, or a subgraph, unreachable without a word.
  it('REDIS_URL', async () => {
    expectOneClearLine(
      await start(serviceNamed('gateway-1'), { REDIS_URL: 'localhost:6379' }),
      /redis:\/\/.*REDIS_URL/,
    );
  });

  it('a gateway’s USERS_URL', async () => {
    expectOneClearLine(
      await start(serviceNamed('gateway-1'), { USERS_URL: 'users:4001/graphql' }),
      /http:\/\/.*USERS_URL/,
    );
  });

  it('a database URL', async () => {
    expectOneClearLine(
      await start(serviceNamed('tickets'), {
        ...productionEnv(),
        TICKETS_DATABASE_URL: 'db.example:5432/tickets',
      }),
      /postgresql:\/\/.*TICKETS_DATABASE_URL/,
    );
  });
});

describe('a bad setting of a subgraph’s own', () => {
  // Read only once its database was open: the database was migrated and seeded first, by a
  // service that could not run.
  it('stops it before its database is touched', async () => {
    expectOneClearLine(
      await start(serviceNamed('tickets'), { DATA_DIR: dataDir, HOLD_SECONDS: '0' }),
      /HOLD_SECONDS/,
    );
    expect(await readdir(dataDir)).toEqual([]);
  });
});

describe('a secret missing in production', () => {
  // Checked only once the database was open: each service migrated (or, unreachable, failed
  // on) its database before it told of the secret. Here the database cannot be reached: the
  // secret must be what stops the service.
  const unreachable = 'postgresql://postgres@127.0.0.1:1/unreachable';
  for (const [name, variable, database] of [
    ['users', 'USERS_SUBGRAPH_SECRET', 'USERS_DATABASE_URL'],
    ['users', 'TICKETS_SUBGRAPH_SECRET', 'USERS_DATABASE_URL'],
    ['tickets', 'EVENTS_SUBGRAPH_SECRET', 'TICKETS_DATABASE_URL'],
    ['tickets', 'EVENT_RELAY_SECRET', 'TICKETS_DATABASE_URL'],
    ['events', 'EVENT_RELAY_SECRET', 'EVENTS_DATABASE_URL'],
  ] as const) {
    it(`${name}: ${variable} stops it before its database is touched`, async () => {
      const env: NodeJS.ProcessEnv = {
        ...productionEnv(),
        [database]: unreachable,
      };
      delete env[variable];
      expectOneClearLine(
        await start(serviceNamed(name), env),
        new RegExp(`${variable}.*production`),
      );
    });
  }
});

describe('a number an operator set too large, or to nothing', () => {
  // Node keeps a timer at most 2^31 - 1 ms (24.8 days); a longer one fires after 1 ms. The
  // relay polled its database every millisecond, and a gateway with such a deadline would
  // give up on every request at once.
  it('a relay interval past what a timer keeps', async () => {
    expectOneClearLine(
      await start(serviceNamed('events'), {
        DATA_DIR: dataDir,
        EVENT_RELAY_INTERVAL_MS: '3000000000',
      }),
      /EVENT_RELAY_INTERVAL_MS/,
    );
  });

  it('a gateway’s request deadline past it', async () => {
    expectOneClearLine(
      await start(serviceNamed('gateway-1'), { REQUEST_TIMEOUT_MS: '3000000000' }),
      /REQUEST_TIMEOUT_MS/,
    );
  });

  // `PORT=` (compose's `${PORT:-}`) was port 0: a port the OS picks, where nothing looks.
  it('PORT set to nothing is the service’s own port', async () => {
    const taken = createServer();
    const { port } = await new Promise<{ port: number }>((resolve) => {
      taken.listen(serviceNamed('gateway-1').port, '127.0.0.1', () =>
        resolve(taken.address() as { port: number }),
      );
      taken.once('error', () => resolve({ port: -1 }));
    });
    try {
      // Its own port is taken here (by this test, or by a gateway already running): the
      // refusal names it, where port 0 would have started on any port.
      expectOneClearLine(
        await start(serviceNamed('gateway-1'), { PORT: '' }),
        new RegExp(`PORT ${serviceNamed('gateway-1').port}.*already in use`),
      );
    } finally {
      if (port > 0) taken.close();
    }
  });
});

describe('npm start, when a service cannot start', () => {
  // The local runner's own ports (scripts/services.ts) and a public port of the test's own.
  it('says which, stops the rest and exits 1, without a stack trace', async () => {
    const { code, lines } = await run(
      ['--experimental-strip-types', 'scripts/start.ts'],
      {
        DATA_DIR: dataDir,
        PUBLIC_PORT: String(await freePort()),
        LOG_LEVEL: 'warn',
        TICKETS_DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/unreachable',
      },
      // It builds the web app first, if it was never built.
      150_000,
    );
    const output = lines.join('\n');
    expect(code, output).toBe(1);
    expect(output).toMatch(/The topology did not start: tickets exited before it was ready/);
    expect(output).not.toMatch(/ReferenceError|\n\s+at \S+ \(/);
    for (const name of ['users', 'events']) {
      const port = serviceNamed(name).port;
      await expect(fetch(`http://127.0.0.1:${port}/health/live`), name).rejects.toThrow();
    }
  });

  it('names the public port another process holds, and PUBLIC_PORT to move it', async () => {
    // NGINX could not bind it, and all a newcomer read was "nginx exited with code 1"; the
    // process answers /health/live as the edge would, and was once taken for it ("ready").
    const impostor = createHttpServer((_, response) => response.end('{"status":"ok"}'));
    impostor.listen(0, '0.0.0.0');
    await once(impostor, 'listening');
    const { port } = impostor.address() as AddressInfo;
    try {
      const { code, lines } = await run(
        ['--experimental-strip-types', 'scripts/start.ts'],
        { DATA_DIR: dataDir, PUBLIC_PORT: String(port), LOG_LEVEL: 'warn' },
        150_000,
      );
      const output = lines.join('\n');
      expect(code, output).toBe(1);
      expect(output).toMatch(
        new RegExp(`The topology did not start: port ${port} is in use .*PUBLIC_PORT`),
      );
      expect(output).not.toMatch(/ready at|\n\s+at \S+ \(/);
    } finally {
      impostor.close();
    }
  });

  it('refuses a PUBLIC_PORT that is not a port, naming it', async () => {
    const { code, lines } = await run(['--experimental-strip-types', 'scripts/start.ts'], {
      PUBLIC_PORT: 'eighty',
    });
    expect(code, lines.join('\n')).toBe(1);
    expect(lines.join('\n')).toMatch(/PUBLIC_PORT/);
    expect(lines.join('\n')).not.toMatch(/ZodError|\n\s+at \S+ \(/);
  });
});

describe('npm start beside another process on the services’ own ports', () => {
  // Another run of the topology (a second checkout's, a test's) holds 4000-4010: with
  // FREE_SERVICE_PORTS, each service takes a free port instead, and the start goes on.
  it('starts every service on a free port with FREE_SERVICE_PORTS', async () => {
    const squatter = createServer();
    const squatting = await new Promise<boolean>((resolve) => {
      squatter.once('error', () => resolve(false));
      squatter.listen(serviceNamed('users').port, '127.0.0.1', () => resolve(true));
    });
    // Not free: another process holds it, which is the case here all the same.
    const child = spawnStart(dataDir, await freePort(), true, { FREE_SERVICE_PORTS: 'true' });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', (chunk) => {
        output += chunk;
      });
    }
    const exited = once(child, 'exit');
    try {
      // It builds the web app first, if it was never built.
      const deadline = Date.now() + 150_000;
      while (!output.includes('Supergraph ready at') && child.exitCode === null) {
        if (Date.now() > deadline) throw new Error(`npm start was not ready:\n${output}`);
        await new Promise((wake) => setTimeout(wake, 100));
      }
      expect(output).toContain('Supergraph ready at');
      const ports = [...output.matchAll(/^\s+(\S+)\s+http:\/\/[^:]+:(\d+)\/\S* \(pid \d+\)$/gm)];
      expect(ports.map(([, name]) => name).sort()).toEqual(services.map(({ name }) => name).sort());
      for (const [, name, port] of ports) {
        expect(Number(port), name).not.toBe(serviceNamed(name as string).port);
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      if (squatting) squatter.close();
    }
  }, 200_000);
});

describe('a setting’s name with a typo', () => {
  // REDIS_ULR left Redis unused without a word: no shared replay protection, no revocations.
  it('is named, with the setting it was probably meant as, and the service starts', async () => {
    const child = spawn(process.execPath, serviceCommand(serviceNamed('gateway-1')).slice(1), {
      cwd: repositoryRoot,
      env: {
        ...process.env,
        ...launchDefaults,
        PORT: '0',
        WARM_UP_TIMEOUT_MS: '0',
        LOG_LEVEL: 'warn',
        REDIS_ULR: 'redis://127.0.0.1:6379',
      },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    const lines: string[] = [];
    child.stdout?.on('data', (chunk) => lines.push(...String(chunk).split('\n').filter(Boolean)));
    const exited = once(child, 'exit');
    try {
      // Ready, or gone before it: a start that failed is told with what it wrote.
      const ready = await Promise.race([
        once(child, 'message').then(([message]) => message),
        exited.then(([code, signal]) => ({ type: 'exit', code, signal })),
      ]);
      expect(ready, lines.join('\n')).toMatchObject({ type: 'ready' });
      const warnings = lines.map((line) => JSON.parse(line)).filter((entry) => entry.level === 40);
      expect(warnings).toContainEqual(
        expect.objectContaining({ variable: 'REDIS_ULR', meant: 'REDIS_URL' }),
      );
    } finally {
      child.kill('SIGTERM');
      // Its drain deadline is far shorter: a service that outlives it is told with its output.
      const stopped = await Promise.race([
        exited.then(() => true),
        new Promise<false>((wake) => setTimeout(() => wake(false), 30_000)),
      ]);
      if (!stopped) child.kill('SIGKILL');
      expect(stopped, lines.join('\n')).toBe(true);
    }
  });
});

describe('a service whose runner goes away while it starts', () => {
  // `npm start` killed (kill -9, a crash) before its services were ready: each must exit at
  // once, not go on to migrate and seed its database, and then fail with an uncaught error
  // when it tells the runner it is ready. The runner here starts the users service as
  // topology.ts does, over an IPC channel, its output to a file, and is killed at once.
  it('exits at once, without an error', async () => {
    const [, ...args] = serviceCommand(serviceNamed('users'));
    const log = join(dataDir, '..', `${basename(dataDir)}.log`);
    const runner = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { spawn } from 'node:child_process';
         import { openSync } from 'node:fs';
         const log = openSync(${JSON.stringify(log)}, 'w');
         const child = spawn(process.execPath, ${JSON.stringify(args)}, {
           stdio: ['ignore', log, log, 'ipc'],
         });
         process.stdout.write(child.pid + '\\n');
         setInterval(() => {}, 1_000);`,
      ],
      {
        cwd: repositoryRoot,
        env: {
          ...process.env,
          ...launchDefaults,
          PORT: '0',
          DATA_DIR: join(dataDir, 'data'),
          USERS_DATABASE_URL: '',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const [first] = await once(runner.stdout, 'data');
    const pid = Number(String(first).trim());
    runner.kill('SIGKILL');
    // Neither gone while it runs, nor dead but not yet reaped by whoever adopted it (state Z).
    const running = async () => {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
      return stat !== undefined && !stat.split(') ')[1]?.startsWith('Z');
    };
    try {
      // Long enough for it to load, migrate and seed its new database, and be ready.
      const deadline = Date.now() + 30_000;
      while ((await running()) && Date.now() < deadline) {
        await new Promise((wake) => setTimeout(wake, 100));
      }
      expect(await running()).toBe(false);
      const output = await readFile(log, 'utf8');
      expect(output).not.toMatch(/ERR_IPC_CHANNEL_CLOSED|\bat \S+ \(|users ready/);
      // Its database never opened.
      expect(await readdir(join(dataDir, 'data')).catch(() => [])).toEqual([]);
    } finally {
      if (await running()) process.kill(pid, 'SIGKILL');
      await rm(log, { force: true });
    }
  }, 40_000);
});
