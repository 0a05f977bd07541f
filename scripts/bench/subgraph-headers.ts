// The one place where the benchmarks build the headers of a request sent straight to a
// subgraph: P1's baseline (a query to the events subgraph without a gateway) and every
// subgraph fetch Hive Gateway makes in P6. The project's own gateways add their headers
// themselves; these requests have to carry what those would.

/** The subgraphs of the supergraph, as the gateways name them. */
export type SubgraphName = 'users' | 'events' | 'tickets';

/**
 * The headers a request to `subgraph` carrying exactly `body` needs besides its content
 * type. Subgraphs accept unsigned requests today, so there are none. When subgraphs come to
 * require a gateway signature, this is where it is made (from the subgraph's secret and the
 * very body string that is sent), so that the direct baseline and the peer gateway stay
 * comparable with the project's gateways, which sign their own requests.
 */
export async function subgraphRequestHeaders(
  _subgraph: SubgraphName,
  _body: string,
): Promise<Record<string, string>> {
  return {};
}
