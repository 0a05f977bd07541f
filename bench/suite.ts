// The benchmark suite: starts the topology once, runs the measures one after another, prints
// the table and writes the JSON. Progress goes to stderr, the table to stdout.
import { writeFile } from 'node:fs/promises';
import { type BenchEnvironment, startBenchEnvironment } from './environment.ts';
import { measureGatewayTax } from './gateway-tax.ts';
import { measureColdStart, measureSoak } from './gateway-warmth.ts';
import { measureHotTier } from './hot-tier.ts';
import { measureListingLatency } from './listing-latency.ts';
import { measureMixedWorkload } from './mixed-workload.ts';
import { type BenchOptions, type MeasureId, parseBenchArgs } from './options.ts';
import { measurePeer } from './peer.ts';
import { formatTable, type MeasureRow, runInfo } from './report.ts';
import { measureCachedListing, measureHotEventPolling } from './response-cache.ts';
import { measureRush } from './rush.ts';
import { measureStatements } from './statements.ts';

type Measure = (environment: BenchEnvironment, options: BenchOptions) => Promise<MeasureRow[]>;

/** Whether the gateways share identical subgraph fetches in flight now, once set here. */
const sharingNow = new WeakMap<BenchEnvironment, boolean>();

/** Restarts both gateways with in-flight sharing on or off, unless it is so already. */
async function setSharing(environment: BenchEnvironment, sharing: boolean): Promise<void> {
  if (sharingNow.get(environment) === sharing) return;
  for (const name of ['gateway-1', 'gateway-2']) {
    await environment.topology.restart(name, { DEDUPLICATE_INFLIGHT: String(sharing) });
  }
  sharingNow.set(environment, sharing);
}

type SharingMeasure = (
  environment: BenchEnvironment,
  options: BenchOptions,
  sharing: boolean,
) => Promise<MeasureRow[]>;

/**
 * P1, P3 and P6 without in-flight sharing, as their result, then again with it (the
 * gateways' default), as a second line: every client of these measures sends the same
 * query, which is sharing's best case. Each runs without sharing first, all of them in turn,
 * then each with it, so that the gateways restart twice in all rather than twice a measure.
 * The gateways are left with sharing on, as the other measures expect them.
 */
const sharingPlan: readonly { id: MeasureId; run: SharingMeasure }[] = [
  { id: 'P1', run: measureGatewayTax },
  { id: 'P3', run: measureListingLatency },
  { id: 'P6', run: measurePeer },
];

/** One measure's rows without sharing, with the rows with it as their second line. */
function withSharingLine(off: MeasureRow[], on: MeasureRow[]): MeasureRow[] {
  return off.map((row, index) => {
    const shared = on[index];
    return {
      ...row,
      measure: `${row.measure}, in-flight sharing off`,
      ...(shared
        ? {
            withSharing: {
              result: shared.result,
              met: shared.met,
              details: shared.details,
              figures: shared.figures,
            },
          }
        : {}),
    };
  });
}

/**
 * The run order after the sharing measures. Reads before writes: P4 and P7 add purchases (P7
 * on events of its own). P5 restarts a gateway for its cold starts. P2 comes last, because it
 * restarts the subgraphs behind its statement counter.
 */
const plan: readonly { id: MeasureId; rows: string[]; run: Measure }[] = [
  {
    id: 'P4',
    rows: ['P4', 'P4b'],
    run: async (environment, options) => [
      ...(await measureHotTier(environment, options)),
      ...(await measureRush(environment, options)),
    ],
  },
  { id: 'P7', rows: ['P7'], run: measureMixedWorkload },
  {
    id: 'P5',
    rows: ['P5a', 'P5b'],
    run: async (environment, options) => [
      ...(await measureColdStart(environment, options)),
      ...(await measureSoak(environment, options)),
    ],
  },
  { id: 'P9', rows: ['P9', 'P10'], run: measureCachedListing },
  { id: 'P11', rows: ['P11'], run: measureHotEventPolling },
  { id: 'P2', rows: ['P2'], run: measureStatements },
];

export interface BenchRun {
  info: ReturnType<typeof runInfo>;
  options: Omit<BenchOptions, 'only'> & { only: MeasureId[] };
  rows: MeasureRow[];
}

const progress = (message: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

/** Runs the measures `options` selects; a measure that fails gets a row saying so. */
export async function runBench(options: BenchOptions, command: string): Promise<BenchRun> {
  const started = performance.now();
  const info = runInfo(command);
  progress('starting the topology on PostgreSQL and seeding it');
  const environment = await startBenchEnvironment({
    events: options.events,
    cpuProfileDir: options.cpuProfileDir,
  });
  const stopOnSignal = () => {
    progress('interrupted; stopping the topology');
    void environment.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  if (options.cpuProfileDir) {
    const pids = [...environment.topology.processes].map(
      ([name, running]) => `${name} ${running.child.pid}`,
    );
    progress(`profiling; process ids: ${pids.join(', ')} (a restart starts a new one)`);
  }
  const rows: MeasureRow[] = [];
  /** A measure's rows, or rows saying it failed. */
  const attempt = async (
    id: string,
    rowIds: readonly string[],
    run: () => Promise<MeasureRow[]>,
  ) => {
    progress(`${id}: running`);
    try {
      return await run();
    } catch (error) {
      progress(`${id} failed: ${(error as Error).stack ?? error}`);
      return rowIds.map((rowId) => ({
        id: rowId,
        measure: 'the measure failed',
        value: Number.NaN,
        result: 'error',
        target: '',
        met: false,
        details: (error as Error).message.split('\n')[0] ?? String(error),
        figures: {},
      }));
    }
  };
  try {
    const sharing = sharingPlan.filter(({ id }) => options.only.has(id));
    if (sharing.length > 0) await setSharing(environment, false);
    const off = [];
    for (const { id, run } of sharing) {
      off.push(
        await attempt(`${id} without sharing`, [id], () => run(environment, options, false)),
      );
    }
    if (sharing.length > 0) await setSharing(environment, true);
    for (const [index, { id, run }] of sharing.entries()) {
      const on = await attempt(`${id} with sharing`, [id], () => run(environment, options, true));
      rows.push(...withSharingLine(off[index] ?? [], on));
    }
    for (const step of plan.filter(({ id }) => options.only.has(id))) {
      rows.push(...(await attempt(step.id, step.rows, () => step.run(environment, options))));
    }
  } finally {
    progress('stopping the topology');
    await environment.stop();
    if (options.cpuProfileDir) {
      progress(`CPU profiles (one a service process, by pid) in ${options.cpuProfileDir}`);
    }
    process.off('SIGINT', stopOnSignal);
  }
  rows.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  return {
    info: { ...info, seconds: (performance.now() - started) / 1000 },
    options: { ...options, only: [...options.only] },
    rows,
  };
}

/** `npm run bench`: parses `args`, runs, prints; exits non-zero when a measure failed to run. */
export async function benchCommand(args: readonly string[]): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(args);
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  const command = ['npm run bench', ...(args.length > 0 ? ['--', ...args] : [])].join(' ');
  const run = await runBench(options, command);
  console.log(formatTable(run.rows, run.info));
  if (options.json) {
    await writeFile(options.json, `${JSON.stringify(run, null, 2)}\n`);
    progress(`results written to ${options.json}`);
  }
  if (run.rows.some((row) => !Number.isFinite(row.value))) process.exitCode = 1;
}
