// A stop asked for at the moment a service says it is ready (a runner or an orchestrator
// that stops what just started) stops it: the signal is not lost while runService hands
// the service from its start to its stop.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/stop-at-ready.ts', import.meta.url));

async function stopAtReady(signal: NodeJS.Signals) {
  const child = spawn(process.execPath, ['--experimental-strip-types', fixture], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr])
    stream?.on('data', (chunk) => (output += chunk));
  const exited = once(child, 'exit');
  await once(child, 'message');
  child.kill(signal);
  const stopped = await Promise.race([
    exited.then(([code]) => ({ code })),
    new Promise<undefined>((wake) => setTimeout(wake, 10_000)),
  ]);
  if (!stopped) child.kill('SIGKILL');
  return { stopped, output };
}

describe('a stop asked for as a service becomes ready', () => {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`on ${signal}, stops it cleanly`, async () => {
      const { stopped, output } = await stopAtReady(signal);
      expect(stopped, output).toEqual({ code: 0 });
      expect(output).toContain('stopped');
    }, 20_000);
  }
});
