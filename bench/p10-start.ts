// `npm run bench:p10-start`: where P10's slow first second comes from. After P10's own
// preparation (the response cache on, in-flight sharing off, a bursty run at the rate), one
// topology serves several paced runs of the cached listing in a row at one rate, each on a
// new pool of connections, alternately without and with a warm-up paced on that same pool
// first. Each run prints its p99 and the p99 of each half second (docs/BENCHMARKS.md).
//
//   npm run bench:p10-start [-- --rate 4000 --runs 4 --seconds 5 --warm-up 2]
import { parseArgs } from 'node:util';
import { startBenchEnvironment } from './environment.ts';
import { runLoad, runPaced } from './load.ts';
import { listingQuery, requestBody } from './operations.ts';
import { fmt } from './report.ts';
import { prepare, useCache } from './response-cache.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '4000' },
    runs: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '5' },
    'warm-up': { type: 'string', default: '2' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);

const environment = await startBenchEnvironment({ events: 50 });
try {
  await prepare(environment);
  await useCache(environment, true);
  const load = {
    url: environment.publicUrl,
    body: requestBody(listingQuery, { first: 10 }),
    connections: 16,
  };
  await runLoad({ ...load, seconds: 10 });
  await runLoad({ ...load, seconds: 10, rate });
  const halfSecondOf = (index: number) => String(Math.floor(index / (rate / 2)) / 2);
  for (let run = 0; run < Number(values.runs); run++) {
    for (const warmupSeconds of [0, Number(values['warm-up'])]) {
      const paced = await runPaced({
        ...load,
        body: (index) => ({ body: load.body, label: halfSecondOf(index) }),
        seconds,
        rate,
        warmupSeconds,
      });
      const byHalfSecond = Object.entries(paced.byLabel)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([at, figures]) => `${at} s: ${fmt(figures.p99)}`)
        .join(', ');
      console.log(
        `warm-up ${warmupSeconds} s: p99 ${fmt(paced.p99)} ms, worst send lag ${fmt(paced.worstLag)} ms, ` +
          `${paced.failures} failed; by half second: ${byHalfSecond}`,
      );
    }
  }
} finally {
  await environment.stop();
}
