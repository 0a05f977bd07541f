// P5b's heap snapshots: one gateway process, alone, under P5b's load of operations that
// are all different, with two heap snapshots taken in it (`--heapsnapshot-signal`) and
// diffed (heap-diff.ts). The subgraphs are absent: every operation is still parsed,
// validated, planned and cached, which is what grows, and its fetches fail at once.
//
//   node --experimental-strip-types bench/gateway-heap.ts [first-s] [second-s] [dir]
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { serviceEnv } from './environment.ts';
import { distinctOperation } from './operations.ts';

const [first = 60, second = 240] = process.argv.slice(2, 4).map(Number);
const dir = process.argv[4] ?? (await mkdtemp(join(tmpdir(), 'gateway-heap-')));
const port = 4390;
// A port nothing listens on: each fetch is refused at once.
const unreachable = 'http://127.0.0.1:4391/graphql';
const gateway = spawn(
  process.execPath,
  [
    '--experimental-strip-types',
    '--heapsnapshot-signal=SIGUSR2',
    `--diagnostic-dir=${dir}`,
    'gateway/src/index.ts',
  ],
  {
    env: {
      ...process.env,
      ...serviceEnv,
      APOLLO_TELEMETRY_DISABLED: 'true',
      // Every fetch fails; logging each would measure the logger.
      LOG_LEVEL: 'fatal',
      PORT: String(port),
      USERS_URL: unreachable,
      EVENTS_URL: unreachable,
      TICKETS_URL: unreachable,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  },
);
const url = `http://127.0.0.1:${port}/graphql`;
for (let i = 0; ; i++) {
  if ((await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => null))?.ok) break;
  if (i > 100) throw new Error('the gateway did not start');
  await new Promise((resolve) => setTimeout(resolve, 300));
}
const rss = async () => {
  const status = await readFile(`/proc/${gateway.pid}/status`, 'utf8');
  return `${(Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]) / 1024).toFixed(0)} MiB`;
};
let index = 1;
const snapshot = async (label: string) => {
  const before = (await readdir(dir)).length;
  console.log(`${label}: RSS ${await rss()}, ${index - 1} operations; snapshot`);
  gateway.kill('SIGUSR2');
  // Written when the file stops growing.
  for (let size = -1; ; ) {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const files = (await readdir(dir)).filter((name) => name.endsWith('.heapsnapshot')).sort();
    if (files.length <= before) continue;
    const now = (await stat(join(dir, files.at(-1) ?? ''))).size;
    if (now === size) return join(dir, files.at(-1) ?? '');
    size = now;
  }
};
const load = autocannon({
  url,
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  connections: 8,
  duration: second + 60,
  requests: [{ setupRequest: (request) => ({ ...request, body: distinctOperation(index++) }) }],
});
await new Promise((resolve) => setTimeout(resolve, first * 1000));
const early = await snapshot(`${first} s`);
await new Promise((resolve) => setTimeout(resolve, (second - first) * 1000));
const late = await snapshot(`${second} s`);
load.stop();
gateway.kill('SIGTERM');
console.log(`node --experimental-strip-types bench/heap-diff.ts ${early} ${late}`);
