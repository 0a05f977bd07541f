// Load for the benchmarks: a thin layer over autocannon's programmatic API. Autocannon
// runs in the benchmark's own process, which is separate from every process it measures
// (NGINX, the gateways and the subgraphs are child processes of the topology, Hive Gateway
// a child of its own): the load generator shares the machine's cores with them, as any
// client on the same host would, but never their event loops.
import { request as httpRequest } from 'node:http';
import autocannon, { type RequestTemplate, type Result } from 'autocannon';

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
