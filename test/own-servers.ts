// Servers of a test's own, for fault injection: a PostgreSQL cluster and a Redis server on
// free ports, started, restarted, frozen and killed by the test, a relay to one whose path
// the test can cut, and a TCP proxy that holds a service's answers. Never the machine's
// shared servers, which other tests use at the same time.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type DatabaseDeadlines,
  defaultDatabaseDeadlines,
  statementGraceMs,
} from '@ticketing/prisma';
import pg from 'pg';
import { freePort } from '../scripts/ports.ts';

const run = promisify(execFile);

/** PostgreSQL's server programs (initdb, pg_ctl), from the system's installation. */
async function postgresBinDir(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const versions = (await readdir(root).catch(() => [] as string[])).sort(
    (a, b) => Number(b) - Number(a),
  );
  if (versions.length === 0) {
    throw new Error('PostgreSQL server programs (initdb, pg_ctl) are not installed');
  }
  return join(root, versions[0] as string, 'bin');
}

/** Database deadlines short enough that a test of a frozen server waits seconds, not twelve. */
export const shortDatabaseDeadlines: DatabaseDeadlines = {
  ...defaultDatabaseDeadlines,
  connectMs: 1_000,
  poolWaitMs: 2_000,
  statementMs: 1_000,
};
/** When a statement to a frozen server must have failed under them, with room for a busy machine. */
export const frozenStatementFailsWithinMs =
  shortDatabaseDeadlines.statementMs + statementGraceMs + 2_000;

export interface OwnPostgres extends AsyncDisposable {
  /** The maintenance database's URL on this server. */
  readonly url: string;
  /**
   * Restarts the server: `fast` ends every session (in a transaction or not) with 57P01,
   * `immediate` kills the server processes without a clean shutdown.
   */
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  /**
   * Freezes the server (SIGSTOP to the postmaster and every backend): connections stay open
   * and the kernel keeps acknowledging them, but nothing answers, as on a hung host or a
   * partition that sends no reset.
   */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /**
   * Sets `default_transaction_read_only` for the whole server, as after a failover to a
   * standby (25006 for every write), and waits until a new session sees it: the server has
   * then signalled every session to reload, and each does so before its next statement.
   */
  readOnly(on: boolean): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A new PostgreSQL cluster in a folder of its own, listening on a free loopback port
 * (TCP only). PostgreSQL refuses to run as root: when the tests run as root, the cluster
 * belongs to, and runs as, the `postgres` system user.
 */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const bin = await postgresBinDir();
  const dir = await mkdtemp(join(tmpdir(), 'ticketing-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: group } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(group.trim()));
  }
  const asOwner = (program: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(bin, program), ...args])
      : run(join(bin, program), args);
  await asOwner('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const serverOptions = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    "-c unix_socket_directories=''",
    // Without fsync a commit still reaches the kernel before it is acknowledged, so it
    // survives the server's processes being killed (only a machine crash would lose it).
    // synchronous_commit stays on: off, an immediate restart loses acknowledged commits.
    '-c fsync=off',
    '-c max_connections=200',
  ].join(' ');
  const log = join(dir, 'server.log');
  const pgCtl = (...args: string[]) => asOwner('pg_ctl', ['-D', data, '-l', log, '-w', ...args]);
  await pgCtl('-o', serverOptions, 'start');
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    await pgCtl('-m', 'immediate', 'stop').catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  /** The postmaster and its children: every process of the cluster. */
  const signalAll = async (signal: 'SIGSTOP' | 'SIGCONT') => {
    const pid = Number((await readFile(join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const { stdout } = await run('pgrep', ['-P', String(pid)]).catch(() => ({ stdout: '' }));
    const children = stdout.split('\n').filter(Boolean).map(Number);
    // Stopped first, so that it starts no backend after the list was read; resumed last.
    if (signal === 'SIGSTOP') process.kill(pid, signal);
    for (const child of children) process.kill(child, signal);
    if (signal === 'SIGCONT') process.kill(pid, signal);
  };
  const readOnly = async (on: boolean) => {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(
        on
          ? 'ALTER SYSTEM SET default_transaction_read_only = on'
          : 'ALTER SYSTEM RESET default_transaction_read_only',
      );
      await admin.query('SELECT pg_reload_conf()');
    } finally {
      await admin.end();
    }
    for (const started = Date.now(); ; ) {
      const fresh = new pg.Client({ connectionString: url });
      await fresh.connect();
      const { rows } = await fresh.query<{ default_transaction_read_only: string }>(
        'SHOW default_transaction_read_only',
      );
      await fresh.end();
      if (rows[0]?.default_transaction_read_only === (on ? 'on' : 'off')) return;
      if (Date.now() - started > 10_000) throw new Error('the server did not reload its settings');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  return {
    url,
    readOnly,
    freeze: () => signalAll('SIGSTOP'),
    thaw: () => signalAll('SIGCONT'),
    async restart(mode = 'fast') {
      await pgCtl('-m', mode, '-o', serverOptions, 'restart');
      await waitForPostgres(url);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

async function waitForPostgres(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.end().catch(() => {});
    }
  }
}

export interface OwnRedis extends AsyncDisposable {
  readonly url: string;
  /** Freezes the server (SIGSTOP): connections stay open, nothing answers. */
  freeze(): void;
  /** Lets a frozen server go on (SIGCONT). */
  thaw(): void;
  /** Kills the server (SIGKILL): connections are refused. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A Redis server of the test's own, on a free loopback port, keeping nothing on disk. */
export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const started = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('redis-server did not start')), 10_000);
      started.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      started.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with code ${code}`));
      });
    });
  };
  const kill = async () => {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    current.kill('SIGCONT');
    current.kill('SIGKILL');
    await once(current, 'exit');
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    freeze: () => child?.kill('SIGSTOP'),
    thaw: () => child?.kill('SIGCONT'),
    kill,
    start,
    stop: kill,
    [Symbol.asyncDispose]: kill,
  };
}

export interface OwnRelay extends AsyncDisposable {
  /** The relay's address, in `target`'s form (scheme and path kept). */
  readonly url: string;
  /**
   * Cuts the path of every connection open now, silently: both ends stay open and nothing
   * they send arrives, with no reset and no close, as when the host on the far side was
   * replaced behind the same address (the old path lost, no one left to answer). New
   * connections are relayed as before.
   */
  silenceOpenConnections(): void;
  /** Closes every connection open now; new connections are relayed as before. */
  dropOpenConnections(): void;
  /**
   * On each connection opened from now on, holds the target's answers for `ms` once the
   * client has first sent bytes matching `pattern` (what comes after waits behind them, in
   * order): a command answered after its deadline, as on a busy moment.
   */
  slowAnswersTo(pattern: RegExp, ms: number): void;
  stop(): Promise<void>;
}

/** A TCP relay on a free loopback port to the server at `target` (any URL with a port). */
export async function startOwnRelay(target: string): Promise<OwnRelay> {
  const to = new URL(target);
  const port = await freePort();
  const open = new Set<{ silence(): void; destroy(): void }>();
  let slow: { pattern: RegExp; ms: number } | undefined;
  const server = createServer((client) => {
    const upstream = connect(Number(to.port), to.hostname);
    let silent = false;
    const slowHere = slow;
    let heldUntil: number | undefined;
    let passed = Promise.resolve();
    const pair = {
      silence: () => {
        silent = true;
      },
      destroy: () => {
        client.destroy();
        upstream.destroy();
      },
    };
    open.add(pair);
    client.on('data', (chunk) => {
      if (slowHere && heldUntil === undefined && slowHere.pattern.test(chunk.toString('latin1'))) {
        heldUntil = performance.now() + slowHere.ms;
      }
      silent || upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (heldUntil === undefined) {
        silent || client.write(chunk);
        return;
      }
      const until = heldUntil;
      passed = passed.then(async () => {
        const wait = until - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        silent || client.write(chunk);
      });
    });
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      socket.on('error', () => {});
      // Once silenced, the far end hears nothing of it, a close included.
      socket.on('close', () => silent || other.destroy());
    }
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const url = new URL(target);
  url.port = String(port);
  url.hostname = '127.0.0.1';
  const stop = async () => {
    for (const pair of open) pair.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return {
    url: url.toString(),
    silenceOpenConnections: () => {
      for (const pair of open) pair.silence();
    },
    dropOpenConnections: () => {
      for (const pair of open) pair.destroy();
      open.clear();
    },
    slowAnswersTo: (pattern, ms) => {
      slow = { pattern, ms };
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

export interface HoldingProxy extends AsyncDisposable {
  /** The proxy's origin (`http://127.0.0.1:port`): the service's paths work under it. */
  readonly url: string;
  /**
   * Holds the service's answer to the next request whose bytes contain `marker`, on its
   * connection only; resolves once some of that answer is held (the service has answered).
   */
  hold(marker: string): Promise<void>;
  /** Passes on what was held, and everything after it. */
  release(): void;
  stop(): Promise<void>;
}

/**
 * A TCP proxy in front of `target` (an http URL) that can hold one request's answer, so
 * that a test can change what the service would say while an earlier answer is on its way.
 */
export async function startHoldingProxy(target: string): Promise<HoldingProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let waiting: { marker: string; held: () => void } | undefined;
  /** What the service sent on the held connection, to pass on in order; undefined if none. */
  let queue: (() => void)[] | undefined;
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    let held: (() => void)[] | undefined;
    let seen = '';
    const toClient = (write: () => void) => (held ? held.push(write) : write());
    client.on('error', () => upstream.destroy()).on('close', () => upstream.destroy());
    upstream.on('error', () => toClient(() => client.destroy()));
    upstream.on('close', () => toClient(() => client.destroy()));
    upstream.on('end', () => toClient(() => client.end()));
    upstream.on('data', (chunk: Buffer) => toClient(() => client.write(chunk)));
    client.on('data', (chunk: Buffer) => {
      seen = (seen + chunk.toString('latin1')).slice(-64 * 1024);
      if (waiting && !queue && seen.includes(waiting.marker)) {
        const writes: (() => void)[] = [];
        held = writes;
        queue = writes;
        upstream.once('data', waiting.held);
        waiting = undefined;
        // Once released, this connection passes everything on again.
        writes.push(() => {
          held = undefined;
        });
      }
      upstream.write(chunk);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const listening = typeof address === 'object' && address ? address.port : 0;
  const stop = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return {
    url: `http://127.0.0.1:${listening}`,
    hold: (marker) =>
      new Promise<void>((resolve) => {
        waiting = { marker, held: () => resolve() };
      }),
    release() {
      const writes = queue ?? [];
      queue = undefined;
      // The first write lets the connection go; those queued after it follow in order.
      for (const write of writes.splice(0)) write();
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
