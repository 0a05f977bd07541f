// The one registry of the topology's services: their names, ports and the URLs they reach
// each other at. The gateway, the subgraphs' defaults, `scripts/` (the local runner), the
// tests and compose's check (test/compose.test.ts) all read it, so that a port is written
// once.

/** The subgraphs that make up the supergraph, in composition order. */
export const subgraphNames = ['users', 'events', 'tickets'] as const;

export type SubgraphName = (typeof subgraphNames)[number];

/** The gateway instances the local runner and compose run behind NGINX. */
export const gatewayNames = ['gateway-1', 'gateway-2'] as const;

export type GatewayName = (typeof gatewayNames)[number];

export type ServiceName = SubgraphName | GatewayName;

/** The port each service listens on under `npm start` and compose. */
export const servicePorts: Readonly<Record<ServiceName, number>> = {
  users: 4001,
  events: 4002,
  tickets: 4003,
  'gateway-1': 4000,
  'gateway-2': 4010,
};

/** A gateway's port when nothing else says (PORT): the first instance's. */
export const defaultGatewayPort = servicePorts['gateway-1'];

/** The public endpoint's port: NGINX, or the lone gateway when NGINX is missing. */
export const defaultPublicPort = 8080;

/** The routes services call on each other, besides each one's /graphql. */
export const serviceRoutes = {
  graphql: '/graphql',
  /** The token issuer's public keys, which the gateways verify access tokens with. */
  jwks: '/.well-known/jwks.json',
  /** Where the events service's outbox relay delivers event changes to the tickets service. */
  eventChanges: '/internal/event-changes',
} as const;

/** The subgraph that issues access tokens and publishes their keys at `serviceRoutes.jwks`. */
export const tokenIssuer: SubgraphName = 'users';

/** Where a service answers on this host, as `npm start` runs it: the settings' defaults. */
export function localServiceUrl(name: ServiceName, path: string = serviceRoutes.graphql): string {
  return `http://127.0.0.1:${servicePorts[name]}${path}`;
}

/** Where a service answers inside compose's network, by its service name. */
export function composeServiceUrl(name: ServiceName, path: string = serviceRoutes.graphql): string {
  return `http://${name}:${servicePorts[name]}${path}`;
}
