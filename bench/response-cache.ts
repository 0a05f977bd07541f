// P9 to P11: the gateways' shared response cache (README, "Response cache").
//
// P9: the federated listing's saturation RPS through NGINX with the cache ÷ without it,
//     alternating sides (both gateways restarted with RESPONSE_CACHE on or off).
// P10: the listing's p99 at half of its cached saturation rate, paced.
// P11: simulated clients polling one hot event page every 2 s through NGINX while a buyer
//      purchases on it: errors, the subgraph requests it costs, and how stale the
//      availability they see gets after each purchase.
//
// In-flight sharing is off on both sides (DEDUPLICATE_INFLIGHT=false), so that what is
// measured is the cache alone. The gateways, and the events and tickets services that
// invalidate, use Redis under a namespace of this run's own.
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { connectRedis, createLogger } from '@ticketing/platform';
import { seedPeopleWithTokens } from '../scripts/dev-tokens.ts';
import type { BenchEnvironment } from './environment.ts';
import { publicGraphQL, publishedEventWithTiers } from './hot-tier.ts';
import {
  alternate,
  expectData,
  median,
  type PacedResult,
  runLoad,
  runPaced,
  timedPost,
} from './load.ts';
import { hotEventPage, listingQuery, purchaseMutation, requestBody } from './operations.ts';
import type { BenchOptions } from './options.ts';
import { fmt, type MeasureRow } from './report.ts';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const cacheNamespace = `bench-${randomUUID().slice(0, 8)}`;
const gateways = ['gateway-1', 'gateway-2'] as const;
/** The documented bound on the availability a cached page shows (README). */
const stalenessBoundMs = 1_000;

const prepared = new WeakSet<BenchEnvironment>();

/** Restarts the events and tickets services with Redis, so that they invalidate. */
export async function prepare(environment: BenchEnvironment): Promise<void> {
  if (prepared.has(environment)) return;
  for (const name of ['events', 'tickets']) {
    await environment.topology.restart(name, {
      REDIS_URL: redisUrl,
      CACHE_NAMESPACE: cacheNamespace,
    });
  }
  prepared.add(environment);
}

/** Restarts both gateways with the cache on or off, in-flight sharing off. */
export async function useCache(environment: BenchEnvironment, cache: boolean): Promise<void> {
  for (const name of gateways) {
    await environment.topology.restart(name, {
      REDIS_URL: redisUrl,
      CACHE_NAMESPACE: cacheNamespace,
      RESPONSE_CACHE: String(cache),
      DEDUPLICATE_INFLIGHT: 'false',
    });
  }
}

/**
 * The gateways with the cache on, the services invalidating, and an organizer and
 * `buyers` buyers with tokens.
 */
export async function withCacheAndPeople(
  environment: BenchEnvironment,
  buyers: number,
  label: string,
) {
  await prepare(environment);
  await useCache(environment, true);
  const people = await seedPeopleWithTokens({
    dataDir: environment.dataDir,
    usersDatabaseUrl: environment.databaseUrls.USERS_DATABASE_URL,
    buyers,
    label,
  });
  return { url: environment.publicUrl, people };
}

/** Puts the gateways back as the other measures expect them: no cache, sharing on. */
async function restoreGateways(environment: BenchEnvironment): Promise<void> {
  for (const name of gateways) {
    await environment.topology.restart(name, {
      RESPONSE_CACHE: 'false',
      DEDUPLICATE_INFLIGHT: 'true',
    });
  }
}

/** The sum of a counter's series in a service's /metrics, optionally only some labels. */
async function counterTotal(baseUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(new URL('/metrics', baseUrl))).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

async function subgraphRequests(environment: BenchEnvironment): Promise<number> {
  const counts = await Promise.all(
    (['users', 'events', 'tickets'] as const).map((name) =>
      counterTotal(environment.subgraphUrl(name), 'graphql_requests_total'),
    ),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

/** A counter's total over both gateways, optionally only some labels. */
async function gatewaysTotal(name: string, environment: BenchEnvironment, labels = '') {
  const counts = await Promise.all(
    gateways.map((gateway) => counterTotal(environment.gatewayUrl(gateway), name, labels)),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

const cacheLookups = (environment: BenchEnvironment, result: 'hit' | 'miss') =>
  gatewaysTotal('graphql_response_cache_lookups_total', environment, `result="${result}"`);

/** Every series of a counter in a service's /metrics, by its labels as written. */
async function counterSeries(baseUrl: string, name: string): Promise<Record<string, number>> {
  const text = await (await fetch(new URL('/metrics', baseUrl))).text();
  const series: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labels = line.slice(name.length, line.lastIndexOf(' '));
    series[labels] = (series[labels] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return series;
}

/**
 * What the paced run's requests found, over both gateways: every lookup outcome by result
 * and reason (`reason="refresh"` is a background refresh, which no client waits for;
 * `reason="filled"` a client that waited for another's fill), and memory drops.
 */
async function cacheOutcomes(environment: BenchEnvironment): Promise<Record<string, number>> {
  const outcomes: Record<string, number> = {};
  for (const gateway of gateways) {
    const url = environment.gatewayUrl(gateway);
    const series = {
      ...(await counterSeries(url, 'graphql_response_cache_lookups_total')),
      ...(await counterSeries(url, 'graphql_response_cache_local_dropped_total')),
    };
    for (const [labels, value] of Object.entries(series)) {
      outcomes[labels] = (outcomes[labels] ?? 0) + value;
    }
  }
  return outcomes;
}

/**
 * Each gateway's event loop delay (p99 and max, ms) since its /metrics was last read: one
 * read, since each resets it.
 */
async function gatewayLoops(environment: BenchEnvironment) {
  return Promise.all(
    gateways.map(async (gateway) => {
      const url = new URL('/metrics', environment.gatewayUrl(gateway));
      const lines = (await (await fetch(url)).text()).split('\n');
      const seconds = (name: string) => {
        const line = lines.find((candidate) => candidate.startsWith(`${name} `));
        return line ? Number(line.slice(name.length + 1)) * 1_000 : Number.NaN;
      };
      return {
        p99: seconds('nodejs_eventloop_lag_p99_seconds'),
        max: seconds('nodejs_eventloop_lag_max_seconds'),
      };
    }),
  );
}

/**
 * The machine's CPU time so far, busy and in all, in clock ticks (Linux's /proc/stat);
 * undefined where there is none. Every process counts, the measured ones, the load
 * generator and whatever else runs.
 */
async function machineCpu(): Promise<{ busy: number; total: number } | undefined> {
  const text = await readFile('/proc/stat', 'utf8').catch(() => undefined);
  // user, nice, system, idle, iowait, irq, softirq, steal (guest time is within user's)
  const fields = text?.split('\n', 1)[0]?.trim().split(/\s+/).slice(1, 9).map(Number);
  if (!fields || fields.length < 5) return undefined;
  const total = fields.reduce((sum, value) => sum + value, 0);
  // Steal (time the hypervisor gave to others) counts as busy: the cores were not ours.
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** P9 and P10. */
export async function measureCachedListing(
  environment: BenchEnvironment,
  options: BenchOptions,
): Promise<MeasureRow[]> {
  await prepare(environment);
  const url = environment.publicUrl;
  const body = requestBody(listingQuery, { first: options.listingSize });
  const load = { url, body, connections: options.connections };
  try {
    const figures = await alternate(
      ['uncached', 'cached'] as const,
      options.rounds,
      async (side) => {
        await useCache(environment, side === 'cached');
        await expectData(url, body);
        await runLoad({ ...load, seconds: options.warmupSeconds });
        return runLoad({ ...load, seconds: options.roundSeconds });
      },
    );
    const cached = median(figures.cached.map((round) => round.rps));
    const uncached = median(figures.uncached.map((round) => round.rps));
    const ratio = cached / uncached;
    // The gateways still cache: the last round was the cached side's.
    const rate = options.cachedLatencyRate ?? Math.max(1, Math.round(cached / 2));
    // Autocannon's pacing first, for comparison only (see runPaced), then the figure.
    const bursty = await runLoad({ ...load, seconds: options.latencySeconds, rate });
    const before = await cacheOutcomes(environment);
    // Reading /metrics resets each gateway's event loop delay: what follows is the run's.
    await gatewayLoops(environment);
    const cpuBefore = await machineCpu();
    const generatorBefore = process.cpuUsage();
    const pacedStarted = performance.now();
    const timeline = timelinePath ? await startTimeline(environment) : undefined;
    // Otherwise each request is labelled with the half second of the run it was due in:
    // when in the run the slow answers came.
    const halfSecondOf = (index: number) => String(Math.floor(index / (rate / 2)) / 2);
    const paced = await runPaced({
      ...load,
      // With the timeline on, each request is labelled with the 10 ms of the clock it was
      // sent in; the same body either way.
      body: timeline
        ? () => ({ body: load.body, label: timeline.bucket() })
        : (index: number) => ({ body: load.body, label: halfSecondOf(index) }),
      seconds: options.latencySeconds,
      rate,
    });
    if (timeline) await timeline.finish(paced.byLabel);
    const byHalfSecond = timeline
      ? undefined
      : Object.entries(paced.byLabel)
          .sort(([a], [b]) => Number(a) - Number(b))
          .map(([at, figures]) => `${at} s: ${fmt(figures.p99)}`)
          .join(', ');
    const cpuAfter = await machineCpu();
    // The load generator's share of one core over the run (this process, user and system).
    const generatorUsage = process.cpuUsage(generatorBefore);
    const generatorCore =
      (generatorUsage.user + generatorUsage.system) / 1_000 / (performance.now() - pacedStarted);
    const machineBusy =
      cpuBefore && cpuAfter
        ? (cpuAfter.busy - cpuBefore.busy) / (cpuAfter.total - cpuBefore.total)
        : Number.NaN;
    const loops = await gatewayLoops(environment);
    const after = await cacheOutcomes(environment);
    const outcomes = Object.fromEntries(
      Object.entries(after)
        .map(([key, value]) => [key, value - (before[key] ?? 0)] as const)
        .filter(([, value]) => value > 0),
    );
    const failures = [...figures.cached, ...figures.uncached, bursty, paced].reduce(
      (sum, round) => sum + round.failures,
      0,
    );
    return [
      {
        id: 'P9',
        measure: `federated listing (${options.listingSize} events) RPS via NGINX with the response cache ÷ without it, sharing off on both sides`,
        value: ratio,
        result: fmt(ratio),
        target: '≥ 5',
        met: ratio >= 5 && failures === 0,
        details:
          `median of ${options.rounds} rounds of ${options.roundSeconds} s at ${options.connections} connections: ` +
          `cached ${fmt(cached)} RPS (p99 ${fmt(median(figures.cached.map((round) => round.p99)))} ms), ` +
          `uncached ${fmt(uncached)} RPS (p99 ${fmt(median(figures.uncached.map((round) => round.p99)))} ms); ${failures} failed`,
        figures: { ...figures, failures },
      },
      {
        id: 'P10',
        measure: `p99 latency of the cached federated listing via NGINX at ${options.cachedLatencyRate === undefined ? '50 % of its cached saturation RPS' : `${rate} RPS (--p10-rate)`}`,
        value: paced.p99,
        result: `${fmt(paced.p99)} ms`,
        target: '≤ 30 ms',
        met: paced.p99 <= 30 && paced.failures === 0,
        details:
          `at ${rate} RPS evenly paced for ${options.latencySeconds} s on ${options.connections} connections (${paced.connectionsUsed} opened): achieved ${fmt(paced.rps)} RPS, p50 ${fmt(paced.p50)} ms, p99 ${fmt(paced.p99)} ms, worst send lag ${fmt(paced.worstLag)} ms; ${paced.failures} failed; ` +
          `over 30 ms by x-cache: ${JSON.stringify(paced.slow)}; ` +
          `cache lookups and drops: ${JSON.stringify(outcomes)}; ` +
          `event loop delay p99/max: load generator ${fmt(paced.clientLoop.p99)}/${fmt(paced.clientLoop.max)} ms, gateways ${loops.map((loop) => `${fmt(loop.p99)}/${fmt(loop.max)}`).join(', ')} ms; ` +
          `the machine's ${availableParallelism()} cores ${fmt(machineBusy * 100)} % busy over the paced run, the load generator ${fmt(generatorCore * 100)} % of one core; ` +
          `autocannon's overallRate pacing just before: p50 ${fmt(bursty.p50)} ms, p99 ${fmt(bursty.p99)} ms` +
          (byHalfSecond ? `; p99 by half second of the run (ms): ${byHalfSecond}` : ''),
        figures: {
          rate,
          paced,
          bursty,
          outcomes,
          machineBusy,
          generatorCore,
          failures: paced.failures + bursty.failures,
        },
      },
    ];
  } finally {
    await restoreGateways(environment);
  }
}

/** P11. */
export async function measureHotEventPolling(
  environment: BenchEnvironment,
  options: BenchOptions,
): Promise<MeasureRow[]> {
  const clients = options.quick ? 100 : 2_000;
  const pollIntervalSeconds = 2;
  const seconds = options.quick ? 2 : 15;
  const purchaseEveryMs = 250;
  const capacity = 1_000_000;
  const { url, people } = await withCacheAndPeople(environment, 1, 'bench-poll-buyer');
  const { graphql } = publicGraphQL(url);
  const organizer = people.organizer.token;
  const buyer = people.buyers[0]?.token;
  if (!buyer) throw new Error('no buyer was seeded');
  try {
    const {
      eventId,
      tierIds: [tierId],
    } = await publishedEventWithTiers(url, organizer, [{ name: 'GA', capacity }]);
    if (!tierId) throw new Error('the tier was not created');
    const body = requestBody(hotEventPage, { id: eventId });
    const availableNow = async () => {
      const response = await timedPost(url, body);
      const answer = JSON.parse(response.body) as {
        data?: { event: { ticketTiers: { available: number; onSale: boolean }[] } | null };
        errors?: unknown[];
      };
      const tier = answer.data?.event?.ticketTiers[0];
      return { ok: response.status === 200 && !answer.errors && tier !== undefined, tier };
    };
    // The events outbox tells the tickets service that the event is on sale.
    const deadline = Date.now() + 30_000;
    while (!(await availableNow()).tier?.onSale) {
      if (Date.now() > deadline) throw new Error('the hot event never went on sale');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const subgraphsBefore = await subgraphRequests(environment);
    const [hitsBefore, missesBefore] = [
      await cacheLookups(environment, 'hit'),
      await cacheLookups(environment, 'miss'),
    ];
    let running = true;
    let probing = true;
    // One buyer, one ticket at a time: after the n-th purchase answers, n are sold.
    const purchases: number[] = [];
    let purchaseErrors = 0;
    const buying = (async () => {
      while (running) {
        const started = performance.now();
        const answer = await graphql(buyer, purchaseMutation, {
          input: { tierId, quantity: 1, idempotencyKey: randomUUID() },
        }).catch(() => undefined);
        if (answer?.data?.purchaseTickets) purchases.push(performance.now());
        else purchaseErrors++;
        const wait = purchaseEveryMs - (performance.now() - started);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    })();
    // Four more clients read the page every 20 ms, staggered, and keep what they saw and
    // how long each read took, for staleness: a loaded machine slows each read, and four
    // keep the sampling finer than one read's latency.
    const probes: { at: number; available: number; ms: number }[] = [];
    let probeErrors = 0;
    const probe = async (offsetMs: number) => {
      await new Promise((resolve) => setTimeout(resolve, offsetMs));
      while (probing) {
        const at = performance.now();
        const seen = await availableNow().catch(() => ({ ok: false, tier: undefined }));
        const ms = performance.now() - at;
        if (seen.ok && seen.tier) probes.push({ at, available: seen.tier.available, ms });
        else probeErrors++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const probed = Promise.all([0, 5, 10, 15].map(probe));
    const polling = await runLoad({
      url,
      body,
      connections: Math.min(clients, 200),
      seconds,
      rate: clients / pollIntervalSeconds,
    });
    running = false;
    await buying;
    // Long enough after the last purchase for it to show, then the probe stops too.
    await new Promise((resolve) => setTimeout(resolve, 2 * stalenessBoundMs));
    probing = false;
    await probed;
    const subgraphCount = (await subgraphRequests(environment)) - subgraphsBefore;
    const hits = (await cacheLookups(environment, 'hit')) - hitsBefore;
    const misses = (await cacheLookups(environment, 'miss')) - missesBefore;

    // After the n-th purchase answered, a page is current once it shows capacity − n or
    // less; its staleness is how long after the purchase the first such page was read.
    const staleness = purchases.map((answeredAt, index) => {
      const current = probes.find(
        (probe) => probe.at >= answeredAt && probe.available <= capacity - (index + 1),
      );
      return current ? current.at - answeredAt : Number.POSITIVE_INFINITY;
    });
    const probeP99 = probes.length
      ? (probes.map((probe) => probe.ms).toSorted((a, b) => a - b)[
          Math.floor(probes.length * 0.99)
        ] ?? 0)
      : 0;
    const worst = staleness.length > 0 ? Math.max(...staleness) : 0;
    const clientRequests = polling.completed + probes.length + probeErrors + purchases.length;
    const share = subgraphCount / clientRequests;
    const errors = polling.failures + purchaseErrors + probeErrors;
    return [
      {
        id: 'P11',
        measure: `${clients} simulated clients polling one hot event page every ${pollIntervalSeconds} s via NGINX while purchases run (cache on, sharing off)`,
        value: share * 100,
        result: `${fmt(share * 100)} % subgraph requests, ${errors} errors, staleness ≤ ${fmt(worst)} ms`,
        target: `0 errors; ≤ 5 %; ≤ ${stalenessBoundMs} ms`,
        met: errors === 0 && share <= 0.05 && worst <= stalenessBoundMs,
        details:
          `${seconds} s at ${fmt(polling.rps)} polls/s (p99 ${fmt(polling.p99)} ms) on ${Math.min(clients, 200)} connections; ` +
          `${purchases.length} purchases (one every ${purchaseEveryMs} ms); ${subgraphCount} subgraph requests for ${clientRequests} client requests; ` +
          `cache hits ${hits}, misses ${misses}; staleness after a purchase: median ${fmt(staleness.length ? median(staleness) : 0)} ms, worst ${fmt(worst)} ms ` +
          `(4 probe clients, p99 of a probe's read ${fmt(probeP99)} ms)`,
        figures: {
          polling,
          purchases: purchases.length,
          purchaseErrors,
          probeErrors,
          probeP99,
          subgraphRequests: subgraphCount,
          clientRequests,
          hits,
          misses,
          staleness,
          failures: errors,
        },
      },
    ];
  } finally {
    await restoreGateways(environment);
  }
}

/**
 * P10's timeline, a diagnostic that changes nothing the row measures and runs only when
 * P10_TIMELINE names a file (`P10_TIMELINE=p10.json npm run bench -- --only P9`): when
 * the paced run's slow answers were sent, against when the gateways refreshed the cached
 * listing in the background (each refresh lock taken and each entry stored, as Redis's
 * MONITOR saw them) and when they collected garbage (each gateway's GC time, from its
 * /metrics every 100 ms, which costs the gateways a little). Writes every series to the
 * file and prints how much more often than by chance a slow answer fell near each.
 */
const timelinePath = process.env.P10_TIMELINE;
const bucketMs = 10;
const gcPollMs = 100;

async function startTimeline(environment: BenchEnvironment) {
  const logger = createLogger('p10-timeline', 'error');
  const connection = connectRedis(redisUrl, { timeoutMs: 2_000, logger, name: 'p10 timeline' });
  const monitor = await connection.client.monitor();
  const entryPrefix = `${cacheNamespace}:response-cache:entry:`;
  const refreshes: { at: number; kind: 'lock' | 'store' | 'unlock' }[] = [];
  monitor.on('monitor', (time: string, args: string[]) => {
    const [command, key] = [String(args[0]).toLowerCase(), String(args[1] ?? '')];
    if (!key.startsWith(entryPrefix)) return;
    const at = Number(time) * 1_000;
    if (command === 'set' && key.endsWith(':refresh')) refreshes.push({ at, kind: 'lock' });
    else if (command === 'set') refreshes.push({ at, kind: 'store' });
    else if (command === 'del' && key.endsWith(':refresh')) refreshes.push({ at, kind: 'unlock' });
  });
  const gc: { at: number; gateway: string; seconds: number }[] = [];
  const gcSeconds = async (gateway: string) => {
    const text = await (await fetch(new URL('/metrics', environment.gatewayUrl(gateway)))).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith('nodejs_gc_duration_seconds_sum{'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  };
  const last = new Map<string, number>();
  let polling = true;
  const poll = (async () => {
    while (polling) {
      await Promise.all(
        gateways.map(async (gateway) => {
          const seconds = await gcSeconds(gateway).catch(() => undefined);
          if (seconds === undefined) return;
          const previous = last.get(gateway);
          last.set(gateway, seconds);
          if (previous !== undefined && seconds > previous) {
            gc.push({ at: Date.now(), gateway, seconds: seconds - previous });
          }
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, gcPollMs));
    }
  })();
  return {
    bucket: () => String(Math.floor(Date.now() / bucketMs) * bucketMs),
    async finish(byLabel: PacedResult['byLabel']) {
      polling = false;
      await poll;
      monitor.disconnect();
      await connection.close();
      const buckets = Object.entries(byLabel).map(([at, figures]) => ({
        at: Number(at),
        ...figures,
      }));
      // A bucket is slow when its p99 (with about 60 answers, its slowest) is over 30 ms.
      const slow = buckets.filter((bucket) => bucket.p99 > 30);
      const locks = refreshes.filter((event) => event.kind === 'lock').map((event) => event.at);
      const stores = refreshes.filter((event) => event.kind === 'store').map((event) => event.at);
      // Near a refresh: sent from 20 ms before its lock was taken to 30 ms after its entry
      // was stored (the answers queued behind it); near GC: in a 100 ms poll window in
      // which a gateway spent 5 ms or more collecting.
      const windows = locks.map((start) => {
        const end = stores.find((at) => at >= start) ?? start + 100;
        return [start - 20, end + 30] as const;
      });
      const nearRefresh = (at: number) =>
        windows.some(([from, to]) => at + bucketMs >= from && at <= to);
      const gcWindows = gc
        .filter((sample) => sample.seconds >= 0.005)
        .map((sample) => [sample.at - gcPollMs - 20, sample.at] as const);
      const nearGc = (at: number) =>
        gcWindows.some(([from, to]) => at + bucketMs >= from && at <= to);
      const share = (list: typeof buckets, near: (at: number) => boolean) =>
        list.length === 0 ? 0 : list.filter((bucket) => near(bucket.at)).length / list.length;
      const summary = {
        buckets: buckets.length,
        slowBuckets: slow.length,
        refreshes: locks.length,
        slowNearRefresh: share(slow, nearRefresh),
        allNearRefresh: share(buckets, nearRefresh),
        gcWindowsOver5ms: gcWindows.length,
        slowNearGc: share(slow, nearGc),
        allNearGc: share(buckets, nearGc),
      };
      process.stderr.write(`[bench] P10 timeline: ${JSON.stringify(summary)}\n`);
      await writeFile(
        timelinePath as string,
        `${JSON.stringify({ summary, buckets, refreshes, gc }, null, 1)}\n`,
      );
    },
  };
}
