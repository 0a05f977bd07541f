// The processes of the topology, as `npm start` runs them. compose.yaml runs the same
// entries (test/compose.test.ts keeps the two in step).

export type ServiceKind = 'subgraph' | 'gateway';

export interface ServiceSpec {
  name: string;
  kind: ServiceKind;
  /** The start module, relative to the repository root. */
  entry: string;
  /** The port it listens on under `npm start` and compose. */
  port: number;
}

export const subgraphServices: readonly ServiceSpec[] = [
  { name: 'users', kind: 'subgraph', entry: 'subgraphs/users/src/index.ts', port: 4001 },
  { name: 'events', kind: 'subgraph', entry: 'subgraphs/events/src/index.ts', port: 4002 },
  { name: 'tickets', kind: 'subgraph', entry: 'subgraphs/tickets/src/index.ts', port: 4003 },
];

export const gatewayServices: readonly ServiceSpec[] = [
  { name: 'gateway-1', kind: 'gateway', entry: 'gateway/src/index.ts', port: 4000 },
  { name: 'gateway-2', kind: 'gateway', entry: 'gateway/src/index.ts', port: 4010 },
];

/** The subgraph that issues access tokens and publishes their keys at /.well-known/jwks.json. */
export const tokenIssuer = 'users';

export const services: readonly ServiceSpec[] = [...subgraphServices, ...gatewayServices];

/** The public endpoint's port: NGINX, or the lone gateway when NGINX is missing. */
export const defaultPublicPort = 8080;

/** Node's flags for running a service's TypeScript sources as they are. */
export const nodeFlags = ['--experimental-strip-types'] as const;

/** The command line that runs a service, with `node` as the executable. */
export function serviceCommand(service: ServiceSpec): string[] {
  return ['node', ...nodeFlags, service.entry];
}
