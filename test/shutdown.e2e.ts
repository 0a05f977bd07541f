// `npm start` stopped by the signals a terminal sends: the real start module in a process
// group of its own, as a shell runs a foreground job, on its embedded PGlite databases. A
// Ctrl-C reaches every process of the group, and `npm start` then sends each service
// SIGTERM: the second signal must not cut a service's stop short, or its database is left
// open (its lock behind, and the data folder as a crash leaves it). A closed terminal sends
// SIGHUP, and its output goes nowhere from then on: the same clean stop. Each stop must end
// every process the run started, free the public port, and leave the databases closed, to
// be opened again with the data written before.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usersDatabase } from '@ticketing/prisma/users';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { logInMutation, signUpMutation } from './documents.ts';
import { freePort, postGraphQL, spawnStart } from './support.ts';

let dataDir: string;
let port: number;
let publicUrl: string;
let run: ChildProcess | undefined;
let output: string[] = [];
const email = `shutdown-${process.pid}@example.com`;
const password = 'correct horse battery staple';

/**
 * Runs the real `npm start` as a terminal's foreground job, the leader of its own group,
 * until `until` holds (by default, until it is ready).
 */
async function startRun(
  until: () => boolean | Promise<boolean> = () => output.join('').includes('Supergraph ready at'),
  env: NodeJS.ProcessEnv = {},
) {
  const child = spawnStart(dataDir, port, true, env);
  run = child;
  output = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk) => output.push(String(chunk)));
  }
  const deadline = Date.now() + 150_000;
  while (!(await until())) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`npm start did not get that far:\n${output.join('')}`);
    }
    await new Promise((wake) => setTimeout(wake, 20));
  }
  return child;
}

/** The live processes (zombies left out) of process group `pgid`. */
function groupMembers(pgid: number): string[] {
  const listing = execFileSync('ps', ['-A', '-o', 'pid=,pgid=,stat=,command='], {
    encoding: 'utf8',
  });
  return listing.split('\n').filter((line) => {
    const [, group, stat] = line.trim().split(/\s+/);
    return Number(group) === pgid && !stat?.startsWith('Z');
  });
}

/** Waits for `npm start` to exit, and then for every process of its group to be gone. */
async function stopped(child: ChildProcess, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  const exit =
    child.exitCode !== null || child.signalCode !== null
      ? [child.exitCode, child.signalCode]
      : await Promise.race([
          once(child, 'exit'),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error('npm start did not exit')), timeoutMs),
          ),
        ]);
  let left = groupMembers(child.pid as number);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((wake) => setTimeout(wake, 100));
    left = groupMembers(child.pid as number);
  }
  return { code: exit[0] as number | null, signal: exit[1] as string | null, left };
}

/** Whether something still accepts connections on the public port. */
function listening(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** What a stop leaves beside the data folders: a lock left means a database left open. */
async function leftLocks(): Promise<string[]> {
  return (await readdir(dataDir)).filter((name) => name.includes('.lock'));
}

/** Opens the users database (at once: no process may hold it) and reads the test's account. */
async function keptAccountName(): Promise<string | undefined> {
  const database = await usersDatabase.open(usersDatabase.locate({ DATA_DIR: dataDir }), {
    migrate: false,
  });
  try {
    return (await database.prisma.user.findUnique({ where: { email } }))?.name;
  } finally {
    await database.close();
  }
}

/**
 * Waits for the stop `child` was asked for, and checks what it left: no process of its
 * group, the public port free, every database closed (its lock released) and holding the
 * account written before.
 */
async function expectCleanStop(child: ChildProcess) {
  const end = await stopped(child, 60_000);
  expect(end.left).toEqual([]);
  expect(end).toMatchObject({ code: 0, signal: null });
  expect(await listening()).toBe(false);
  expect(await leftLocks()).toEqual([]);
  expect(await keptAccountName()).toBe('Written before the stop');
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ticketing-shutdown-'));
  port = await freePort();
  publicUrl = `http://127.0.0.1:${port}/graphql`;
});

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(output.join(''));
});

afterAll(async () => {
  if (run?.pid && groupMembers(run.pid).length > 0) {
    process.kill(-run.pid, 'SIGKILL');
  }
  await rm(dataDir, { recursive: true, force: true });
}, 30_000);

describe('npm start, stopped from its terminal', () => {
  it('on Ctrl-C followed by a SIGTERM to the group, closes every database and ends every process', async () => {
    const child = await startRun();
    const signUp = await postGraphQL(publicUrl, signUpMutation, {
      input: { email, password, name: 'Written before the stop' },
    });
    expect(signUp.body.errors).toBeUndefined();
    // What a Ctrl-C sends, then the same stop again, as `npm start` sends each service.
    process.kill(-(child.pid as number), 'SIGINT');
    process.kill(-(child.pid as number), 'SIGTERM');
    await expectCleanStop(child);
  });

  it('on SIGHUP from a closed terminal, stops as cleanly, and the data is there again', async () => {
    // Each service logs its stop, which npm start prints where its terminal was.
    const child = await startRun(undefined, { LOG_LEVEL: 'info' });
    // The database the last stop closed opens again, with what was written before it.
    const logIn = await postGraphQL(publicUrl, logInMutation, { email, password });
    expect(logIn.body.errors).toBeUndefined();
    // The terminal is gone: what npm start writes goes nowhere.
    child.stdout?.destroy();
    child.stderr?.destroy();
    process.kill(-(child.pid as number), 'SIGHUP');
    await expectCleanStop(child);
  });

  it('on Ctrl-C while the services start, lets each finish starting, then stops as cleanly', async () => {
    // Once the users service has its database open, before everything is ready.
    const child = await startRun(async () => (await leftLocks()).includes('users.lock'));
    expect(output.join('')).not.toContain('Supergraph ready at');
    process.kill(-(child.pid as number), 'SIGINT');
    await expectCleanStop(child);
  });
  it('on a second Ctrl-C while the services start, ends every process at once', async () => {
    const child = await startRun(async () => (await leftLocks()).includes('users.lock'));
    expect(output.join('')).not.toContain('Supergraph ready at');
    process.kill(-(child.pid as number), 'SIGINT');
    // Once npm start has taken the first (two at once would be merged into one).
    const deadline = Date.now() + 10_000;
    while (!output.join('').includes('Stopping once the services have started')) {
      if (Date.now() > deadline) throw new Error('npm start did not take the first Ctrl-C');
      await new Promise((wake) => setTimeout(wake, 20));
    }
    process.kill(-(child.pid as number), 'SIGINT');
    const end = await stopped(child, 60_000);
    expect(end.left).toEqual([]);
    // Not the clean stop the first Ctrl-C alone would have led to (exit code 0).
    expect(end).toMatchObject({ code: 130, signal: null });
    expect(await listening()).toBe(false);
  });
});
