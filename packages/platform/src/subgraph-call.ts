import type { Identity } from '@ticketing/auth';
import { GraphQLError } from 'graphql';
import { signedSubgraphHeaders } from './gateway-assertion.ts';
import { currentRequestId } from './request-context.ts';
import type { SubgraphName } from './services.ts';
import { injectTraceContext } from './telemetry.ts';

/** Another subgraph, called directly on a caller's behalf. */
export interface SubgraphEndpoint {
  name: SubgraphName;
  url: string;
  /** That subgraph's secret: this service signs what it sends with it, as the gateway does. */
  secret: string;
  /** What the failure says when the call does not answer in time, e.g. "the events service". */
  description: string;
}

/** `name`'s endpoint at `url`, signed for with `secret`. */
export function subgraphEndpoint(
  name: SubgraphName,
  url: string,
  secret: string,
): SubgraphEndpoint {
  return { name, url, secret, description: `The ${name} service` };
}

/**
 * Sends `query` to another subgraph as `caller`, signed like the gateway's requests (with
 * this service, `issuer`, as the issuer), so that subgraph applies its own rules for that
 * caller. Answers `SERVICE_UNAVAILABLE` when it does not answer within 3 s.
 */
export async function callSubgraph<Data>(
  issuer: SubgraphName,
  endpoint: SubgraphEndpoint,
  caller: Identity,
  query: string,
  variables: Record<string, unknown>,
): Promise<{ data?: Data | null; errors?: unknown[] }> {
  const body = JSON.stringify({ query, variables });
  const requestId = currentRequestId();
  const traceHeaders: Record<string, string> = {};
  injectTraceContext(traceHeaders);
  try {
    const response = await fetch(endpoint.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(requestId ? { 'x-request-id': requestId } : {}),
        ...traceHeaders,
        ...signedSubgraphHeaders({
          secret: endpoint.secret,
          subgraph: endpoint.name,
          issuer,
          viewer: caller,
          requestId,
          body,
        }),
      },
      body,
      signal: AbortSignal.timeout(3_000),
    });
    if (!response.ok) throw new Error(`${endpoint.name} answered ${response.status}`);
    return await response.json();
  } catch {
    throw new GraphQLError(`${endpoint.description} cannot be reached; try again shortly.`, {
      extensions: { code: 'SERVICE_UNAVAILABLE' },
    });
  }
}
