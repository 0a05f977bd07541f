// The processes of the topology, as `npm start` runs them. compose.yaml runs the same
// entries (test/compose.test.ts keeps the two in step). Names and ports come from the one
// registry in @ticketing/platform (services.ts).
import {
  defaultPublicPort,
  gatewayNames,
  servicePorts,
  serviceRoutes,
  subgraphNames,
  tokenIssuer,
} from '@ticketing/platform';

export { defaultPublicPort, serviceRoutes, tokenIssuer };

export type ServiceKind = 'subgraph' | 'gateway';

export interface ServiceSpec {
  name: string;
  kind: ServiceKind;
  /** The start module, relative to the repository root. */
  entry: string;
  /** The port it listens on under `npm start` and compose. */
  port: number;
}

export const subgraphServices: readonly ServiceSpec[] = subgraphNames.map((name) => ({
  name,
  kind: 'subgraph',
  entry: `subgraphs/${name}/src/index.ts`,
  port: servicePorts[name],
}));

export const gatewayServices: readonly ServiceSpec[] = gatewayNames.map((name) => ({
  name,
  kind: 'gateway',
  entry: 'gateway/src/index.ts',
  port: servicePorts[name],
}));

export const services: readonly ServiceSpec[] = [...subgraphServices, ...gatewayServices];

/** Node's flags for running a service's TypeScript sources as they are. */
export const nodeFlags = ['--experimental-strip-types'] as const;

/** The command line that runs a service, with `node` as the executable. */
export function serviceCommand(service: ServiceSpec): string[] {
  return ['node', ...nodeFlags, service.entry];
}
