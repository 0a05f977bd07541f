// How long and how hard each measure runs. The full run takes about thirteen minutes on two
// cores, ten of them the memory soak (issue 15's measure); `--quick` runs every measure on a tiny load in about
// a minute, for the test that keeps the harness working (it checks that it runs, not speed).
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export const measureIds = ['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7', 'P9', 'P11'] as const;
export type MeasureId = (typeof measureIds)[number];
/** What runs without --only: every measure (P9 gives P9 and P10). */
export const defaultMeasureIds: readonly MeasureId[] = [
  'P1',
  'P2',
  'P3',
  'P4',
  'P5',
  'P6',
  'P7',
  'P9',
  'P11',
];

export interface BenchOptions {
  quick: boolean;
  /** The measures to run, in the order the run takes them. */
  only: ReadonlySet<MeasureId>;
  /** Where to write the results as JSON, if anywhere. */
  json: string | undefined;
  /** Where every service writes a CPU profile when it stops (`node --cpu-prof`), if anywhere. */
  cpuProfileDir: string | undefined;
  /** Published events seeded for the listings (P2 pages through 100 of them). */
  events: number;
  /** Concurrent connections of the throughput measures (P1, P3, P6). */
  connections: number;
  /** Length of one round of an alternating comparison. */
  roundSeconds: number;
  /** Rounds per side of an alternating comparison (P1, P6). */
  rounds: number;
  /** Unmeasured load on each side before the rounds. */
  warmupSeconds: number;
  /** The page size of the federated listing in P3, P5 and P6. */
  listingSize: number;
  /** P3: the run at half the saturation rate. */
  latencySeconds: number;
  /** P10: a fixed rate instead of half the cached saturation, to compare runs at one rate. */
  cachedLatencyRate: number | undefined;
  /** P4: concurrent buyers, alternating rounds, and the capacity of the sell-out tier. */
  purchaseConcurrency: number;
  purchaseRounds: number;
  sellOutCapacity: number;
  /** P4b: measured rushes of three buyers a seat for `sellOutCapacity` seats (after one unmeasured). */
  rushRounds: number;
  /** P5: fresh gateway starts whose first request is timed, and warm requests after each. */
  coldStarts: number;
  warmRequests: number;
  /** P5: the memory soak with distinct operations, and its connections. */
  soakSeconds: number;
  soakConnections: number;
  /** P7: users with their own tokens, and events of its own whose tiers it buys from. */
  mixedUsers: number;
  mixedEvents: number;
}

const full: Omit<BenchOptions, 'quick' | 'only' | 'json' | 'cpuProfileDir'> = {
  events: 120,
  connections: 16,
  roundSeconds: 5,
  rounds: 4,
  warmupSeconds: 2,
  listingSize: 10,
  latencySeconds: 10,
  cachedLatencyRate: undefined,
  purchaseConcurrency: 32,
  purchaseRounds: 3,
  sellOutCapacity: 100,
  rushRounds: 3,
  coldStarts: 3,
  warmRequests: 30,
  soakSeconds: 600,
  soakConnections: 8,
  mixedUsers: 200,
  mixedEvents: 10,
};

const quick: typeof full = {
  ...full,
  events: 100,
  connections: 4,
  roundSeconds: 1,
  rounds: 2,
  warmupSeconds: 0.5,
  latencySeconds: 1,
  purchaseConcurrency: 4,
  purchaseRounds: 1,
  sellOutCapacity: 5,
  rushRounds: 1,
  coldStarts: 1,
  warmRequests: 5,
  soakSeconds: 3,
  soakConnections: 2,
  mixedEvents: 2,
};

export const usage = `npm run bench [-- options]

  --quick                 every measure on a tiny load (seconds, not minutes)
  --only P1,P4            run only these measures (P9 gives P9 and P10)
  --json <file>           also write the results as JSON
  --cpu-prof <dir>        every service writes a CPU profile there when it stops
                          (profiling slows them: profile a measure alone, e.g. --only P1)
  --round-seconds <s>     length of one round of a comparison (default 5)
  --rounds <n>            rounds per side of a comparison (default 4)
  --connections <n>       concurrent connections of the throughput measures (default 16)
  --soak-seconds <s>      the memory soak of P5 (default 600)
  --p10-rate <rps>        P10 at this rate instead of half the cached saturation
  --purchase-concurrency <n>, --purchase-rounds <n>   P4 (default 32, 3)`;

/** Reads the command line; flags given explicitly win over --quick's presets. */
/**
 * A path given on the command line, from where the command was typed: `npm run bench` at the
 * root runs this workspace's script in bench/, and npm says where it was called from.
 */
const fromCaller = (path: string) => resolve(process.env.INIT_CWD ?? process.cwd(), path);

export function parseBenchArgs(args: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      json: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'round-seconds': { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      'soak-seconds': { type: 'string' },
      'p10-rate': { type: 'string' },
      'purchase-concurrency': { type: 'string' },
      'purchase-rounds': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const base = values.quick ? quick : full;
  const number = (flag: string, value: string | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed <= 0) {
      throw new Error(`--${flag} must be a positive number, not "${value}"\n\n${usage}`);
    }
    return parsed;
  };
  const only = values.only?.split(',').map((id) => id.trim().toUpperCase()) ?? [
    ...defaultMeasureIds,
  ];
  for (const id of only) {
    if (!measureIds.includes(id as MeasureId)) {
      throw new Error(`--only names an unknown measure "${id}" (P1 to P7, P9, P11)\n\n${usage}`);
    }
  }
  return {
    ...base,
    quick: values.quick,
    only: new Set(only as MeasureId[]),
    json: values.json === undefined ? undefined : fromCaller(values.json),
    cpuProfileDir: values['cpu-prof'] === undefined ? undefined : fromCaller(values['cpu-prof']),
    roundSeconds: number('round-seconds', values['round-seconds'], base.roundSeconds),
    rounds: Math.round(number('rounds', values.rounds, base.rounds)),
    connections: Math.round(number('connections', values.connections, base.connections)),
    soakSeconds: number('soak-seconds', values['soak-seconds'], base.soakSeconds),
    cachedLatencyRate:
      values['p10-rate'] === undefined
        ? undefined
        : Math.round(number('p10-rate', values['p10-rate'], 1)),
    purchaseConcurrency: Math.round(
      number('purchase-concurrency', values['purchase-concurrency'], base.purchaseConcurrency),
    ),
    purchaseRounds: Math.round(
      number('purchase-rounds', values['purchase-rounds'], base.purchaseRounds),
    ),
  };
}
