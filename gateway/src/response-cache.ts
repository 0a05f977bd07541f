// The gateways' response cache: whole responses of anonymous queries, shared by every
// gateway through Redis, with invalidation by tag versions (see response-cache.ts in the
// platform package for the tags and who bumps them).
//
// - What: a query whose caller is anonymous, whose response has no errors, and whose
//   policy (the shortest max-age of its fields, from the subgraphs' @cacheControl hints
//   through their Cache-Control headers) is public and above 0. Anything a viewer sends is
//   never read from or written to the cache.
// - How long: the policy's max-age (events and organizers 30 s, availability 1 s), as the
//   entry's expiry in Redis, so no entry outlives it, whatever happens to a subgraph.
// - Invalidation: an entry remembers the tag versions read before its query ran. A newer
//   `events` version makes it unusable at once; a newer `stock` version, or a quarter of
//   its max-age gone, makes the gateway run the query again in the background (one request
//   at a time, holding a short lock in Redis), while every client is still served the entry.
// - Filling: without a usable entry (none, expired or invalidated), one request takes the
//   lock and asks the subgraphs; the others wait for its entry up to 500 ms, then ask the
//   subgraphs themselves. A crowd on one page costs one subgraph round, not one each.
// - Failure: every Redis command has the connection's deadline (250 ms); a failed lookup
//   sends the request to the subgraphs, and a failed write is dropped.
import { createHash } from 'node:crypto';
import type {
  ApolloServerPlugin,
  BaseContext,
  GraphQLRequestContext,
  GraphQLRequestListener,
} from '@apollo/server';
import {
  type Logger,
  type ResponseCacheTag,
  responseCacheMetrics,
  responseCacheTagKey,
  responseCacheTags,
} from '@ticketing/platform';
import type { Redis } from 'ioredis';

interface CacheEntry {
  data: Record<string, unknown>;
  /** When (epoch ms) the query that made it started. */
  at: number;
  maxAge: number;
  /** The tag versions read before the query ran. */
  tags: Record<ResponseCacheTag, string | null>;
}

type Lookup =
  | { kind: 'skip' }
  /** Redis did not answer in time: the subgraphs answer, and nothing is stored. */
  | { kind: 'bypass' }
  | { kind: 'hit' }
  | {
      kind: 'miss';
      key: string;
      at: number;
      tags: Record<ResponseCacheTag, string | null>;
    };

export interface ResponseCacheOptions {
  redis: Redis;
  /** Prefixes every key (CACHE_NAMESPACE). */
  namespace: string;
  /** Part of every key, so that a new supergraph never reads the old one's entries. */
  schemaId: string;
  logger: Logger;
  /**
   * How long one request may hold the right to refresh an entry, in ms; past it, another
   * may. @default 1_000
   */
  refreshLockMs?: number;
  /**
   * How long a request without a usable entry waits for the one that is filling it, in
   * ms, before it asks the subgraphs itself. @default 500
   */
  fillWaitMs?: number;
  /**
   * Runs an anonymous operation again, off any client's path, with `refreshingCache` set
   * in its context, so that its answer replaces the entry. Without it, the request that
   * takes the refresh lock goes to the subgraphs itself.
   */
  refresh?: (request: {
    query: string;
    operationName?: string;
    variables?: Record<string, unknown>;
  }) => Promise<unknown>;
}

/** What the cache reads from the gateway's context. */
export interface CacheableContext extends BaseContext {
  viewer: unknown;
  /** Set on a background refresh: its answer is stored, never read from the cache. */
  refreshingCache?: boolean;
}

/**
 * Marks every response to a caller with a token `private` in its Cache-Control header, so
 * that no shared cache in front of the gateways keeps it: the subgraphs' hints say how
 * long a field may be cached, not who may see it.
 */
export function privateForViewersPlugin<
  TContext extends BaseContext & { viewer: unknown },
>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart({ contextValue }) {
      if (contextValue.viewer === null) return;
      return {
        async didResolveOperation({ overallCachePolicy }) {
          overallCachePolicy.restrict({ scope: 'PRIVATE' });
        },
      };
    },
  };
}

/** The cache as an Apollo Server plugin: it answers hits before the query is planned. */
export function responseCachePlugin<TContext extends CacheableContext>(
  options: ResponseCacheOptions,
): ApolloServerPlugin<TContext> {
  const { redis, namespace, schemaId, logger } = options;
  const refreshLockMs = options.refreshLockMs ?? 1_000;
  const fillWaitMs = options.fillWaitMs ?? 500;
  const metrics = responseCacheMetrics();
  const tagKeys = responseCacheTags.map((tag) => responseCacheTagKey(namespace, tag));

  const entryKey = (context: GraphQLRequestContext<TContext>) =>
    `${namespace}:response-cache:entry:${createHash('sha256')
      .update(
        JSON.stringify([
          schemaId,
          context.queryHash,
          context.operationName ?? null,
          context.request.variables ?? {},
        ]),
      )
      .digest('base64url')}`;

  const takeLock = (key: string) =>
    redis
      .set(`${key}:refresh`, '1', 'PX', refreshLockMs, 'NX')
      .then((answer) => answer === 'OK')
      .catch(() => false);

  /**
   * Takes the fill lock of `key` and resolves to undefined (this request fills the entry),
   * or, when another request holds it, waits up to `fillWaitMs` for a usable entry to
   * appear, and resolves to it (undefined if none came in time: the request asks the
   * subgraphs itself).
   */
  async function awaitFill(
    key: string,
    usable: (entry: CacheEntry) => boolean,
  ): Promise<CacheEntry | undefined> {
    if (await takeLock(key)) return undefined;
    const deadline = Date.now() + fillWaitMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const [stored, filling] = await redis
        .mget(key, `${key}:refresh`)
        .catch(() => [null, null] as (string | null)[]);
      const entry = stored ? (JSON.parse(stored) as CacheEntry) : undefined;
      if (entry && usable(entry)) return entry;
      // The filler is done and stored nothing usable (errors, or nothing cacheable).
      if (!filling) return undefined;
    }
    return undefined;
  }

  async function lookUp(
    context: GraphQLRequestContext<TContext>,
  ): Promise<{ lookup: Lookup; entry?: CacheEntry }> {
    if (context.operation?.operation !== 'query' || context.contextValue.viewer !== null) {
      return { lookup: { kind: 'skip' } };
    }
    const key = entryKey(context);
    const at = Date.now();
    let values: (string | null)[];
    try {
      values = await redis.mget(key, ...tagKeys);
    } catch {
      metrics.lookups.inc({ result: 'miss', reason: 'error' });
      return { lookup: { kind: 'bypass' } };
    }
    const [stored, ...versions] = values;
    const tags = Object.fromEntries(
      responseCacheTags.map((tag, index) => [tag, versions[index] ?? null]),
    ) as Record<ResponseCacheTag, string | null>;
    const miss = (reason: string): { lookup: Lookup } => {
      metrics.lookups.inc({ result: 'miss', reason });
      return { lookup: { kind: 'miss', key, at, tags } };
    };
    if (context.contextValue.refreshingCache) return miss('refresh');
    const usable = (entry: CacheEntry) =>
      entry.tags.events === tags.events && Date.now() - entry.at < entry.maxAge * 1_000;
    // Without a usable entry, one request fills it and the others wait for that, briefly,
    // instead of all asking the subgraphs at once.
    const fill = async (reason: string) => {
      const waited = await awaitFill(key, usable);
      if (!waited) return miss(reason);
      metrics.lookups.inc({ result: 'hit', reason: 'filled' });
      return { lookup: { kind: 'hit' } as Lookup, entry: waited };
    };
    if (!stored) return fill('absent');
    const entry = JSON.parse(stored) as CacheEntry;
    if (entry.tags.events !== tags.events) {
      metrics.invalidated.inc();
      return fill('invalidated');
    }
    const age = at - entry.at;
    if (age >= entry.maxAge * 1_000) return fill('expired');
    // A hot entry is refreshed long before it expires, so that a crowd never finds it gone.
    if (entry.tags.stock !== tags.stock || age >= (entry.maxAge * 1_000) / 4) {
      // One request refreshes it; the others go on with the entry, within its max-age.
      const won = await takeLock(key);
      if (won && !options.refresh) return miss('refresh');
      if (won && context.source) {
        // The answer comes from the entry, still within its max-age; the refresh runs
        // behind it, so that no client waits for the subgraphs.
        options
          .refresh?.({
            query: context.source,
            ...(context.request.operationName
              ? { operationName: context.request.operationName }
              : {}),
            ...(context.request.variables ? { variables: context.request.variables } : {}),
          })
          .catch((error: unknown) =>
            logger.warn({ err: error }, 'could not refresh a cached response'),
          );
      }
    }
    metrics.lookups.inc({ result: 'hit', reason: '' });
    return { lookup: { kind: 'hit' }, entry };
  }

  function store(lookup: Lookup & { kind: 'miss' }, context: GraphQLRequestContext<TContext>) {
    const { response, overallCachePolicy } = context;
    if (response.body?.kind !== 'single') return;
    const { data, errors } = response.body.singleResult;
    const policy = overallCachePolicy.policyIfCacheable();
    if (errors || !data || !policy || policy.scope === 'PRIVATE') {
      // Whoever waits for this fill goes on at once.
      redis.del(`${lookup.key}:refresh`).catch(() => 0);
      return;
    }
    const entry: CacheEntry = { data, at: lookup.at, maxAge: policy.maxAge, tags: lookup.tags };
    // Not awaited: a slow Redis must not delay the answer. The refresh lock goes with it,
    // so that the next stock move is refreshed at once, not after the lock's expiry.
    redis
      .multi()
      .set(lookup.key, JSON.stringify(entry), 'PX', policy.maxAge * 1_000)
      .del(`${lookup.key}:refresh`)
      .exec()
      .then(
        () => metrics.stores.inc({ outcome: 'stored' }),
        (error: unknown) => {
          metrics.stores.inc({ outcome: 'failed' });
          logger.debug({ err: error }, 'could not store a response in the cache');
        },
      );
  }

  return {
    async requestDidStart(): Promise<GraphQLRequestListener<TContext>> {
      let lookup: Lookup = { kind: 'skip' };
      return {
        async responseForOperation(context) {
          const found = await lookUp(context);
          lookup = found.lookup;
          if (!found.entry) return null;
          const { entry } = found;
          const ageSeconds = Math.floor((Date.now() - entry.at) / 1_000);
          // Apollo's cache-control plugin writes the Cache-Control header from this.
          context.overallCachePolicy.replace({
            maxAge: Math.max(0, entry.maxAge - ageSeconds),
            scope: 'PUBLIC',
          });
          return {
            http: context.response.http,
            body: { kind: 'single', singleResult: { data: entry.data } },
          };
        },
        async willSendResponse(context) {
          if (lookup.kind === 'skip') return;
          context.response.http.headers.set('x-cache', lookup.kind.toUpperCase());
          if (lookup.kind === 'miss') store(lookup, context);
        },
      };
    },
  };
}
