import { createHash } from 'node:crypto';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginLandingPageLocalDefault,
  ApolloServerPluginLandingPageProductionDefault,
} from '@apollo/server/plugin/landingPage/default';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { Identity } from '@ticketing/auth';
import { CountingQueryPlanCache } from './plan-cache.ts';

/** What the gateway knows about a request. */
export interface GatewayContext {
  /** Verified here, before any subgraph is called; null for an anonymous request. */
  viewer: Identity | null;
  /** The caller's credentials, passed on so that each subgraph establishes the same identity. */
  authorization: string | undefined;
  /** The client's address (behind NGINX: from X-Forwarded-For), for login throttling. */
  clientAddress: string | undefined;
  /** The request's id (from NGINX's X-Request-Id), passed on so that subgraphs log it too. */
  requestId: string;
}

/** Passes the caller's credentials, address and request id on to every subgraph request. */
class AuthenticatedDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  override willSendRequest({
    request,
    context,
  }: Parameters<NonNullable<RemoteGraphQLDataSource<GatewayContext>['willSendRequest']>>[0]) {
    const headers = request.http?.headers;
    if (!headers || !context) return;
    if (context.authorization) headers.set('authorization', context.authorization);
    if (context.clientAddress) headers.set('x-client-address', context.clientAddress);
    headers.set('x-request-id', context.requestId);
  }
}

export interface GatewayOptions {
  supergraphSdl: string;
  /** Subgraph URLs by name, overriding those recorded in the supergraph. */
  subgraphUrls: Partial<Record<string, string>>;
  /** Apollo Sandbox on the landing page in development; a static page in production. */
  production: boolean;
  /**
   * Where automatic persisted queries are kept. Shared (Redis) so that a hash registered
   * through one instance is found through the other; this process's memory otherwise.
   */
  persistedQueriesCache?: KeyValueCache<string>;
  plugins?: ApolloServerPlugin<GatewayContext>[];
}

/**
 * Limits every operation must pass before it is planned or executed. Comfortably above
 * what the committed client operations need (a test checks them), and well below what
 * abuse needs: 7 levels, 15 aliases, 50 directives, 1000 tokens, and a static cost of
 * 20 000 (graphql-armor's estimate; the wallet query, each ticket with its event,
 * organizer and tier, costs about 5 600).
 */
export const operationLimits = {
  maxDepth: { n: 7 },
  maxAliases: { n: 15 },
  maxDirectives: { n: 50 },
  maxTokens: { n: 1000 },
  costLimit: { maxCost: 20_000 },
} as const;

/** The gateway's Apollo Server, not yet listening. */
export function createGatewayServer(options: GatewayOptions): ApolloServer<GatewayContext> {
  // graphql-armor: the limits as validation rules and plugins. In production, field
  // suggestions ("Did you mean …?") are masked too, so that errors do not map the schema.
  const { maxTokens, ...validationLimits } = operationLimits;
  const armor = new ApolloArmor({
    ...validationLimits,
    // The parser enforces the token limit itself (parseOptions below): graphql-armor's own
    // check re-parses in a plugin hook, where a plain syntax error became an HTTP 500.
    maxTokens: { enabled: false },
    blockFieldSuggestion: { enabled: options.production },
  }).protect();
  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl,
    // The default plan cache, counting its hits and misses for /metrics.
    queryPlannerConfig: { cache: new CountingQueryPlanCache() },
    buildService: ({ name, url }) =>
      new AuthenticatedDataSource({ url: options.subgraphUrls[name] ?? url }),
  });
  return new ApolloServer<GatewayContext>({
    gateway,
    includeStacktraceInErrorResponses: false,
    allowBatchedHttpRequests: false,
    introspection: !options.production,
    persistedQueries: options.persistedQueriesCache
      ? { cache: options.persistedQueriesCache, ttl: 24 * 60 * 60 }
      : {},
    validationRules: armor.validationRules,
    parseOptions: { maxTokens: maxTokens.n },
    plugins: [
      // Written for any context; they never read ours.
      ...(armor.plugins as ApolloServerPlugin<GatewayContext>[]),
      ...(options.plugins ?? []),
      options.production
        ? ApolloServerPluginLandingPageProductionDefault({ footer: false })
        : ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false }),
    ],
  });
}

/** Identifies the served supergraph in readiness reports: the same hash means the same schema. */
export function supergraphHash(supergraphSdl: string): string {
  return createHash('sha256').update(supergraphSdl).digest('hex').slice(0, 16);
}
