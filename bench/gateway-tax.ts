// P1, the gateway tax: requests per second of a query that one subgraph answers alone, sent
// through the public edge (NGINX and the two gateways), against the same query sent straight
// to that subgraph, at the same concurrency, alternating.
import type { BenchEnvironment } from './environment.ts';
import { alternate, expectData, median, runLoad } from './load.ts';
import { oneSubgraphQuery, requestBody } from './operations.ts';
import type { BenchOptions } from './options.ts';
import { fmt, type MeasureRow } from './report.ts';
import { subgraphRequestHeaders } from './subgraph-headers.ts';

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
  const rounds = await alternate(['edge', 'subgraph'] as const, options.rounds, async (side) => {
    const { url, requests } = sideOf(side);
    return runLoad({
      url,
      body,
      ...(requests ? { requests } : {}),
      connections: options.connections,
      seconds: options.roundSeconds,
    });
  });
  const edge = rounds.edge.map((round) => round.rps);
  const direct = rounds.subgraph.map((round) => round.rps);
  const failures = [...rounds.edge, ...rounds.subgraph].reduce((sum, r) => sum + r.failures, 0);
  const ratio = median(edge) / median(direct);
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
        `${options.rounds} × ${options.roundSeconds} s a side; ${failures} failed`,
      figures: { edge: rounds.edge, subgraph: rounds.subgraph, failures },
    },
  ];
}
