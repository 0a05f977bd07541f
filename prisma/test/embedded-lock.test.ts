// An embedded (PGlite) database is open in one process at a time: two at once corrupt it,
// as when `npm start` runs again while a service of the run before still stops.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/connection.ts';

const holdScript = fileURLToPath(new URL('fixtures/hold-embedded.ts', import.meta.url));
const contendScript = fileURLToPath(new URL('fixtures/contend-embedded.ts', import.meta.url));
const scratch: string[] = [];
const holders: ChildProcess[] = [];
afterAll(async () => {
  for (const holder of holders) holder.kill('SIGKILL');
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ticketing-embedded-lock-'));
  scratch.push(dir);
  return join(dir, 'users');
}

/** Another process that opens the database, and closes it after `closeAfterMs` if given. */
async function holder(dir: string, closeAfterMs?: number): Promise<ChildProcess> {
  const args = [dir, ...(closeAfterMs === undefined ? [] : [String(closeAfterMs)])];
  const child = spawn(process.execPath, ['--experimental-strip-types', holdScript, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  holders.push(child);
  await once(child.stdout as NodeJS.ReadableStream, 'data');
  return child;
}

/**
 * Each test below starts PGlite twice (a holder that creates the database, then the test's
 * own open): seconds of WebAssembly each, over twenty on a busy 2-core machine. What they
 * check is which open succeeds, not how soon.
 */
const openingTestMs = 120_000;

describe('an embedded database another process has open', () => {
  it(
    'is not opened: the open waits, then fails naming that process',
    async () => {
      const dir = await dataDir();
      const other = await holder(dir);
      await expect(
        openDatabase({ kind: 'pglite', dataDir: dir }, { lockWaitMs: 500 }),
      ).rejects.toThrow(
        `The embedded database in ${dir} is in use by process ${other.pid}; stop that process first`,
      );
    },
    openingTestMs,
  );

  it(
    'is opened once the other process closes it',
    async () => {
      const dir = await dataDir();
      const other = await holder(dir, 1_000);
      const db = await openDatabase({ kind: 'pglite', dataDir: dir });
      await db.close();
      expect(other.exitCode).toBeNull();
    },
    openingTestMs,
  );

  it(
    'is opened at once when the process that had it open was killed',
    async () => {
      const dir = await dataDir();
      const other = await holder(dir);
      other.kill('SIGKILL');
      await once(other, 'exit');
      const db = await openDatabase({ kind: 'pglite', dataDir: dir }, { lockWaitMs: 0 });
      await db.close();
    },
    openingTestMs,
  );
});

describe('a stale lock two processes find at the same instant', () => {
  // Each takes the lock over and keeps it a moment, round after round; their holds must
  // never overlap (before, both could remove the stale lock, the second the first's new one).
  it('is taken by one of them at a time', async () => {
    const dir = await dataDir();
    const rounds = 8;
    const roundMs = 700;
    // Once both have loaded.
    const goAt = Date.now() + 2_000;
    const contenders = [0, 1].map((index) => {
      const child = spawn(
        process.execPath,
        [
          '--experimental-strip-types',
          contendScript,
          dir,
          String(index),
          String(goAt),
          String(rounds),
          String(roundMs),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      holders.push(child);
      let output = '';
      child.stdout?.on('data', (chunk) => {
        output += String(chunk);
      });
      return once(child, 'exit').then(([code]) => ({ code, output }));
    });
    const results = await Promise.all(contenders);
    expect(results.map(({ code }) => code)).toEqual([0, 0]);
    const holds = results.map(({ output }) => {
      const times = new Map<string, number>();
      for (const match of output.matchAll(/^(held|released) (\d+) (\d+)$/gm)) {
        times.set(`${match[1]} ${match[2]}`, Number(match[3]));
      }
      return times;
    });
    const [first, second] = holds as [Map<string, number>, Map<string, number>];
    for (let round = 0; round < rounds; round++) {
      const a = [first.get(`held ${round}`), first.get(`released ${round}`)] as [number, number];
      const b = [second.get(`held ${round}`), second.get(`released ${round}`)] as [number, number];
      expect([...a, ...b].every(Number.isFinite), `round ${round}`).toBe(true);
      const overlap = a[0] < b[1] && b[0] < a[1];
      expect(overlap, `round ${round}: held ${a.join('–')} and ${b.join('–')}`).toBe(false);
    }
  }, 30_000);
});
