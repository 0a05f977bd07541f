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
//   `events` version makes it unusable at once, unless it holds known events and no
//   listing (one event's page): it then remembers those events' own versions, and only a
//   change to one of them makes it unusable; a newer `stock` version, or a quarter of
//   its max-age gone, makes the gateway run the query again in the background (one request
//   at a time, holding a short lock in Redis), while every client is still served the entry.
// - Filling: without a usable entry (none, expired or invalidated), one request takes the
//   lock and asks the subgraphs; the others wait for its entry up to 500 ms, then ask the
//   subgraphs themselves. A crowd on one page costs one subgraph round, not one each.
// - Failure: every Redis command has the connection's deadline (250 ms); a failed lookup
//   sends the request to the subgraphs, and a failed write is dropped.
// - First level: a fresh entry (current tag versions, less than a quarter of its max-age
//   old) is also kept in this gateway's memory (local-response-cache.ts) for its max-age
//   at most, dropped by the invalidations published through Redis, and served from there
//   with no Redis round trip, before Apollo parses anything (`earlyHitMiddleware`).
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
  responseCacheEventKey,
  responseCacheEventVersionTtlMs,
  responseCacheMetrics,
  responseCacheStartVersionLua,
  responseCacheTagKey,
  responseCacheTags,
} from '@ticketing/platform';
import type express from 'express';
import {
  type DocumentNode,
  type GraphQLSchema,
  getNamedType,
  getNullableType,
  getVariableValues,
  isInputType,
  isListType,
  Kind,
  type SelectionSetNode,
  TypeInfo,
  typeFromAST,
  valueFromAST,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import type { Redis } from 'ioredis';
import type { LocalEntry, LocalResponseCache } from './local-response-cache.ts';

/**
 * The fraction of its max-age after which an entry is refreshed in the background (the
 * first level then sends one request on to Redis for that).
 */
const refreshAfter = 1 / 4;

/**
 * Reads the `events` tag's version (KEYS[1]) and each event's own (the other keys), in one
 * step, giving an event without one (unchanged for a day, or its key evicted or flushed)
 * the tag's version now. An entry is so never stamped with an absence: its key lost later
 * (evicted under memory pressure, flushed) makes it unusable, where an absence stamped would
 * match again once a change had set the key and lost it, bringing the old page back.
 */
const stampScript = `${responseCacheStartVersionLua}
local tag = redis.call('GET', KEYS[1]) or started(KEYS[1])
local versions = { tag }
for index = 2, #KEYS do
  local version = redis.call('GET', KEYS[index])
  if not version then
    version = tag
    redis.call('SET', KEYS[index], version, 'PX', ARGV[1])
  end
  versions[index] = version
end
return versions
`;

/**
 * Reads the tag versions (KEYS), giving one that is missing a value to count from
 * (`responseCacheStartVersionLua`): an entry is never stamped with a tag's absence, which
 * would match again once a change had set the key and it was lost again.
 */
const tagsScript = `${responseCacheStartVersionLua}
local versions = {}
for index = 1, #KEYS do
  versions[index] = redis.call('GET', KEYS[index]) or started(KEYS[index])
end
return versions
`;

interface CacheEntry {
  data: Record<string, unknown>;
  /** When (epoch ms) the query that made it started. */
  at: number;
  maxAge: number;
  /** The tag versions read before the query ran. */
  tags: Record<ResponseCacheTag, string | null>;
  /**
   * Whether it holds what a stock move may change (anything from the tickets service);
   * absent (an entry stored before this was kept) counts as true.
   */
  stock?: boolean;
  /**
   * For an entry that holds known events and no listing: each of its events' version (by
   * id) when it was stored. It then depends on these, not on the `events` tag, so that
   * another event's change leaves it.
   */
  events?: Record<string, string | null>;
}

/** What an entry holds that an event change may alter. */
interface Dependencies {
  /** Every id in it: its events, and more (tiers, organizers), which costs nothing. */
  eventIds: string[];
  /** Whether a root field is a listing (or null: an event not found may appear). */
  listing: boolean;
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
      /** The first level's generation before the lookup read Redis. */
      generation: number | undefined;
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
  /** This gateway's first level, in front of Redis; none when undefined. */
  local?: LocalResponseCache | undefined;
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
  /** Set on the start-up warm-up (warm-up.ts): neither read from the cache nor stored. */
  warmingUp?: boolean;
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
  const { local } = options;
  const metrics = responseCacheMetrics();
  const tagKeys = responseCacheTags.map((tag) => responseCacheTagKey(namespace, tag));
  const eventsTagKey = responseCacheTagKey(namespace, 'events');
  const eventKey = (id: string) => responseCacheEventKey(namespace, id);

  /**
   * Whether nothing `entry` depends on changed since it was stored: its events' own
   * versions (one more Redis read), or for a listing the `events` tag's version, read
   * with the entry.
   */
  async function current(entry: CacheEntry, eventsVersion: string | null): Promise<boolean> {
    // Redis refused an event change's bump since this entry's query started: its versions
    // say nothing of that change.
    if (local && entry.at <= local.refusedAt) return false;
    const { events } = entry;
    if (!events) return entry.tags.events === eventsVersion;
    const ids = Object.keys(events);
    if (ids.length === 0) return entry.tags.events === eventsVersion;
    const versions = await redis.mget(...ids.map(eventKey));
    return ids.every((id, index) => (versions[index] ?? null) === events[id]);
  }

  /**
   * Stamps an entry holding known events and no listing with their versions, read now (an
   * event without one is given the tag's, `stampScript`).
   * Resolves to false when an event changed since its query started (the `events` tag
   * moved): the answer may predate that change, so it is not stored.
   */
  async function stampEvents(entry: CacheEntry, { eventIds, listing }: Dependencies) {
    if (listing || eventIds.length === 0) return true;
    const [eventsVersion, ...versions] = (await redis.eval(
      stampScript,
      1 + eventIds.length,
      eventsTagKey,
      ...eventIds.map(eventKey),
      responseCacheEventVersionTtlMs,
    )) as (string | null)[];
    if ((eventsVersion ?? null) !== entry.tags.events) return false;
    entry.events = Object.fromEntries(eventIds.map((id, index) => [id, versions[index] ?? null]));
    return true;
  }

  const entryKey = (context: GraphQLRequestContext<TContext>) =>
    responseCacheKey(namespace, schemaId, {
      queryHash: context.queryHash,
      operationName: context.request.operationName,
      variables: answerVariables(context),
    });

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
    usable: (entry: CacheEntry) => Promise<boolean>,
  ): Promise<CacheEntry | undefined> {
    if (await takeLock(key)) return undefined;
    const deadline = Date.now() + fillWaitMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const [stored, filling] = await redis
        .mget(key, `${key}:refresh`)
        .catch(() => [null, null] as (string | null)[]);
      const entry = stored ? (JSON.parse(stored) as CacheEntry) : undefined;
      if (entry && (await usable(entry).catch(() => false))) return entry;
      // The filler is done and stored nothing usable (errors, or nothing cacheable).
      if (!filling) return undefined;
    }
    return undefined;
  }

  async function lookUp(
    context: GraphQLRequestContext<TContext>,
  ): Promise<{ lookup: Lookup; entry?: CacheEntry }> {
    if (
      context.operation?.operation !== 'query' ||
      context.contextValue.viewer !== null ||
      context.contextValue.warmingUp
    ) {
      return { lookup: { kind: 'skip' } };
    }
    const key = entryKey(context);
    if (!context.contextValue.refreshingCache) {
      const held = local?.get(key, { refreshAfter, claim: true });
      if (held) {
        metrics.lookups.inc({ result: 'hit', reason: 'local' });
        return { lookup: { kind: 'hit' }, entry: fromLocal(held) };
      }
    }
    const generation = local?.generation;
    const at = Date.now();
    let values: (string | null)[];
    try {
      values = await redis.mget(key, ...tagKeys);
      if (values.slice(1).includes(null)) {
        // A tag's version missing (never set, evicted, flushed): started, and read again.
        values = [
          values[0] ?? null,
          ...((await redis.eval(tagsScript, tagKeys.length, ...tagKeys)) as string[]),
        ];
      }
    } catch {
      metrics.lookups.inc({ result: 'miss', reason: 'error' });
      return { lookup: { kind: 'bypass' } };
    }
    tagsReadAt.set(context.contextValue, performance.now());
    const [stored, ...versions] = values;
    const tags = Object.fromEntries(
      responseCacheTags.map((tag, index) => [tag, versions[index] ?? null]),
    ) as Record<ResponseCacheTag, string | null>;
    const miss = (reason: string): { lookup: Lookup } => {
      metrics.lookups.inc({ result: 'miss', reason });
      return { lookup: { kind: 'miss', key, at, tags, generation } };
    };
    if (context.contextValue.refreshingCache) return miss('refresh');
    const usable = async (entry: CacheEntry) =>
      Date.now() - entry.at < entry.maxAge * 1_000 && (await current(entry, tags.events));
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
    let unchanged: boolean;
    try {
      unchanged = await current(entry, tags.events);
    } catch {
      metrics.lookups.inc({ result: 'miss', reason: 'error' });
      return { lookup: { kind: 'bypass' } };
    }
    if (!unchanged) {
      metrics.invalidated.inc();
      return fill('invalidated');
    }
    const age = at - entry.at;
    if (age >= entry.maxAge * 1_000) return fill('expired');
    // A hot entry is refreshed long before it expires, so that a crowd never finds it gone.
    const stockMoved = entry.stock !== false && entry.tags.stock !== tags.stock;
    if (stockMoved || age >= entry.maxAge * 1_000 * refreshAfter) {
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
    } else if (generation !== undefined) {
      // Fresh: this gateway may serve it from memory until it is invalidated or due.
      local?.set(
        key,
        toLocal(entry, dependencies(entry.data, context.document, context.schema)),
        generation,
      );
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
    // Data a shared subgraph fetch brought from before the tag versions were read may
    // predate a change they count: the answer goes to its client, not into the cache.
    if (fetchedBeforeTags.has(context.contextValue)) {
      metrics.stores.inc({ outcome: 'raced' });
      redis.del(`${lookup.key}:refresh`).catch(() => 0);
      return;
    }
    const entry: CacheEntry = {
      data,
      at: lookup.at,
      maxAge: policy.maxAge,
      tags: lookup.tags,
      stock: stockFetched.has(context.contextValue),
    };
    const holds = dependencies(data, context.document, context.schema);
    // Nothing was invalidated while the query ran (else the generation moved on).
    if (lookup.generation !== undefined) {
      local?.set(lookup.key, toLocal(entry, holds), lookup.generation);
    }
    // Not awaited: a slow Redis must not delay the answer. The refresh lock goes with it,
    // so that the next stock move is refreshed at once, not after the lock's expiry.
    const write = async () => {
      if (!(await stampEvents(entry, holds))) {
        metrics.stores.inc({ outcome: 'raced' });
        await redis.del(`${lookup.key}:refresh`);
        return;
      }
      await redis
        .multi()
        .set(lookup.key, JSON.stringify(entry), 'PX', policy.maxAge * 1_000)
        .del(`${lookup.key}:refresh`)
        .exec();
      metrics.stores.inc({ outcome: 'stored' });
    };
    write().catch((error: unknown) => {
      metrics.stores.inc({ outcome: 'failed' });
      logger.debug({ err: error }, 'could not store a response in the cache');
    });
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

/** Requests that asked the tickets service, whose answers a stock move may change. */
const stockFetched = new WeakSet<object>();

/** Tells the cache that the request with `context` asks `subgraph` for some of its answer. */
export function subgraphFetched(context: object, subgraph: string): void {
  if (subgraph === 'tickets') stockFetched.add(context);
}

/** When each request's lookup had read the tag versions (performance.now()), by context. */
const tagsReadAt = new WeakMap<object, number>();
/** Requests that shared a subgraph fetch sent before their lookup had read the tags. */
const fetchedBeforeTags = new WeakSet<object>();

/**
 * Tells the cache that the request with `context` shares a subgraph fetch sent at `sentAt`
 * (performance.now(); gateway/src/inflight.ts). One sent before the request's lookup had
 * read the tag versions may have read the data before a change that those versions count
 * (the change commits, then bumps its tag): its answer would be stored as current, and
 * served as such until its max-age. So such an answer is not stored.
 */
export function sharedSubgraphFetch(context: object, sentAt: number): void {
  const readAt = tagsReadAt.get(context);
  if (readAt === undefined || sentAt < readAt) fetchedBeforeTags.add(context);
}

/**
 * The variables that decide a request's answer, so that a client cannot make each request
 * a miss with what the operation ignores: only those it declares, in the order it declares
 * them, as GraphQL coerces them (which is what execution sees), and without a value equal
 * to its variable's default (as if left out). The request's own when they do not coerce:
 * that answer is an error, never stored. A request whose variables are already in this
 * form, as a client's usually are, has the same key on the early path, which reads the body.
 */
function answerVariables(
  context: GraphQLRequestContext<BaseContext>,
): Record<string, unknown> | undefined {
  const { operation, schema, request } = context;
  const definitions = operation?.variableDefinitions ?? [];
  if (!operation) return request.variables;
  const { coerced } = getVariableValues(schema, definitions, request.variables ?? {}, {
    maxErrors: 1,
  });
  if (!coerced) return request.variables;
  const defaults = new Map<string, string>();
  for (const definition of definitions) {
    const type = typeFromAST(schema, definition.type);
    if (!definition.defaultValue || !type || !isInputType(type)) continue;
    const value = valueFromAST(definition.defaultValue, type);
    defaults.set(definition.variable.name.value, JSON.stringify(value));
  }
  return Object.fromEntries(
    Object.entries(coerced).filter(([name, value]) => defaults.get(name) !== JSON.stringify(value)),
  );
}

/** The Redis key of an entry: the early path and the plugin compute the same. */
export function responseCacheKey(
  namespace: string,
  schemaId: string,
  request: {
    queryHash: string | undefined;
    operationName: string | undefined;
    variables: Record<string, unknown> | undefined;
  },
): string {
  const hash = createHash('sha256')
    .update(
      JSON.stringify([
        schemaId,
        request.queryHash,
        request.operationName ?? null,
        request.variables ?? {},
      ]),
    )
    .digest('base64url');
  return `${namespace}:response-cache:entry:${hash}`;
}

/** What `holdsUnnamedEvents` found in each document (Apollo Server reuses a text's parsed document). */
const unnamedEvents = new WeakMap<DocumentNode, boolean>();

/**
 * Whether a response to `document` may hold events that its `id` keys do not name, so that
 * it may change with any event: an alias makes an `id` key other than an id (`id: title`,
 * or `eventId: id`); a list or connection of events, at any depth, may gain or lose one; an
 * event selected without its `id` is not known from the response.
 */
function holdsUnnamedEvents(
  document: DocumentNode | undefined,
  schema: GraphQLSchema | undefined,
): boolean {
  if (!document || !schema) return true;
  let holds = unnamedEvents.get(document);
  if (holds === undefined) {
    let found = false;
    const fragments = new Map(
      document.definitions
        .filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION)
        .map((definition) => [definition.name.value, definition.selectionSet] as const),
    );
    const typeInfo = new TypeInfo(schema);
    visit(
      document,
      visitWithTypeInfo(typeInfo, {
        Field(field) {
          if (field.alias && (field.alias.value === 'id') !== (field.name.value === 'id')) {
            found = true;
          }
          const type = typeInfo.getType();
          const named = type && getNamedType(type).name;
          if (named === 'EventConnection' || named === 'EventEdge') found = true;
          if (named !== 'Event' || !type) return;
          if (isListType(getNullableType(type)) || !selectsId(field.selectionSet, fragments)) {
            found = true;
          }
        },
      }),
    );
    holds = found;
    unnamedEvents.set(document, holds);
  }
  return holds;
}

/**
 * Whether `selectionSet` always selects `id` under its own name: directly, or through a
 * fragment without a directive (one with `@include` or `@skip` may leave it out).
 */
function selectsId(
  selectionSet: SelectionSetNode | undefined,
  fragments: ReadonlyMap<string, SelectionSetNode>,
  seen: ReadonlySet<string> = new Set(),
): boolean {
  return (selectionSet?.selections ?? []).some((selection) => {
    if (selection.directives?.length) return false;
    if (selection.kind === Kind.FIELD) return selection.name.value === 'id' && !selection.alias;
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      return selectsId(selection.selectionSet, fragments, seen);
    }
    const name = selection.name.value;
    return !seen.has(name) && selectsId(fragments.get(name), fragments, new Set(seen).add(name));
  });
}

/**
 * The events a response to `document` holds, and whether it holds a listing (or may hold
 * events it does not name as `id`: then it depends on every event, like a listing).
 */
function dependencies(
  data: Record<string, unknown>,
  document: DocumentNode | undefined,
  schema: GraphQLSchema | undefined,
): Dependencies {
  const eventIds = new Set<string>();
  collectIds(data, eventIds);
  // A root field that is not one object with an id (a list, a connection, null: an event
  // not found may be published next) may change with any event.
  const listing =
    holdsUnnamedEvents(document, schema) ||
    Object.values(data).some(
      (value) =>
        value === null ||
        typeof value !== 'object' ||
        Array.isArray(value) ||
        typeof (value as { id?: unknown }).id !== 'string',
    );
  return { eventIds: [...eventIds], listing };
}

function toLocal(entry: CacheEntry, holds: Dependencies): LocalEntry {
  return {
    body: Buffer.from(JSON.stringify({ data: entry.data })),
    data: entry.data,
    at: entry.at,
    maxAge: entry.maxAge,
    eventIds: holds.eventIds,
    listing: holds.listing,
    stock: entry.stock !== false,
  };
}

const fromLocal = (held: LocalEntry): CacheEntry =>
  // Only its data and age are read on a hit; a held entry's tags were current when kept.
  ({ data: held.data, at: held.at, maxAge: held.maxAge, tags: { events: null, stock: null } });

/**
 * Every `id` in a response: the events it holds, and more (tiers, organizers), which at
 * worst drops an entry that did not need it.
 */
function collectIds(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) collectIds(item, into);
  } else if (value && typeof value === 'object') {
    for (const [field, child] of Object.entries(value)) {
      if (field === 'id' && typeof child === 'string') into.add(child);
      else collectIds(child, into);
    }
  }
}

/**
 * The media type of a successful answer to `req`, as Apollo Server chooses it (GraphQL over
 * HTTP): application/json without an Accept header, else the one of the two that Accept
 * prefers. Undefined when it accepts neither, which Apollo answers itself (406).
 */
function acceptedMediaType(req: express.Request): string | undefined {
  if (!req.headers.accept) return 'application/json';
  return req.accepts(['application/json', 'application/graphql-response+json']) || undefined;
}

/**
 * The request headers an answer of `/graphql` depends on, named in its `Vary` so that a
 * shared cache in front (a CDN, a micro-cache at the edge) keeps one answer for each: Accept
 * chooses its media type (`acceptedMediaType`, and Apollo's own choice), Authorization
 * whether it is the anonymous answer, public, or a caller's. Origin is NGINX's, which
 * answers CORS and names it itself; Apollo's CSRF headers (`apollo-require-preflight`,
 * `x-apollo-operation-name`) decide only whether a GET is refused, and a refusal is never
 * cacheable; nothing is compressed, so Accept-Encoding changes nothing.
 */
export const answerVaries = ['Accept', 'Authorization'] as const;

/**
 * Names `answerVaries` in every answer of the path it is mounted on, before anything
 * answers: Apollo's answers, hits from the first level, Express's 304s and refusals alike.
 */
export const varyByRequestHeaders: express.RequestHandler = (_req, res, next) => {
  for (const header of answerVaries) res.vary(header);
  next();
};

/**
 * Answers an anonymous POST from the first level, before Apollo parses, validates or plans
 * anything: same key, same body, same headers (Content-Type as the client's Accept chooses
 * it, Cache-Control, x-cache) and the same lookup metric as a hit through the plugin.
 * Anything else goes on to Apollo. Safe without parsing: an entry exists only for an
 * anonymous query that ran under this very key.
 */
export function earlyHitMiddleware(options: {
  local: LocalResponseCache;
  namespace: string;
  schemaId: string;
}): express.RequestHandler {
  const { local, namespace, schemaId } = options;
  const localHits = responseCacheMetrics().lookups.labels({ result: 'hit', reason: 'local' });
  return (req, res, next) => {
    if (req.method !== 'POST' || req.headers.authorization !== undefined || !local.serving) {
      next();
      return;
    }
    const body = req.body as
      | {
          query?: unknown;
          operationName?: unknown;
          variables?: unknown;
          extensions?: { persistedQuery?: { sha256Hash?: unknown } };
        }
      | undefined;
    const queryHash =
      typeof body?.query === 'string'
        ? createHash('sha256').update(body.query).digest('hex')
        : body?.query === undefined
          ? body?.extensions?.persistedQuery?.sha256Hash
          : undefined;
    const { operationName, variables } = body ?? {};
    const mediaType = acceptedMediaType(req);
    if (
      mediaType === undefined ||
      typeof queryHash !== 'string' ||
      (operationName !== undefined &&
        operationName !== null &&
        typeof operationName !== 'string') ||
      (variables !== undefined && (typeof variables !== 'object' || Array.isArray(variables)))
    ) {
      next();
      return;
    }
    const key = responseCacheKey(namespace, schemaId, {
      queryHash,
      operationName: operationName ?? undefined,
      variables: (variables ?? undefined) as Record<string, unknown> | undefined,
    });
    // A due entry is left to Apollo's path, which refreshes it.
    const held = local.get(key, { refreshAfter, claim: false });
    if (!held) {
      next();
      return;
    }
    localHits.inc();
    const ageSeconds = Math.floor((Date.now() - held.at) / 1_000);
    // The bytes as they were encoded when kept, written as they are: no serialising and no
    // ETag (a hash of the body) per hit, which no client of a POST uses. `Vary` was set
    // before (`varyByRequestHeaders`), and is kept.
    res.writeHead(200, {
      'content-type': `${mediaType}; charset=utf-8`,
      'content-length': held.body.length,
      'cache-control': `max-age=${Math.max(0, held.maxAge - ageSeconds)}, public`,
      'x-cache': 'HIT',
    });
    res.end(held.body);
  };
}
