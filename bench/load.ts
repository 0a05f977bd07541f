// Load for the benchmarks: a thin layer over autocannon's programmatic API. Autocannon
// runs in the benchmark's own process, which is separate from every process it measures
// (NGINX, the gateways and the subgraphs are child processes of the topology, Hive Gateway
// a child of its own): the load generator shares the machine's cores with them, as any
// client on the same host would, but never their event loops.
import { request as httpRequest } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import autocannon, { type RequestTemplate, type Result } from 'autocannon';
import { Pool } from 'undici';

export interface LoadOptions {
  url: string;
  /** @default 'POST' */
  method?: 'GET' | 'POST';
  /** The JSON body of every request (unless `requests` builds each one). */
  body?: string;
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
  /** Requests per second across all connections; unthrottled when absent. */
  rate?: number;
  /** Builds requests one by one (distinct bodies, rotating tokens). */
  requests?: RequestTemplate[];
}

export interface LoadResult {
  /** Successful responses per second: 2xx with a GraphQL body free of errors. */
  rps: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p99: number;
  /** Responses that were not successful: non-2xx, GraphQL errors, socket errors, timeouts. */
  failures: number;
  completed: number;
}

/**
 * True for a GraphQL response with data and no `errors` entry. Every request the benchmarks
 * send is meant to succeed, so anything else counts as a failure, not as throughput.
 */
export function successfulGraphQL(body: string): boolean {
  return body.startsWith('{"data":') && !body.includes('"errors":');
}

/** Runs one load phase with autocannon and summarises it. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const result: Result = await autocannon({
    url: options.url,
    method: options.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    ...(options.body === undefined ? {} : { body: options.body }),
    connections: options.connections,
    duration: options.seconds,
    ...(options.rate === undefined ? {} : { overallRate: options.rate }),
    ...(options.requests ? { requests: options.requests } : {}),
    timeout: 30,
    verifyBody: successfulGraphQL,
  });
  // Autocannon verifies every body that arrives, whatever its status: a non-2xx answer
  // (never `{"data":` without errors here) is a mismatch too. Socket errors and timeouts
  // bring no body at all.
  const failures = result.mismatches + result.errors + result.timeouts;
  const failed2xx = Math.max(0, result.mismatches - result.non2xx);
  const successful = result['2xx'] - failed2xx;
  return {
    rps: successful / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures,
    completed: result.requests.total,
  };
}

/** One request of a paced run whose requests differ. */
export interface PacedRequest {
  body: string;
  headers?: Record<string, string>;
  /** A kind of request, whose latencies the result also gives apart (`byLabel`). */
  label?: string;
}

export interface PacedResult extends LoadResult {
  /** Responses slower than `slowMs`, by their `x-cache` header (`none` without one). */
  slow: Record<string, number>;
  /** For labelled requests: each label's successful responses, p50 and p99 in ms. */
  byLabel: Record<string, { count: number; p50: number; p99: number }>;
  /** The largest gap, in ms, between a request's due time and its sending. */
  worstLag: number;
  /** The load generator's own event loop delay over the run, in ms: p99 and max. */
  clientLoop: { p99: number; max: number };
  /**
   * How many connections the run opened, the ones opened before it included: more than it
   * keeps open when the server closed some during the run.
   */
  connectionsUsed: number;
}

/**
 * Open-loop load at a steady rate, spread evenly: request i is due at i / rate seconds from
 * the start, whatever became of the others, and goes out on the first free one of
 * `connections` keep-alive connections, all opened (by untimed requests) before the run.
 * Its latency counts from when it was due, so a stall counts for every request it held
 * back, waiting for a connection included, as it would for clients arriving at that rate.
 * (Autocannon's `overallRate` sends each connection's share of a second back to back at
 * the start of that second, then waits for the next, and corrects for coordinated
 * omission as if a request were due every millisecond: one 500 ms response then records
 * 500 samples.) Opening connections on demand instead, as pollers each with their own
 * would, was measured on 2 cores and made the tail worse: a generator behind its schedule
 * opened hundreds, and the work of opening them kept it behind (docs/BENCHMARKS.md).
 *
 * The requests go through undici's Pool rather than Node's HTTP client: the generator shares
 * the cores with what it measures, and undici spends much less CPU on a request (no
 * IncomingMessage stream, no Agent bookkeeping), which leaves those cores to the edge and
 * the gateways.
 */
export async function runPaced(options: {
  url: string;
  /** The JSON body of every request, or a function that builds request i's body and headers. */
  body: string | ((index: number) => PacedRequest);
  seconds: number;
  rate: number;
  /** Keep-alive connections, all opened before the run; it never opens more at once. */
  connections: number;
  /** @default 30 */
  slowMs?: number;
  /**
   * Seconds paced at the same rate on the same connections before the run, untimed (their
   * failures count). @default 0
   */
  warmupSeconds?: number;
}): Promise<PacedResult> {
  const slowMs = options.slowMs ?? 30;
  const url = new URL(options.url);
  const path = url.pathname + url.search;
  // One request at a time on each connection, as with Node's Agent: no pipelining.
  const pool = new Pool(url.origin, { connections: options.connections, pipelining: 1 });
  let connectionsUsed = 0;
  pool.on('connect', () => {
    connectionsUsed++;
  });
  const total = Math.round(options.rate * options.seconds);
  const latencies: number[] = [];
  const labelled: Record<string, number[]> = {};
  const slow: Record<string, number> = {};
  let failures = 0;
  let worstLag = 0;
  const given = options.body;
  const build = typeof given === 'string' ? (): PacedRequest => ({ body: given }) : given;
  const send = (due: number, index: number) =>
    new Promise<void>((resolve) => {
      const { body, headers = {}, label } = build(index);
      let status = 0;
      let cache = 'none';
      const chunks: Buffer[] = [];
      pool.dispatch(
        {
          origin: url.origin,
          path,
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body,
          headersTimeout: 30_000,
          bodyTimeout: 30_000,
        },
        {
          // Called as the request is written to a connection: how long it waited for one.
          onRequestStart() {
            worstLag = Math.max(worstLag, performance.now() - due);
          },
          onResponseStart(_controller, statusCode, responseHeaders) {
            status = statusCode;
            cache = String(responseHeaders['x-cache'] ?? 'none');
          },
          onResponseData(_controller, chunk) {
            chunks.push(chunk);
          },
          onResponseEnd() {
            const ms = performance.now() - due;
            if (status !== 200 || !successfulGraphQL(Buffer.concat(chunks).toString('utf8'))) {
              failures++;
              return resolve();
            }
            latencies.push(ms);
            if (label !== undefined) {
              const list = labelled[label] ?? [];
              list.push(ms);
              labelled[label] = list;
            }
            if (ms > slowMs) slow[cache] = (slow[cache] ?? 0) + 1;
            resolve();
          },
          onResponseError() {
            failures++;
            resolve();
          },
        },
      );
    });
  // As many requests at once as connections, untimed: each opens one.
  // (Their indexes are negative, so a builder can tell them from the measured requests.)
  await Promise.all(
    Array.from({ length: options.connections }, (_, i) => send(performance.now(), -1 - i)),
  );
  // What the untimed requests found is not the run's; their failures still count.
  const forget = () => {
    latencies.length = 0;
    for (const cache of Object.keys(slow)) delete slow[cache];
    for (const label of Object.keys(labelled)) delete labelled[label];
    worstLag = 0;
  };
  forget();
  const pace = async (count: number, firstIndex: number) => {
    const start = performance.now();
    const pending: Promise<void>[] = [];
    await new Promise<void>((done) => {
      let sent = 0;
      const tick = () => {
        const now = performance.now();
        // Every request due by now goes out, each timed from its own due time.
        while (sent < count && start + (sent * 1_000) / options.rate <= now) {
          pending.push(send(start + (sent * 1_000) / options.rate, firstIndex + sent));
          sent++;
        }
        if (sent < count) setTimeout(tick, 1);
        else done();
      };
      tick();
    });
    await Promise.all(pending);
    return start;
  };
  const warmup = Math.round(options.rate * (options.warmupSeconds ?? 0));
  if (warmup > 0) {
    await pace(warmup, -options.connections - warmup);
    forget();
  }
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const start = await pace(total, 0);
  const elapsed = (performance.now() - start) / 1_000;
  loop.disable();
  await pool.destroy();
  const percentiles = (values: readonly number[]) => {
    const sorted = values.toSorted((a, b) => a - b);
    const at = (q: number) =>
      sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
    return { count: sorted.length, p50: at(0.5), p99: at(0.99) };
  };
  const all = percentiles(latencies);
  return {
    rps: latencies.length / elapsed,
    p50: all.p50,
    p99: all.p99,
    failures,
    completed: latencies.length + failures,
    slow,
    byLabel: Object.fromEntries(
      Object.entries(labelled).map(([label, values]) => [label, percentiles(values)]),
    ),
    worstLag,
    clientLoop: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    connectionsUsed,
  };
}

/**
 * Runs `measure` for each side in turn, `rounds` times (A, B, A, B, ...), so that whatever
 * else the machine is doing weighs on both sides alike. Returns each side's figures in
 * round order.
 */
export async function alternate<Side extends string, Figure>(
  sides: readonly Side[],
  rounds: number,
  measure: (side: Side, round: number) => Promise<Figure>,
): Promise<Record<Side, Figure[]>> {
  const figures = Object.fromEntries(sides.map((side) => [side, [] as Figure[]])) as Record<
    Side,
    Figure[]
  >;
  for (let round = 0; round < rounds; round++) {
    for (const side of sides) figures[side].push(await measure(side, round));
  }
  return figures;
}

/** The median of a non-empty list (the lower middle for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
}

export interface TimedResponse {
  status: number;
  body: string;
  /** From sending the request to the last byte of the response, in milliseconds. */
  ms: number;
}

/**
 * One POST on a fresh connection, timed. For single requests whose latency matters on its
 * own (the first one after a gateway starts): a new connection each time keeps the first
 * and the warm requests alike, and never reuses a socket to a process that was replaced.
 */
export function timedPost(
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<TimedResponse> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = httpRequest(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - started,
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** POSTs a GraphQL body and fails unless the answer is data without errors. */
export async function expectData(
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<TimedResponse> {
  const response = await timedPost(url, body, headers);
  if (response.status !== 200 || !successfulGraphQL(response.body)) {
    throw new Error(`${url} answered ${response.status}: ${response.body.slice(0, 500)}`);
  }
  return response;
}
