// What an operator sees when a service cannot start: the real start modules, as processes,
// with a bad setting. Each must exit non-zero at once with one log line that names what is
// wrong, and no stack trace: the line is read in `kubectl logs` or compose's output.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { type ServiceSpec, serviceCommand, services } from '../scripts/services.ts';
import { launchDefaults, repositoryRoot } from '../scripts/topology.ts';

const serviceNamed = (name: string) => services.find((spec) => spec.name === name) as ServiceSpec;

interface Outcome {
  code: number | null;
  /** What it wrote, stdout and stderr, line by line. */
  lines: string[];
}

/** Runs a service's start module with `env` (over a quiet default) until it exits. */
async function start(spec: ServiceSpec, env: NodeJS.ProcessEnv): Promise<Outcome> {
  const [, ...args] = serviceCommand(spec);
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
  const deadline = setTimeout(() => child.kill('SIGKILL'), 30_000);
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
