// The peer gateway of P6 and P7: Hive Gateway's runtime over the committed supergraph, its
// subgraph URLs pointed at the running subgraphs, served by node:http in a process of its
// own, as the project's gateways are. Its defaults are kept; only logging is quieted to
// errors, as the project's gateways run in the benchmark. One default can be turned off:
// Hive Gateway shares one subgraph fetch among identical queries in flight. Started and
// stopped by peer.ts, which it tells its URL over IPC as the services do.
//
// Callers are identified as the project's gateways identify them: a bearer token is checked
// by the project's own verifier (@ticketing/auth) against the users service's published keys,
// and every subgraph fetch carries an assertion signed for that viewer (anonymous without a
// token; an invalid token fails the request with UNAUTHENTICATED).
//
// Settings: SUPERGRAPH_PATH, USERS_URL, EVENTS_URL, TICKETS_URL, PORT (0 for any),
// DEDUPLICATE_INFLIGHT (true or false, default true), AUTH_JWKS_URL, AUTH_ISSUER and
// AUTH_AUDIENCE (as the gateways read them).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGatewayRuntime, type GatewayPlugin } from '@graphql-hive/gateway-runtime';
import { AccessTokenVerifier, type Identity, remoteKeySet } from '@ticketing/auth';
import { authSettings, type ForwardedRequest } from '@ticketing/platform';
import { parse } from 'graphql';
import { z } from 'zod';
import { type SubgraphName, subgraphRequestHeaders } from './subgraph-headers.ts';

const settings = authSettings
  .extend({
    SUPERGRAPH_PATH: z.string().min(1),
    USERS_URL: z.url(),
    EVENTS_URL: z.url(),
    TICKETS_URL: z.url(),
    PORT: z.coerce.number().int().min(0).max(65_535).default(0),
    DEDUPLICATE_INFLIGHT: z.enum(['true', 'false']).default('true'),
  })
  .parse(process.env);
const subgraphUrls: Record<SubgraphName, string> = {
  users: settings.USERS_URL,
  events: settings.EVENTS_URL,
  tickets: settings.TICKETS_URL,
};

/** The supergraph with each `@join__graph` URL replaced by the running subgraph's. */
function supergraphFor(path: string): string {
  return readFileSync(path, 'utf8').replace(
    /@join__graph\(name: "(\w+)", url: "[^"]*"\)/g,
    (_match, name: SubgraphName) => {
      const url = subgraphUrls[name];
      if (!url) throw new Error(`The supergraph names a subgraph ${name} that is not running`);
      return `@join__graph(name: "${name}", url: "${url}")`;
    },
  );
}

const verifier = new AccessTokenVerifier(remoteKeySet(settings.AUTH_JWKS_URL), {
  issuer: settings.AUTH_ISSUER,
  audience: settings.AUTH_AUDIENCE,
});

/** What the project's gateway forwards about a request, kept in Hive Gateway's context. */
interface ForwardedContext {
  forwarded?: ForwardedRequest;
}

/**
 * Who is calling, decided once a request, as the project's gateway decides it: the bearer
 * token verified by the same verifier, the request id NGINX assigned and the address NGINX
 * saw (the right-most X-Forwarded-For entry, which NGINX sets).
 */
const identifyCaller: GatewayPlugin<ForwardedContext> = {
  async onContextBuilding({ context, extendContext }) {
    const headers = context.request.headers;
    const viewer: Identity | null = await verifier.authenticate(
      headers.get('authorization') ?? undefined,
    );
    const clientAddress = headers.get('x-forwarded-for')?.split(',').at(-1)?.trim();
    const requestId = headers.get('x-request-id') ?? undefined;
    extendContext({ forwarded: { viewer, clientAddress, requestId } });
  },
};

/** Every subgraph fetch carries what `subgraphRequestHeaders` gives for its exact body. */
const subgraphHeaders: GatewayPlugin<ForwardedContext> = {
  async onFetch({ options, setOptions, executionRequest, context }) {
    const subgraph = executionRequest?.subgraphName as SubgraphName | undefined;
    if (!subgraph || typeof options.body !== 'string') return;
    const forwarded = 'forwarded' in context ? context.forwarded : undefined;
    const extra = subgraphRequestHeaders(subgraph, options.body, forwarded);
    setOptions({
      ...options,
      headers: { ...(options.headers as Record<string, string>), ...extra },
    });
  },
};

const runtime = createGatewayRuntime({
  supergraph: parse(supergraphFor(settings.SUPERGRAPH_PATH)),
  logging: 'error',
  plugins: () => [identifyCaller, subgraphHeaders],
  ...(settings.DEDUPLICATE_INFLIGHT === 'false'
    ? { transportEntries: { '*.http': { options: { deduplicateInflightRequests: false } } } }
    : {}),
});
const server = createServer(runtime);
server.listen(settings.PORT, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${port}/graphql` });
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void Promise.resolve(runtime.dispose()).finally(() => process.exit(0));
});
