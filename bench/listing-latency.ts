// P3: the p99 latency of the federated listing through the public edge at half the rate it
// saturates at. An unthrottled run finds the saturation rate; a run at half of it, evenly
// paced (runPaced: each request timed from when it was due, so coordinated omission does
// not hide a stall), gives the percentiles. Autocannon's `overallRate` pacing, which P3 used
// before, runs just before it for comparison only: its bursts and its correction inflate
// a p99 (docs/BENCHMARKS.md, "P10's tail: the pacing, not the cache").
import type { BenchEnvironment } from './environment.ts';
import { expectData, runLoad, runPaced } from './load.ts';
import { listingQuery, requestBody } from './operations.ts';
import type { BenchOptions } from './options.ts';
import { fmt, type MeasureRow } from './report.ts';

export async function measureListingLatency(
  environment: BenchEnvironment,
  options: BenchOptions,
): Promise<MeasureRow[]> {
  const url = environment.publicUrl;
  const body = requestBody(listingQuery, { first: options.listingSize });
  await expectData(url, body);
  const load = { url, body, connections: options.connections };
  await runLoad({ ...load, seconds: options.warmupSeconds });
  const saturation = await runLoad({ ...load, seconds: options.roundSeconds });
  const rate = Math.max(1, Math.round(saturation.rps / 2));
  const bursty = await runLoad({ ...load, seconds: options.latencySeconds, rate });
  const paced = await runPaced({ ...load, seconds: options.latencySeconds, rate });
  const failures = saturation.failures + bursty.failures + paced.failures;
  return [
    {
      id: 'P3',
      measure: `p99 latency of the federated listing (${options.listingSize} events) via NGINX at 50 % of its saturation RPS`,
      value: paced.p99,
      result: `${fmt(paced.p99)} ms`,
      target: '≤ 50 ms',
      met: paced.p99 <= 50 && failures === 0,
      details:
        `saturation ${fmt(saturation.rps)} RPS at ${options.connections} connections (p99 ${fmt(saturation.p99)} ms); ` +
        `at ${rate} RPS evenly paced for ${options.latencySeconds} s on ${options.connections} connections: achieved ${fmt(paced.rps)} RPS, p50 ${fmt(paced.p50)} ms, p99 ${fmt(paced.p99)} ms, worst send lag ${fmt(paced.worstLag)} ms; ${failures} failed; ` +
        `autocannon's overallRate pacing just before: p50 ${fmt(bursty.p50)} ms, p99 ${fmt(bursty.p99)} ms`,
      figures: { saturation, rate, paced, bursty, failures },
    },
  ];
}
