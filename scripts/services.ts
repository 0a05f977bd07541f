// The processes of the topology, as `npm start` runs them. compose.yaml runs the same
// entries (test/compose.test.ts keeps the two in step). Names and ports come from the one
// registry in @ticketing/platform (services.ts).
import {
  defaultPublicPort,
  flagSetting,
  gatewayNames,
  integerSetting,
  portSetting,
  servicePorts,
  serviceRoutes,
  subgraphNames,
  tokenIssuer,
} from '@ticketing/platform';
import { z } from 'zod';

export { defaultPublicPort, serviceRoutes, tokenIssuer };

/** The edge's default limit on one address's requests in progress at once. */
export const defaultRequestsPerClient = 512;

/** What `npm start` reads itself, besides what it hands on to the services. */
export const localRunnerSettings = z.object({
  /** The public port, NGINX's (or the one gateway's without NGINX). */
  PUBLIC_PORT: portSetting(defaultPublicPort).pipe(z.number().min(1)),
  /**
   * Requests one client address may have in progress at the edge; beyond, 429. At most
   * 65535, the most NGINX's `limit_conn` takes.
   */
  EDGE_REQUESTS_PER_CLIENT: integerSetting(defaultRequestsPerClient, { min: 1, max: 65_535 }),
  /**
   * Each service on a free port instead of its own (4000-4010): a second topology beside
   * one that holds them, as the tests run one beside another run.
   */
  FREE_SERVICE_PORTS: flagSetting(false),
});

export type ServiceKind = 'subgraph' | 'gateway';

export interface ServiceSpec {
  name: string;
  kind: ServiceKind;
  /** The start module, relative to the repository root. */
  entry: string;
  /** The port it listens on under `npm start` and compose. */
  port: number;
  /** Node's flags for this service besides `nodeFlags`. */
  flags?: readonly string[];
}

export const subgraphServices: readonly ServiceSpec[] = subgraphNames.map((name) => ({
  name,
  kind: 'subgraph',
  entry: `subgraphs/${name}/src/index.ts`,
  port: servicePorts[name],
}));

/**
 * A gateway's heap, sized for what it keeps (docs/BENCHMARKS.md, P5b). Its live objects level
 * off near 140 MiB under endless new operations (the caches are bounded by weight), but V8
 * sizes the heap for the machine: on a large host, a 64 MiB young generation twice over and
 * an old generation that grows to four times its live set before a full collection, so the
 * resident set climbed past 800 MiB of garbage. These bound both: a full collection runs
 * before the old generation passes 256 MiB, and the young generation is 2 × 16 MiB.
 */
export const gatewayHeapFlags = ['--max-old-space-size=256', '--max-semi-space-size=16'] as const;

export const gatewayServices: readonly ServiceSpec[] = gatewayNames.map((name) => ({
  name,
  kind: 'gateway',
  entry: 'gateway/src/index.ts',
  port: servicePorts[name],
  flags: gatewayHeapFlags,
}));

export const services: readonly ServiceSpec[] = [...subgraphServices, ...gatewayServices];

/** Node's flags for running a service's TypeScript sources as they are. */
export const nodeFlags = ['--experimental-strip-types'] as const;

/** The command line that runs a service, with `node` as the executable. */
export function serviceCommand(service: ServiceSpec): string[] {
  return ['node', ...nodeFlags, ...(service.flags ?? []), service.entry];
}
