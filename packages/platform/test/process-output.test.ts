// What Node writes of its own in a service (a warning, the error that ends it) is a line of
// the service's structured log like any other: JSON, at LOG_LEVEL, never plain text on
// stderr that an operator's log pipeline drops or mis-parses.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/process-output.ts', import.meta.url));

async function run(level: string) {
  const child = spawn(process.execPath, ['--experimental-strip-types', fixture], {
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
