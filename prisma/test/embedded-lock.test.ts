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

describe('an embedded database another process has open', () => {
  it('is not opened: the open waits, then fails naming that process', async () => {
    const dir = await dataDir();
    const other = await holder(dir);
    await expect(
      openDatabase({ kind: 'pglite', dataDir: dir }, { lockWaitMs: 500 }),
    ).rejects.toThrow(
      `The embedded database in ${dir} is in use by process ${other.pid}; stop that process first`,
    );
  }, 30_000);

  it('is opened once the other process closes it', async () => {
    const dir = await dataDir();
    const other = await holder(dir, 1_000);
    const db = await openDatabase({ kind: 'pglite', dataDir: dir });
    await db.close();
    expect(other.exitCode).toBeNull();
  }, 30_000);

  it('is opened at once when the process that had it open was killed', async () => {
    const dir = await dataDir();
    const other = await holder(dir);
    other.kill('SIGKILL');
    await once(other, 'exit');
    const db = await openDatabase({ kind: 'pglite', dataDir: dir }, { lockWaitMs: 0 });
    await db.close();
  }, 30_000);
});
