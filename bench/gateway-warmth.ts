// P5, a gateway's warmth and memory. (a) The first request after a gateway process starts,
// against the same request once warm: what a cold query-plan cache and cold code cost.
// (b) The gateway's resident memory over a soak in which every request is a new operation:
// caches keyed by the document (parsed documents, query plans) must stay bounded.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { BenchEnvironment } from './environment.ts';
import { expectData, median, runLoad } from './load.ts';
import { distinctOperation, listingQuery, requestBody } from './operations.ts';
import type { BenchOptions } from './options.ts';
import { fmt, type MeasureRow } from './report.ts';

/** The instance both parts measure, straight (not through NGINX), so it is that one. */
const gateway = 'gateway-1';
/** Operations only the first part uses, far beyond the soak's. */
const freshOperationBase = 10_000_000;

export async function measureColdStart(
  environment: BenchEnvironment,
  options: BenchOptions,
): Promise<MeasureRow[]> {
  const body = requestBody(listingQuery, { first: options.listingSize });
  const firsts: number[] = [];
  const warms: number[] = [];
  for (let start = 0; start < options.coldStarts; start++) {
    await environment.topology.restart(gateway);
    const url = environment.gatewayUrl(gateway);
    firsts.push((await expectData(url, body)).ms);
    const times: number[] = [];
    for (let i = 0; i < options.warmRequests; i++) times.push((await expectData(url, body)).ms);
    warms.push(median(times));
  }
  // The plan cache alone: a new operation on the warm gateway, then the same again.
  const url = environment.gatewayUrl(gateway);
  const newFirsts: number[] = [];
  const newWarms: number[] = [];
  for (let k = 0; k < 5; k++) {
    const fresh = distinctOperation(freshOperationBase + k);
    newFirsts.push((await expectData(url, fresh)).ms);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) times.push((await expectData(url, fresh)).ms);
    newWarms.push(median(times));
  }
  const ratio = median(firsts) / median(warms);
  const newRatio = median(newFirsts) / median(newWarms);
  return [
    {
      id: 'P5a',
      measure: `first request after a gateway starts ÷ the same request warm (federated listing, ${options.listingSize} events, straight to one gateway)`,
      value: ratio,
      result: fmt(ratio),
      target: '≤ 10×',
      met: ratio <= 10,
      details:
        `first ${firsts.map((ms) => fmt(ms)).join(', ')} ms over ${options.coldStarts} starts; ` +
        `warm median ${fmt(median(warms))} ms (${options.warmRequests} requests after each start); ` +
        `a new operation on a warm gateway: first ${fmt(median(newFirsts))} ms, warm ${fmt(median(newWarms))} ms (${fmt(newRatio)}×)`,
      figures: {
        firsts,
        warms,
        newOperation: { firsts: newFirsts, warms: newWarms, ratio: newRatio },
      },
    },
  ];
}

export async function measureSoak(
  environment: BenchEnvironment,
  options: BenchOptions,
): Promise<MeasureRow[]> {
  const pid = environment.pidOf(gateway);
  const url = environment.gatewayUrl(gateway);
  await expectData(url, distinctOperation(0));
  const startMiB = await residentMiB(pid);
  const samples: { seconds: number; mib: number }[] = [];
  const began = performance.now();
  const interval = Math.min(1, Math.max(0.25, options.soakSeconds / 60)) * 1000;
  let sampling = Promise.resolve();
  const sampler = setInterval(() => {
    sampling = sampling.then(async () => {
      samples.push({ seconds: (performance.now() - began) / 1000, mib: await residentMiB(pid) });
    });
  }, interval);
  let index = 1;
  let load: Awaited<ReturnType<typeof runLoad>>;
  try {
    load = await runLoad({
      url,
      connections: options.soakConnections,
      seconds: options.soakSeconds,
      requests: [{ setupRequest: (request) => ({ ...request, body: distinctOperation(index++) }) }],
    });
  } finally {
    clearInterval(sampler);
    await sampling;
  }
  // Autocannon stops without waiting for the answers in flight; let the gateway finish
  // them before the next measure restarts the processes they wait on.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  // The goal: the resident set levels off, low. Its plateau is the largest sample of the
  // last 3 minutes (of a 10-minute soak; the last 30 % of a shorter one), which must stay
  // within ±10 % of that window's median and under the ceiling.
  const windowSeconds = Math.min(plateauWindowSeconds, options.soakSeconds * 0.3);
  const windowStart = (samples.at(-1)?.seconds ?? 0) - windowSeconds;
  const window = samples.filter((sample) => sample.seconds >= windowStart).map((s) => s.mib);
  const middle = median(window);
  const plateau = Math.max(...window);
  const deviation = Math.max(...window.map((mib) => Math.abs(mib / middle - 1)));
  const allMiB = samples.map((sample) => sample.mib);
  const endMiB = allMiB.at(-1) ?? Number.NaN;
  return [
    {
      id: 'P5b',
      measure: `gateway RSS over a ${fmt(options.soakSeconds)} s soak in which every request is a new operation: the plateau (largest sample of the last ${fmt(windowSeconds)} s) and its spread around that window's median`,
      value: plateau,
      result: `${fmt(plateau)} MiB, ±${fmt(deviation * 100, 2)} %`,
      target: `plateau ≤ ${plateauCeilingMiB} MiB; last ${fmt(windowSeconds)} s within ±10 %`,
      met: plateau <= plateauCeilingMiB && deviation <= 0.1 && load.failures === 0,
      details:
        `${load.completed} distinct operations at ${fmt(load.rps)} RPS, ${load.failures} failed; RSS before ${fmt(startMiB)} MiB, ` +
        `peak ${fmt(Math.max(...allMiB))} MiB, last ${fmt(windowSeconds)} s ${fmt(Math.min(...window))}–${fmt(plateau)} MiB (median ${fmt(middle)}), end ${fmt(endMiB)} MiB (${samples.length} samples)`,
      figures: {
        startMiB,
        plateau,
        median: middle,
        endMiB,
        deviation,
        samples,
        load,
        failures: load.failures,
      },
    },
  ];
}

/** P5b's goal (issue 15): the plateau of the gateway's RSS, and the window it is read in. */
const plateauCeilingMiB = 400;
const plateauWindowSeconds = 180;

const execFileAsync = promisify(execFile);

/** A process's resident set in MiB: /proc on Linux, ps elsewhere. */
async function residentMiB(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    if (kib) return Number(kib) / 1024;
  } catch {
    // No /proc here.
  }
  const { stdout } = await execFileAsync('ps', ['-o', 'rss=', '-p', String(pid)]);
  return Number(stdout.trim()) / 1024;
}
