// The one place where the benchmarks build the headers of a request sent straight to a
// subgraph: P1's baseline (a query to the events subgraph without a gateway) and every
// subgraph fetch Hive Gateway makes in P6 and P7. Subgraphs serve only requests carrying a fresh,
// single-use gateway assertion for their exact body, so these requests carry one made the
// way the project's gateways make theirs, and the comparisons stay like for like.
import {
  type ForwardedRequest,
  type SubgraphName,
  signedSubgraphHeaders,
} from '@ticketing/platform';

export type { SubgraphName } from '@ticketing/platform';

/** Each subgraph's secret in the benchmark's topology (production mode requires them). */
export const benchSubgraphSecrets: Record<SubgraphName, string> = {
  users: 'benchmark-users-subgraph-secret-0123456789',
  events: 'benchmark-events-subgraph-secret-0123456789',
  tickets: 'benchmark-tickets-subgraph-secret-0123456789',
};

/** The settings that hand those secrets to every service. */
export const subgraphSecretEnv = {
  USERS_SUBGRAPH_SECRET: benchSubgraphSecrets.users,
  EVENTS_SUBGRAPH_SECRET: benchSubgraphSecrets.events,
  TICKETS_SUBGRAPH_SECRET: benchSubgraphSecrets.tickets,
} as const;

/**
 * The headers one request to `subgraph` carrying exactly `body` needs besides its content
 * type: an assertion for the caller `forwarded` describes (anonymous by default), as the
 * project's gateways sign it. Good for one request only: call it per request.
 */
export function subgraphRequestHeaders(
  subgraph: SubgraphName,
  body: string,
  forwarded: ForwardedRequest = { viewer: null },
): Record<string, string> {
  return signedSubgraphHeaders({
    ...forwarded,
    secret: benchSubgraphSecrets[subgraph],
    subgraph,
    body,
  });
}
