import { createHash, randomUUID } from 'node:crypto';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin, type GraphQLRequestContext } from '@apollo/server';
import {
  ApolloServerPluginLandingPageLocalDefault,
  ApolloServerPluginLandingPageProductionDefault,
} from '@apollo/server/plugin/landingPage/default';
import { InMemoryLRUCache, type KeyValueCache } from '@apollo/utils.keyvaluecache';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { Identity } from '@ticketing/auth';
import {
  apolloLogger,
  type ForwardedRequest,
  type Logger,
  type SubgraphName,
  sharedSubgraphFetchMetrics,
  signedSubgraphHeaders,
} from '@ticketing/platform';
import { injectTraceContext } from '@ticketing/platform/telemetry';
import type { DocumentNode } from 'graphql';
import { boundedDocumentStore, defaultMaxDocumentBytes } from './document-size.ts';
import { maskSubgraphErrors, SubgraphUnreachableError, withoutSuggestions } from './errors.ts';
import { explorerPath } from './explorer.ts';
import {
  assertPlaceable,
  FailedFetch,
  fetchedFields,
  isMutation,
  namingFailedFields,
  serialMutationFetch,
} from './failed-fields.ts';
import { HeapBoundedCache } from './heap-weight.ts';
import { InflightQueries, isQuery } from './inflight.ts';
import { checkScalars, inputHygienePlugin } from './input-hygiene.ts';
import { listCostPlugin } from './list-cost.ts';
import { NewPasswordAdmission, passwordAdmissionPlugin } from './password-admission.ts';
import { passwordFieldsPlugin } from './password-fields.ts';
import { CountingQueryPlanCache } from './plan-cache.ts';
import {
  privateForViewersPlugin,
  type ResponseCacheOptions,
  responseCachePlugin,
  sharedSubgraphFetch,
  subgraphFetched,
} from './response-cache.ts';
import { manifestStore, type PersistedQueryManifest, safelistPlugin } from './safelist.ts';
import { type AccessTokens, callerOf, takeSignIns } from './sign-in-identity.ts';
import { sendToSubgraph } from './subgraph-client.ts';
import { WriteBudget, writeBudgetDefaults, writeBudgetPlugin } from './write-budget.ts';

/** What the gateway knows about a request. */
export interface GatewayContext {
  /** Verified here, once, before any subgraph is called; null for an anonymous request. */
  viewer: Identity | null;
  /** The client's address (behind NGINX: from X-Forwarded-For), for login throttling. */
  clientAddress: string | undefined;
  /** The request's id (from NGINX's X-Request-Id), passed on so that subgraphs log it too. */
  requestId: string;
  /** When (epoch ms) the operation's subgraph requests must be done; none if absent. */
  deadline?: number;
  /** Set when the response cache runs an operation again to refresh its entry. */
  refreshingCache?: boolean;
}

/**
 * Carries what the data source knows from the context to the fetch, where the body is
 * final and can be signed. Never sent: the fetcher replaces it with the assertion.
 */
const forwardedHeader = 'x-ticketing-forwarded';
/** Carries the operation's deadline to the fetch the same way; never sent either. */
const deadlineHeader = 'x-ticketing-deadline';

type ProcessOptions = Parameters<RemoteGraphQLDataSource<GatewayContext>['process']>[0];

/** Where in the client's response a fetch's answer goes; undefined outside an operation. */
const pathOf = (options: ProcessOptions) =>
  'pathInIncomingRequest' in options ? options.pathInIncomingRequest : undefined;

/**
 * Calls one subgraph, each request carrying a fresh assertion of the caller's identity,
 * signed with that subgraph's secret and bound to the body sent (see gateway-assertion.ts
 * in the platform package). Subgraphs never see the caller's access token. The caller is
 * the request's, or, under a sign-in's root field, the person who signed in
 * (sign-in-identity.ts).
 */
class SignedDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  readonly #subgraph: SubgraphName;
  readonly #inflight: InflightQueries | undefined;
  readonly #shared: ReturnType<ReturnType<typeof sharedSubgraphFetchMetrics>['labels']>;
  /** Given to the users subgraph's source alone: no other subgraph can name who signed in. */
  readonly #signIns: { accessTokens: AccessTokens; logger: Logger } | undefined;

  constructor(
    subgraph: SubgraphName,
    url: string,
    secret: string,
    deduplicate: boolean,
    timeoutMs: number,
    signIns?: { accessTokens: AccessTokens; logger: Logger },
  ) {
    super({ url });
    this.#subgraph = subgraph;
    this.#signIns = signIns;
    this.#inflight = deduplicate ? new InflightQueries() : undefined;
    this.#shared = sharedSubgraphFetchMetrics().labels({ subgraph });
    this.fetcher = async (input, init) => {
      const {
        [forwardedHeader]: forwarded,
        [deadlineHeader]: deadline,
        ...headers
      } = (init?.headers ?? {}) as Record<string, string>;
      // The subgraph's own deadline, or what is left of the operation's if that is sooner.
      // A subgraph that does not answer in time is treated as unreachable: its fields fail
      // with SERVICE_UNAVAILABLE, and the others still answer.
      const left = deadline ? Number(deadline) - Date.now() : timeoutMs;
      const signal = AbortSignal.timeout(Math.max(0, Math.min(timeoutMs, left)));
      const body = typeof init?.body === 'string' ? init.body : '';
      const request: ForwardedRequest = forwarded ? JSON.parse(forwarded) : { viewer: null };
      Object.assign(headers, signedSubgraphHeaders({ ...request, secret, subgraph, body }));
      injectTraceContext(headers);
      // undici's request API over keep-alive connections, instead of the default
      // make-fetch-happen (a stack trace captured on every request) or Node's fetch (the
      // whole WHATWG fetch algorithm per request): subgraph-client.ts, docs/BENCHMARKS.md.
      try {
        return await sendToSubgraph(input, { ...init, headers, signal });
      } catch (error) {
        throw new SubgraphUnreachableError(subgraph, error);
      }
    };
  }

  override async process(options: ProcessOptions) {
    // An operation's root mutation fields run one after another, and stop at the first that
    // fails at a non-null field, as they do within one subgraph: the gateway sends each
    // subgraph's run of them as a fetch of its own, and would send the next whatever the
    // one before answered, writing behind an answer of null.
    const { context, request } = options;
    if (context && isMutation(request.query)) {
      return serialMutationFetch(context, this.#subgraph, () => this.#answer(options));
    }
    return this.#answer(options);
  }

  async #answer(options: ProcessOptions) {
    try {
      const response = await this.#process(options);
      if (this.#signIns) {
        await takeSignIns(
          {
            context: options.context,
            incomingRequestContext:
              'incomingRequestContext' in options ? options.incomingRequestContext : undefined,
            pathInIncomingRequest: pathOf(options),
          },
          response,
          this.#signIns.accessTokens,
          this.#signIns.logger,
        );
      }
      assertPlaceable(this.#subgraph, response, options.request.variables);
      return response;
    } catch (error) {
      // No GraphQL answer: the fields this fetch was to fill in are named in the errors
      // (failed-fields.ts). A new error each time: a shared fetch fails for each request.
      if (!('pathInIncomingRequest' in options) || !options.pathInIncomingRequest) throw error;
      if (!options.request.query) throw error;
      throw new FailedFetch(
        error,
        options.pathInIncomingRequest,
        fetchedFields(options.document ?? options.request.query),
      );
    }
  }

  async #process(options: ProcessOptions) {
    const { request, context } = options;
    if (context) subgraphFetched(context, this.#subgraph);
    if (!this.#inflight || !request.query || !isQuery(request.query)) return super.process(options);
    // Shared only between fetches that run as the same person.
    const viewer = callerOf(context, pathOf(options));
    const key = JSON.stringify([
      request.query,
      request.operationName ?? null,
      request.variables ?? null,
      viewer ? [viewer.userId, viewer.role, viewer.sessionId] : null,
    ]);
    let joined = false;
    const response = await this.#inflight.share(
      key,
      () => super.process(options),
      (sentAt) => {
        joined = true;
        this.#shared.inc();
        if (context) sharedSubgraphFetch(context, sentAt);
      },
    );
    // Apollo applies a subgraph's Cache-Control to the request that sent the fetch only. A
    // request that joined it holds the same data, under the same policy: without it, a
    // joiner's answer would take its other fetches' (longer) max-age, or none at all.
    if (joined && 'incomingRequestContext' in options) {
      options.incomingRequestContext.overallCachePolicy.restrict(
        subgraphCacheHint(response.http?.headers.get('cache-control')),
      );
    }
    return response;
  }

  override willSendRequest(options: ProcessOptions) {
    const { request, context } = options;
    const forwarded: ForwardedRequest = {
      viewer: callerOf(context, pathOf(options)),
      clientAddress: context?.clientAddress,
      requestId: context?.requestId,
    };
    request.http?.headers.set(forwardedHeader, JSON.stringify(forwarded));
    if (context?.deadline) request.http?.headers.set(deadlineHeader, String(context.deadline));
    // Also in the clear, for the subgraph's access log before the assertion is checked.
    if (context?.requestId) request.http?.headers.set('x-request-id', context.requestId);
  }
}

type CacheHint = Parameters<
  GraphQLRequestContext<GatewayContext>['overallCachePolicy']['restrict']
>[0];

/**
 * A subgraph's Cache-Control header as a cache hint, read as `@apollo/gateway` reads it for
 * the request that sent the fetch: no `max-age` is 0 (not cacheable), and `private` wins.
 */
export function subgraphCacheHint(header: string | null | undefined): CacheHint {
  const directives = new Map(
    (header ?? '').split(',').map((part) => {
      const [name = '', value] = part.trim().toLowerCase().split('=');
      return [name, value] as const;
    }),
  );
  const maxAge = directives.get('max-age');
  const hint: CacheHint = { maxAge: maxAge && /^[0-9]+$/.test(maxAge) ? Number(maxAge) : 0 };
  if (directives.has('private')) hint.scope = 'PRIVATE';
  else if (directives.has('public')) hint.scope = 'PUBLIC';
  return hint;
}

/**
 * The gateway's defaults, written once: `GatewayOptions` falls back to them, and the
 * environment's settings (main.ts) default to them.
 */
export const gatewayDefaults = {
  cacheSizes: { documentsMiB: 8, queryPlansMiB: 8 },
  deduplicateInflight: true,
  maxDocumentBytes: defaultMaxDocumentBytes,
  subgraphTimeoutMs: 15_000,
} as const;

export interface GatewayOptions {
  supergraphSdl: string;
  /** Subgraph URLs by name, overriding those recorded in the supergraph. */
  subgraphUrls: Partial<Record<string, string>>;
  /** Each subgraph's own secret, to sign what the gateway forwards to it. */
  subgraphSecrets: Record<SubgraphName, string>;
  /** Apollo Sandbox on the landing page in development; a static page in production. */
  production: boolean;
  /**
   * Where automatic persisted queries are kept. Shared (Redis) so that a hash registered
   * through one instance is found through the other; this process's memory otherwise.
   */
  persistedQueriesCache?: KeyValueCache<string>;
  /**
   * Safelist mode: only the manifest's operations run, sent as text or by id, and
   * nothing can be registered. Off (undefined) by default.
   */
  safelist?: PersistedQueryManifest | undefined;
  plugins?: ApolloServerPlugin<GatewayContext>[];
  /**
   * The parsed-and-validated document cache and the query plan cache, in MiB of the heap
   * their entries hold (heap-weight.ts; Apollo weighs them by JSON length, several times
   * less): 8 each by default, so that a gateway's memory levels off under endless distinct
   * operations (docs/BENCHMARKS.md, P5b).
   */
  cacheSizes?: { documentsMiB: number; queryPlansMiB: number };
  /**
   * The response cache shared by every gateway through Redis (response-cache.ts), for
   * anonymous queries; off when undefined.
   */
  responseCache?: Omit<ResponseCacheOptions, 'refresh'> | undefined;
  /** Send identical subgraph queries in flight at once only once (default on). */
  deduplicateInflight?: boolean;
  /**
   * The largest document, in bytes, that the persisted-query store keeps (default 8 KiB;
   * the HTTP layer refuses larger documents before Apollo sees them).
   */
  maxDocumentBytes?: number;
  /**
   * The deadline of one subgraph request, in ms; the context's `deadline` may cut it
   * shorter. @default 15_000
   */
  subgraphTimeoutMs?: number;
  /**
   * When new passwords (sign-ups, password changes) are refused here without reaching the
   * users service: for a second after it refused one for a full hashing queue.
   */
  newPasswordAdmission?: NewPasswordAdmission;
  /**
   * What each signed-in account may write (write-budget.ts); by default
   * `writeBudgetDefaults`, counted in this process alone.
   */
  writeBudget?: WriteBudget;
  /**
   * What verifies bearer tokens, to verify the access token a sign-in issued, so that the
   * fields under it are fetched as the person who signed in (sign-in-identity.ts). Without
   * it they are fetched as the request's caller.
   */
  accessTokens?: AccessTokens;
  /** Where masked errors are logged with their detail. */
  logger: Logger;
}

/**
 * Limits every operation must pass before it is planned or executed. Comfortably above
 * what the committed client operations need (a test checks them), and well below what
 * abuse needs: 7 levels, 15 aliases, 50 directives, 1000 tokens, and a cost of 20 000
 * (graphql-armor's estimate, each page counted at the size asked for, in the document, a
 * variable or by default; the wallet query at the largest page, 100 tickets each with its
 * event, organizer and tier, costs about 11 100).
 */
export const operationLimits = {
  // Levels of fields, as they run: graphql-armor otherwise counts a fragment spread as two
  // levels and an inline fragment as one, and refuses operations written with fragments.
  maxDepth: { n: 7, flattenFragments: true },
  // graphql-armor lets `__typename` aliases through by default; they count like any other.
  maxAliases: { n: 15, allowList: [] as string[] },
  maxDirectives: { n: 50 },
  maxTokens: { n: 1000 },
  costLimit: { maxCost: 20_000 },
} as const;

/** Apollo Server's cache of parsed and validated documents, `maxMiB` of heap at most. */
export function documentStore(maxMiB: number): HeapBoundedCache<DocumentNode> {
  return new HeapBoundedCache<DocumentNode>(maxMiB * 2 ** 20);
}

/** The gateway's Apollo Server, not yet listening. */
export function createGatewayServer(options: GatewayOptions): ApolloServer<GatewayContext> {
  // graphql-armor: the limits as validation rules and plugins. In production, suggestions
  // ("Did you mean …?") are dropped from every message by `withoutSuggestions`, so that
  // errors do not map the schema; graphql-armor's own mask is off: it rewrote messages
  // before input-hygiene.ts could write them again without the variable's value, which was
  // then echoed whole, password included, and left "[Suggestion hidden]?" in its place.
  const { maxTokens, costLimit, ...validationLimits } = operationLimits;
  const armor = new ApolloArmor({
    ...validationLimits,
    // Counted with the variables, before planning (listCostPlugin): as a validation rule it
    // sees no variables, and counted a page whose size is in one as one item.
    costLimit: { enabled: false },
    // The parser enforces the token limit itself (parseOptions below): graphql-armor's own
    // check re-parses in a plugin hook, where a plain syntax error became an HTTP 500.
    maxTokens: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  }).protect();
  // @apollo/gateway reports anonymous usage data to Apollo's servers unless the process
  // starts with APOLLO_TELEMETRY_DISABLED=true: whatever starts a gateway sets it (the
  // image's ENV, scripts/topology.ts, the gateway's start script, vitest.config.ts).
  // Apollo Gateway's and Apollo Server's own messages are lines of the gateway's log.
  const logger = apolloLogger(options.logger);
  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl,
    logger,
    // The default plan cache, counting its hits and misses for /metrics.
    queryPlannerConfig: {
      cache: new CountingQueryPlanCache(
        options.cacheSizes?.queryPlansMiB ?? gatewayDefaults.cacheSizes.queryPlansMiB,
      ),
    },
    buildService: ({ name, url }) => {
      const subgraph = name as SubgraphName;
      const secret = options.subgraphSecrets[subgraph];
      if (!secret) throw new Error(`The supergraph names an unknown subgraph: ${name}`);
      return new SignedDataSource(
        subgraph,
        options.subgraphUrls[name] ?? url ?? '',
        secret,
        options.deduplicateInflight ?? gatewayDefaults.deduplicateInflight,
        options.subgraphTimeoutMs ?? gatewayDefaults.subgraphTimeoutMs,
        subgraph === 'users' && options.accessTokens
          ? { accessTokens: options.accessTokens, logger: options.logger }
          : undefined,
      );
    },
  });
  gateway.onSchemaLoadOrUpdate(({ apiSchema }) => checkScalars(apiSchema));
  // The response cache refreshes a hot entry by running its operation here, anonymously,
  // off any client's path, within the same deadline as a client's subgraph requests.
  let server: ApolloServer<GatewayContext> | undefined;
  const refresh: ResponseCacheOptions['refresh'] = async (request) =>
    server?.executeOperation(request, {
      contextValue: {
        viewer: null,
        clientAddress: undefined,
        requestId: randomUUID(),
        deadline: Date.now() + (options.subgraphTimeoutMs ?? 15_000),
        refreshingCache: true,
      },
    });
  server = new ApolloServer<GatewayContext>({
    logger,
    // The gateway whose failed fetches name the fields they left null (failed-fields.ts).
    gateway: {
      async load(loadOptions) {
        const { schema, executor } = await gateway.load(loadOptions);
        return { schema, executor: namingFailedFields(executor) };
      },
      onSchemaLoadOrUpdate: (callback) => gateway.onSchemaLoadOrUpdate(callback),
      stop: () => gateway.stop(),
    },
    includeStacktraceInErrorResponses: false,
    documentStore: documentStore(
      options.cacheSizes?.documentsMiB ?? gatewayDefaults.cacheSizes.documentsMiB,
    ),
    // The service handles SIGTERM and drains (platform's serveGraphQL), not Apollo.
    stopOnTerminationSignals: false,
    formatError: options.production
      ? withoutSuggestions(maskSubgraphErrors(options.logger))
      : maskSubgraphErrors(options.logger),
    allowBatchedHttpRequests: false,
    introspection: !options.production,
    persistedQueries: options.safelist
      ? { cache: manifestStore(options.safelist), ttl: null }
      : {
          // Anonymous clients write into this store: never a document over the limit.
          cache: boundedDocumentStore(
            options.persistedQueriesCache ?? new InMemoryLRUCache<string>(),
            options.maxDocumentBytes ?? gatewayDefaults.maxDocumentBytes,
          ),
          ...(options.persistedQueriesCache ? { ttl: 24 * 60 * 60 } : {}),
        },
    validationRules: armor.validationRules,
    parseOptions: { maxTokens: maxTokens.n },
    plugins: [
      // Written for any context; they never read ours.
      ...(armor.plugins as ApolloServerPlugin<GatewayContext>[]),
      ...(options.safelist ? [safelistPlugin<GatewayContext>(options.safelist)] : []),
      listCostPlugin<GatewayContext>(costLimit),
      passwordFieldsPlugin<GatewayContext>(),
      passwordAdmissionPlugin<GatewayContext>(
        options.newPasswordAdmission ?? new NewPasswordAdmission(),
      ),
      inputHygienePlugin<GatewayContext>(),
      writeBudgetPlugin<GatewayContext>(
        options.writeBudget ?? new WriteBudget(writeBudgetDefaults),
      ),
      privateForViewersPlugin<GatewayContext>(),
      ...(options.responseCache
        ? [responseCachePlugin<GatewayContext>({ ...options.responseCache, refresh })]
        : []),
      ...(options.plugins ?? []),
      options.production
        ? ApolloServerPluginLandingPageProductionDefault({ footer: false })
        : linkingExplorer(
            ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false }),
          ),
    ],
  });
  return server;
}

/**
 * Apollo's development landing page, whose offline notice also points to the local explorer
 * (explorer.ts): Sandbox itself loads from Apollo's CDN.
 */
function linkingExplorer(
  plugin: ApolloServerPlugin<GatewayContext>,
): ApolloServerPlugin<GatewayContext> {
  const link = `<p>The <a href="${explorerPath}">local explorer</a> works offline.</p>`;
  return {
    async serverWillStart(service) {
      const listener = await plugin.serverWillStart?.(service);
      const render = listener?.renderLandingPage;
      if (!listener || !render) return listener;
      return {
        ...listener,
        async renderLandingPage() {
          const { html } = await render.call(listener);
          const text = typeof html === 'string' ? html : await html();
          return {
            html: text.replace(/(it appears that you might be offline\.<\/p>)/, `$1\n  ${link}`),
          };
        },
      };
    },
  };
}

/** Identifies the served supergraph in readiness reports: the same hash means the same schema. */
export function supergraphHash(supergraphSdl: string): string {
  return createHash('sha256').update(supergraphSdl).digest('hex').slice(0, 16);
}
