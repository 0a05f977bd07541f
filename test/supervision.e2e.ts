// `npm start` keeps its processes running, as compose and Kubernetes do: the real start
// module, on its embedded PGlite databases, with processes killed by SIGKILL. A gateway
// killed is started again on its port while the other serves; a tickets service killed in
// the middle of purchases comes back with every purchase it confirmed, each once; and a
// service that cannot start again is given up on, and everything stops. `npm start` itself
// killed with SIGKILL leaves no process running, and the next start stops an NGINX that an
// earlier run left on the public port.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoEvents, demoPassword, demoUsers } from '@ticketing/prisma/demo-data';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findNginx } from '../scripts/nginx.ts';
import { repositoryRoot } from '../scripts/topology.ts';
import { purchaseMutation } from './documents.ts';
import { freePort, postGraphQL, spawnStart } from './support.ts';

let dataDir: string;
let port: number;
let publicUrl: string;
/** The first `npm start`, which the tests kill processes under. */
let start: ChildProcess;
let lines: string[];
let pids: Map<string, number>;
let ports: Map<string, number>;
/** A service's port in the first run. */
const portOf = (name: string) => ports.get(name) as number;

interface StartRun {
  child: ChildProcess;
  /** What it has written, a line at a time. */
  lines: string[];
  /** Each service's process id, from the ready banner. */
  pids: Map<string, number>;
  /** Each service's port, from the ready banner: free ports, not the services' own. */
  ports: Map<string, number>;
}

/** Runs the real `npm start` on the test's data folder and public port. */
function launchStart(): StartRun {
  const child = spawnStart(dataDir, port);
  const run: StartRun = { child, lines: [], pids: new Map(), ports: new Map() };
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (chunk) => {
      const text = rest + String(chunk);
      const complete = text.split('\n');
      rest = complete.pop() ?? '';
      run.lines.push(...complete);
    });
  }
  return run;
}

/** Resolves once `run` has written a line matching `pattern` (or had before). */
async function lineMatching(
  pattern: RegExp,
  timeoutMs: number,
  run: StartRun = { child: start, lines, pids, ports },
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const line of run.lines) {
      const match = line.match(pattern);
      if (match) return match;
    }
    if (run.child.exitCode !== null) break;
    await new Promise((wake) => setTimeout(wake, 100));
  }
  throw new Error(`no line matched ${pattern}:\n${run.lines.join('\n')}`);
}

/** Waits for the ready banner and reads each service's port and process id from it. */
async function ready(run: StartRun, timeoutMs: number): Promise<void> {
  await lineMatching(/Supergraph ready at/, timeoutMs, run);
  for (const line of run.lines) {
    const match = line.match(/^\s+(\S+)\s+http:\/\/[^:/]+:(\d+)\/\S* \(pid (\d+)\)$/);
    if (!match) continue;
    run.ports.set(match[1] as string, Number(match[2]));
    run.pids.set(match[1] as string, Number(match[3]));
  }
}

const listing = '{ events(first: 3) { edges { node { title organizer { name } } } } }';

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ticketing-supervision-'));
  port = await freePort();
  publicUrl = `http://127.0.0.1:${port}/graphql`;
  const first = launchStart();
  ({ child: start, lines, pids, ports } = first);
  // It builds the web app first, if it was never built.
  await ready(first, 150_000);
}, 180_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(lines.join('\n'));
});

/** Later runs of `npm start`, and NGINX as a run left it: stopped after the tests if alive. */
const leftovers: ChildProcess[] = [];

afterAll(async () => {
  for (const child of [start, ...leftovers]) {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      await once(child, 'exit');
    }
  }
  await rm(dataDir, { recursive: true, force: true });
}, 60_000);

const nginxPrefix = join(repositoryRoot, '.data', 'nginx');

/** NGINX's master, as its pid file names it, and its workers. */
async function nginxProcesses(): Promise<number[]> {
  const master = Number((await readFile(join(nginxPrefix, 'nginx.pid'), 'utf8')).trim());
  const workers = (await readFile(`/proc/${master}/task/${master}/children`, 'utf8'))
    .trim()
    .split(/\s+/)
    .map(Number);
  return [master, ...workers];
}

/** Gone, or dead and not yet reaped by whoever adopted it (state Z). */
async function isGone(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined || (stat.split(') ')[1]?.startsWith('Z') ?? false);
}

/** Resolves once `condition` holds, checked every 20 ms for at most 30 s. */
async function waitUntil(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`waited in vain for ${what}`);
    await new Promise((wake) => setTimeout(wake, 20));
  }
}

/**
 * This machine's TCP connections to `port` of the loopback that a process still holds open:
 * established, or ended by the other side and not yet closed here (CLOSE_WAIT).
 */
async function connectionsTo(port: number): Promise<number> {
  const table = await readFile('/proc/net/tcp', 'utf8');
  const open = new Set(['01', '08']);
  return table
    .trim()
    .split('\n')
    .slice(1)
    .filter((line) => {
      const [, , remote, state] = line.trim().split(/\s+/);
      return Number.parseInt(remote?.split(':')[1] ?? '', 16) === port && open.has(state ?? '');
    }).length;
}

describe('npm start, when a process is killed', () => {
  it('names each service’s process', () => {
    expect([...pids.keys()].sort()).toEqual([
      'events',
      'gateway-1',
      'gateway-2',
      'tickets',
      'users',
    ]);
  });

  it('starts a gateway again on its port, while NGINX sends every request to the other', async () => {
    const killed = pids.get('gateway-1') as number;
    process.kill(killed, 'SIGKILL');
    // A request NGINX sends on a kept-alive connection to the dead gateway is lost (a 502,
    // documented: a sent POST is not retried); one it connects for is refused and goes to the
    // other (proxy_next_upstream error, max_fails=1). So the requests start once the process
    // is gone and NGINX has closed every connection it kept to it, which it does as it reads
    // each one's end: from then on, it must connect for each.
    await waitUntil(() => isGone(killed), 'the killed gateway to exit');
    const gatewayPort = portOf('gateway-1');
    await waitUntil(
      async () => (await connectionsTo(gatewayPort)) === 0,
      'NGINX to close its connections to the killed gateway',
    );
    for (let i = 0; i < 20; i++) {
      const result = await postGraphQL(publicUrl, listing);
      expect(result.status).toBe(200);
      expect(result.body.errors).toBeUndefined();
    }
    const [, pid] = await lineMatching(/gateway-1 is running again \(pid (\d+)\)/, 90_000);
    expect(Number(pid)).not.toBe(killed);
    const live = await fetch(`http://127.0.0.1:${portOf('gateway-1')}/health/live`);
    expect(live.status).toBe(200);
    expect(lines.join('\n')).toMatch(
      /gateway-1 exited \(code null, signal SIGKILL\); starting it again in 1 s\./,
    );
  }, 120_000);

  it('brings the tickets service back on its database with every purchase it confirmed, each once', async () => {
    const [, grace, alan] = demoUsers;
    const login = await postGraphQL(
      publicUrl,
      'mutation ($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }',
      { e: alan.email, p: demoPassword },
    );
    const token = (login.body.data?.logIn as { accessToken: string } | undefined)?.accessToken;
    if (!token) throw new Error(`login failed: ${JSON.stringify(login.body.errors)}`);
    const event = demoEvents().find((candidate) => candidate.organizerId === grace.id);
    const tiers = async () => {
      const result = await postGraphQL(
        publicUrl,
        'query ($id: ID!) { event(id: $id) { ticketTiers { id available onSale } } }',
        { id: event?.id },
      );
      type Tiers = { ticketTiers: { id: string; available: number; onSale: boolean }[] } | null;
      return (result.body.data?.event as Tiers)?.ticketTiers ?? [];
    };
    const tier = (await tiers()).find((candidate) => candidate.onSale && candidate.available >= 10);
    if (!tier) throw new Error('no demo tier on sale');

    /** Sends the purchase with `key` until it is confirmed, as a client must after a failure. */
    const buy = async (key: string): Promise<{ id: string; attempts: number }> => {
      const deadline = Date.now() + 90_000;
      for (let attempts = 1; Date.now() < deadline; attempts++) {
        const answer = await postGraphQL(
          publicUrl,
          purchaseMutation,
          { input: { tierId: tier.id, quantity: 1, idempotencyKey: key } },
          token,
        ).catch(() => undefined);
        const order = answer?.body.data?.purchaseTickets as { id: string } | null | undefined;
        if (order?.id) return { id: order.id, attempts };
        await new Promise((wake) => setTimeout(wake, 250));
      }
      throw new Error(`purchase ${key} was never confirmed`);
    };

    const keys = Array.from({ length: 8 }, (_, i) => `supervision-${i}-${Date.now()}`);
    const orders: { id: string; attempts: number }[] = [];
    for (const [i, key] of keys.entries()) {
      if (i === 3) process.kill(pids.get('tickets') as number, 'SIGKILL');
      orders.push(await buy(key));
    }
    await lineMatching(/tickets is running again \(pid \d+\)/, 90_000);

    // The kill was noticed: at least one purchase needed more than one attempt.
    expect(orders.some((order) => order.attempts > 1)).toBe(true);
    expect(new Set(orders.map((order) => order.id)).size).toBe(keys.length);
    // Each key sent again is the order it placed, and the tier sold exactly one ticket a key.
    for (const [i, key] of keys.entries()) {
      expect((await buy(key)).id).toBe(orders[i]?.id);
    }
    const after = (await tiers()).find((candidate) => candidate.id === tier.id);
    expect(after?.available).toBe(tier.available - keys.length);
  }, 240_000);

  it('starts NGINX again when its master is killed, its orphaned workers gone first', async () => {
    const [master, ...workers] = (await nginxProcesses()) as [number, ...number[]];
    expect(workers.length).toBeGreaterThan(0);
    process.kill(master, 'SIGKILL');
    await lineMatching(/nginx is running again \(pid \d+\)/, 60_000);
    // The old workers, which kept the public port, were killed before the new master bound
    // it: gone, or dead and not yet reaped by whoever adopted them (state Z).
    for (const worker of workers) expect(await isGone(worker), `worker ${worker}`).toBe(true);
    const result = await postGraphQL(publicUrl, listing);
    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
  }, 90_000);

  it('gives up on a service that cannot start again, and stops everything', async () => {
    // Its port taken as soon as it is killed: every start again fails.
    process.kill(pids.get('events') as number, 'SIGKILL');
    const squatter: Server = createServer();
    for (let tries = 0; ; tries++) {
      try {
        squatter.listen(portOf('events'), '127.0.0.1');
        await once(squatter, 'listening');
        break;
      } catch (error) {
        if (tries > 50) throw error;
        await new Promise((wake) => setTimeout(wake, 20));
      }
    }
    try {
      const [code] = await once(start, 'exit');
      const output = lines.join('\n');
      expect(code).toBe(1);
      expect(output).toMatch(
        /events did not start again: .*its 5th failure in a row; stopping the rest\./,
      );
      expect(output).not.toMatch(/\n\s+at \S+ \(/);
      for (const name of ['users', 'tickets', 'gateway-1', 'gateway-2']) {
        await expect(fetch(`http://127.0.0.1:${portOf(name)}/health/live`), name).rejects.toThrow();
      }
      await expect(fetch(publicUrl)).rejects.toThrow();
    } finally {
      squatter.close();
    }
  }, 180_000);
});

describe('npm start, when it is itself killed', () => {
  it('leaves no process it started running after a SIGKILL', async () => {
    // The run before ended (the test above); this one starts on the same data and ports.
    const run = launchStart();
    leftovers.push(run.child);
    await ready(run, 120_000);
    const started = [...run.pids.values(), ...(await nginxProcesses())];
    expect(started.length).toBeGreaterThanOrEqual(7);
    process.kill(run.child.pid as number, 'SIGKILL');
    // Each service drains its connections (at most DRAIN_DEADLINE_MS, 8 s) and exits.
    const deadline = Date.now() + 30_000;
    let running = started;
    while (running.length > 0 && Date.now() < deadline) {
      await new Promise((wake) => setTimeout(wake, 250));
      const gone = await Promise.all(running.map(isGone));
      running = running.filter((_, i) => !gone[i]);
    }
    expect(running, `still running of ${started.join(', ')}`).toEqual([]);
  }, 180_000);

  it('stops the NGINX an earlier run left on the public port, and serves behind a new one', async () => {
    // NGINX as a run killed with its whole process group leaves it: its own group survives,
    // on the public port, in front of gateways that are gone.
    const nginx = findNginx() as string;
    const stale = spawn(
      nginx,
      [
        '-p',
        nginxPrefix,
        '-c',
        join(nginxPrefix, 'nginx.conf'),
        '-e',
        join(nginxPrefix, 'error.log'),
      ],
      { stdio: 'ignore', detached: true },
    );
    leftovers.push(stale);
    const staleExit = once(stale, 'exit');
    const origin = new URL(publicUrl).origin;
    for (let tries = 0; ; tries++) {
      const answer = await fetch(`${origin}/health/live`).catch(() => undefined);
      if (answer) break;
      if (tries > 100) throw new Error('the left-over NGINX did not start');
      await new Promise((wake) => setTimeout(wake, 100));
    }
    const workers = (await nginxProcesses()).slice(1);

    const run = launchStart();
    leftovers.push(run.child);
    await ready(run, 120_000);
    await staleExit;
    for (const worker of workers) expect(await isGone(worker), `worker ${worker}`).toBe(true);
    expect(run.lines.join('\n')).toMatch(/stopped the NGINX an earlier run left \(pid \d+\)/);
    const result = await postGraphQL(publicUrl, listing);
    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
  }, 180_000);
});
