// P1, the gateway tax: requests per second of a query that one subgraph answers alone, sent
// through the public edge (NGINX and the two gateways), against the same query sent straight
// to that subgraph, at the same concurrency, alternating.
import { readFile } from 'node:fs/promises';
import type { BenchEnvironment } from './environment.ts';
import { alternate, expectData, median, runLoad } from './load.ts';
import { oneSubgraphQuery, requestBody } from './operations.ts';
import type { BenchOptions } from './options.ts';
import { fmt, type MeasureRow } from './report.ts';
import { subgraphRequestHeaders } from './subgraph-headers.ts';

/** A service's CPU time so far, in seconds, from its own /metrics (prom-client's). */
async function cpuSeconds(serviceUrl: string): Promise<number> {
  const response = await fetch(new URL('/metrics', serviceUrl), {
    signal: AbortSignal.timeout(5_000),
  });
  const line = (await response.text())
    .split('\n')
    .find((entry) => entry.startsWith('process_cpu_seconds_total '));
  if (!line) throw new Error(`${serviceUrl} reports no process_cpu_seconds_total`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The processes `pid` started, by process id (Linux's /proc). */
async function childrenOf(pid: number): Promise<number[]> {
  const list = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
  return list.trim().split(/\s+/).filter(Boolean).map(Number);
}

/** A process's CPU time so far in seconds (utime and stime, in Linux's ticks of 1/100 s). */
async function procCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * The CPU time so far of NGINX's workers, which this process started through the topology
 * (its master is a child of this process); undefined where there is no /proc.
 */
async function nginxCpuSeconds(): Promise<number | undefined> {
  try {
    let seconds = 0;
    for (const child of await childrenOf(process.pid)) {
      const name = (await readFile(`/proc/${child}/comm`, 'utf8')).trim();
      if (name !== 'nginx') continue;
      for (const worker of await childrenOf(child)) seconds += await procCpuSeconds(worker);
    }
    return seconds;
  } catch {
    return undefined;
  }
}

/** Microseconds of CPU a request. */
const perRequest = (seconds: number, requests: number) =>
  requests > 0 ? (seconds * 1e6) / requests : Number.NaN;

export async function measureGatewayTax(
  environment: BenchEnvironment,
  options: BenchOptions,
): Promise<MeasureRow[]> {
  const body = requestBody(oneSubgraphQuery, { first: options.listingSize });
  const subgraphUrl = environment.subgraphUrl('events');
  // A direct request carries a fresh assertion each, as the gateways' requests do: an
  // assertion is accepted once.
  const signEach = [
    {
      setupRequest: (request: { headers?: Record<string, string> }) => ({
        ...request,
        headers: { ...request.headers, ...subgraphRequestHeaders('events', body) },
      }),
    },
  ];
  const sideOf = (side: 'edge' | 'subgraph') =>
    side === 'edge'
      ? { url: environment.publicUrl, headers: {}, requests: undefined }
      : {
          url: subgraphUrl,
          headers: subgraphRequestHeaders('events', body),
          requests: signEach,
        };

  for (const side of ['edge', 'subgraph'] as const) {
    const { url, headers, requests } = sideOf(side);
    await expectData(url, body, headers);
    await runLoad({
      url,
      body,
      ...(requests ? { requests } : {}),
      connections: options.connections,
      seconds: options.warmupSeconds,
    });
  }
  // What each side costs a request, in CPU: the gateways' and the subgraph's (their own
  // process_cpu_seconds_total, read before and after each round) and the load generator's.
  // The subgraph's shows whether it does the same work on both sides.
  const gatewayUrls = ['gateway-1', 'gateway-2'].map((name) => environment.gatewayUrl(name));
  const cpu = {
    edge: { nginx: 0, gateways: 0, subgraph: 0, generator: 0, requests: 0 },
    subgraph: { nginx: 0, gateways: 0, subgraph: 0, generator: 0, requests: 0 },
  };
  const rounds = await alternate(['edge', 'subgraph'] as const, options.rounds, async (side) => {
    const { url, requests } = sideOf(side);
    const readCpu = async () => ({
      nginx: (await nginxCpuSeconds()) ?? Number.NaN,
      gateways: (await Promise.all(gatewayUrls.map(cpuSeconds))).reduce((a, b) => a + b, 0),
      subgraph: await cpuSeconds(subgraphUrl),
      generator: process.cpuUsage(),
    });
    const before = await readCpu();
    const result = await runLoad({
      url,
      body,
      ...(requests ? { requests } : {}),
      connections: options.connections,
      seconds: options.roundSeconds,
    });
    const after = await readCpu();
    const generator = process.cpuUsage(before.generator);
    cpu[side].nginx += after.nginx - before.nginx;
    cpu[side].gateways += after.gateways - before.gateways;
    cpu[side].subgraph += after.subgraph - before.subgraph;
    cpu[side].generator += (generator.user + generator.system) / 1e6;
    cpu[side].requests += result.completed;
    return result;
  });
  const cpuPerRequest = Object.fromEntries(
    (['edge', 'subgraph'] as const).map((side) => {
      const { requests, ...seconds } = cpu[side];
      return [
        side,
        Object.fromEntries(
          Object.entries(seconds).map(([part, spent]) => [part, perRequest(spent, requests)]),
        ),
      ];
    }),
  ) as Record<'edge' | 'subgraph', Record<'nginx' | 'gateways' | 'subgraph' | 'generator', number>>;
  const edge = rounds.edge.map((round) => round.rps);
  const direct = rounds.subgraph.map((round) => round.rps);
  const failures = [...rounds.edge, ...rounds.subgraph].reduce((sum, r) => sum + r.failures, 0);
  const ratio = median(edge) / median(direct);
  // NGINX's figure needs Linux's /proc; elsewhere the row says nothing of it.
  const nginxShare = Number.isFinite(cpuPerRequest.edge.nginx)
    ? `NGINX ${fmt(cpuPerRequest.edge.nginx)} µs, `
    : '';
  return [
    {
      id: 'P1',
      measure: `gateway tax: RPS of a one-subgraph query (${options.listingSize} events) via NGINX + 2 gateways ÷ straight to the events subgraph, ${options.connections} connections`,
      value: ratio,
      result: fmt(ratio),
      target: '≥ 0.75',
      met: ratio >= 0.75 && failures === 0,
      details:
        `edge ${edge.map((rps) => fmt(rps)).join(', ')} RPS (median ${fmt(median(edge))}); ` +
        `subgraph ${direct.map((rps) => fmt(rps)).join(', ')} RPS (median ${fmt(median(direct))}); ` +
        `${options.rounds} × ${options.roundSeconds} s a side; ${failures} failed; ` +
        `CPU a request: ${nginxShare}gateways ${fmt(cpuPerRequest.edge.gateways)} µs, events subgraph ` +
        `${fmt(cpuPerRequest.edge.subgraph)} µs via the edge and ${fmt(cpuPerRequest.subgraph.subgraph)} µs straight, ` +
        `load generator ${fmt(cpuPerRequest.edge.generator)} and ${fmt(cpuPerRequest.subgraph.generator)} µs`,
      figures: { edge: rounds.edge, subgraph: rounds.subgraph, failures, cpuPerRequest },
    },
  ];
}
