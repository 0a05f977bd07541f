// The gateways' shared response cache (gateway/src/response-cache.ts) keeps whole responses
// in Redis, each with the versions of the tags it depends on. The services that own the
// data bump a tag's version when it changes; the gateways then treat every entry stamped
// with an older version as invalidated. Redis is shared, so one bump reaches every gateway.
// A change to known events also moves each of those events' own version, so that an entry
// holding other events (one event's page) stays. Each bump is also published, with the
// events it concerns when they are known, so that the gateways' in-memory first level
// drops what it holds of them at once.
import { randomUUID } from 'node:crypto';
import { ReplyError } from 'ioredis';
import { Counter } from 'prom-client';
import type { Logger } from './logger.ts';
import type { RedisConnection } from './redis.ts';

/**
 * What an entry depends on:
 * - `events`: anything about an event that an anonymous caller can see (its fields, its
 *   status, whether its tiers are on sale). A bump makes every listing stamped before it
 *   unusable at once: an event update or a cancellation never comes from the cache. An
 *   entry that holds known events and no listing depends on those events' own versions
 *   instead (`responseCacheEventKey`), which move with the `events` tag when they change.
 * - `stock`: how many tickets are left. A bump makes the next request refresh the entry,
 *   while the others keep the cached answer, which is never older than its max-age (1 s).
 */
export type ResponseCacheTag = 'events' | 'stock';

export const responseCacheTags: readonly ResponseCacheTag[] = ['events', 'stock'];

/** The Redis key of a tag's version, under the cache's namespace. */
export function responseCacheTagKey(namespace: string, tag: ResponseCacheTag): string {
  return `${namespace}:response-cache:tag:${tag}`;
}

/**
 * The Redis key of one event's version: the `events` tag's version when that event last
 * changed, so that a version is never used twice, even after the key expired.
 */
export function responseCacheEventKey(namespace: string, eventId: string): string {
  return `${namespace}:response-cache:event:${eventId}`;
}

/**
 * How long an event's version is kept after its last change (or after a gateway gave an
 * event without one the tag's version, to stamp an entry with it): far longer than any entry
 * lives (its max-age, 30 s at most today). No entry is stamped with the key's absence, so a
 * key lost early (evicted, flushed) makes the entries stamped with it unusable.
 */
export const responseCacheEventVersionTtlMs = 24 * 60 * 60 * 1_000;

/**
 * Lua: `started(key)` gives a tag's version that is missing (never set, evicted, flushed) a
 * value to count from, and answers the key's value. The value is the time in milliseconds
 * since the epoch (Redis's clock) times 1,000, not 0: a count started again from 1 would
 * reach values it reached before the loss, which entries still living (in Redis when only
 * the counter was evicted, or in a gateway's memory) are stamped with, bringing their old
 * data back. Counted from the time, it passes its old values only after 1,000 changes a
 * millisecond throughout. (About 2^50 today: exact as a JavaScript number, and in Lua.)
 */
export const responseCacheStartVersionLua = `
local function started(key)
  local now = redis.call('TIME')
  local base = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000)) .. '000'
  if redis.call('SET', key, base, 'NX') then return base end
  return redis.call('GET', key)
end
`;

/**
 * Bumps a tag, sets each changed event's version to the tag's new version, and publishes
 * the message, in one step: a gateway that hears the message reads the new versions.
 * KEYS[1] is the tag's version, then the changed events' versions; with ARGV[4] (a TTL),
 * the last key is the bump's own, so that a bump asked again, its first attempt's answer
 * late, runs once.
 */
const bumpScript = `${responseCacheStartVersionLua}
local last = #KEYS
if ARGV[4] ~= '' then
  if not redis.call('SET', KEYS[last], '', 'NX', 'PX', ARGV[4]) then
    return redis.call('GET', KEYS[1])
  end
  last = last - 1
end
if redis.call('EXISTS', KEYS[1]) == 0 then started(KEYS[1]) end
local version = redis.call('INCR', KEYS[1])
for index = 2, last do
  redis.call('SET', KEYS[index], version, 'PX', ARGV[3])
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return version
`;

/** How long a bump's own key tells a repeated attempt that it ran: far past any attempt. */
const bumpIdTtlMs = 60_000;

/** The Redis channel on which every bump is published, under the cache's namespace. */
export function responseCacheChannel(namespace: string): string {
  return `${namespace}:response-cache:invalidations`;
}

/**
 * One published bump. `eventIds`, when given, are the only events that changed: entries
 * that hold none of them, and no listing, stay in the gateways' memory. Without it, every
 * entry depending on `tag` goes.
 */
export interface ResponseCacheInvalidation {
  tag: ResponseCacheTag;
  eventIds?: string[];
  /**
   * Redis refused the bump (out of memory, a read-only replica, a key of another type): the
   * versions did not move, so every entry stored before the change still looks current in
   * Redis. A gateway that hears it serves no entry whose query started before it heard it.
   */
  refused?: true;
}

let invalidationCounter: Counter<'tag' | 'outcome'> | undefined;

function invalidations(): Counter<'tag' | 'outcome'> {
  invalidationCounter ??= new Counter({
    name: 'response_cache_invalidations_total',
    help: 'Tag versions bumped for the gateways’ response cache, by tag and outcome (sent, failed).',
    labelNames: ['tag', 'outcome'],
  });
  return invalidationCounter;
}

/**
 * How long an event's change waits for a connection that went down moments ago to come back, before
 * it answers (Redis restarted, or a connection replaced: it is back within 0.5 s), and what
 * "moments ago" is. A gateway may be back before this service: a bump sent only later would
 * leave its entries showing the change's old state in the meantime. Past that, Redis is
 * away for the gateways too (they read no cache without it), and no change waits.
 */
const reconnectWaitMs = 1_000;
const recentlyDownMs = 10_000;

/**
 * How long after Redis last answered a gateway's heartbeat that gateway still serves from
 * memory (gateway/src/local-response-cache.ts): the most an invalidation in flight can be
 * missed by.
 */
export const responseCacheHeartbeatWindowMs = 300;

/**
 * How long an event's change asks again for a bump whose command timed out on a live
 * connection. Redis stalled (descheduled on a busy host, blocked by a slow command) may
 * not have run it yet: answering at the command's deadline would let the change's client
 * read the old page from a gateway that still counts Redis's last heartbeat as recent.
 * Each attempt queues behind the stalled one, so one answered means both ran. Longer than
 * the gateways' heartbeat window: past it, a stall that outlasts the wait has stopped every
 * gateway serving from memory, and the bump is kept to send later.
 */
const confirmWithinMs = 1_000;

/**
 * Bumps that could not be sent, by connection and then by namespace and tag: the events
 * they named, and whether one named none. Both are sent when the connection is back: a
 * bump naming no event does not move events' own versions, and one naming events leaves
 * the others in the gateways' memory, so neither stands for the other.
 */
const unsent = new WeakMap<RedisConnection, Map<string, { unnamed: boolean; ids: Set<string> }>>();

/** Keeps a bump that failed, merged with the others, to send when `redis` is back. */
function sendLater(
  redis: RedisConnection,
  namespace: string,
  tag: ResponseCacheTag,
  logger: Logger,
  eventIds: readonly string[] | undefined,
): void {
  let pending = unsent.get(redis);
  if (!pending) {
    const created = new Map<string, { unnamed: boolean; ids: Set<string> }>();
    pending = created;
    unsent.set(redis, created);
    redis.onAvailable(() => {
      const bumps = [...created];
      created.clear();
      for (const [key, { unnamed, ids }] of bumps) {
        const [space, kind] = JSON.parse(key) as [string, ResponseCacheTag];
        if (ids.size > 0) void invalidateCachedResponses(redis, space, kind, logger, [...ids]);
        if (unnamed) void invalidateCachedResponses(redis, space, kind, logger);
      }
    });
  }
  const key = JSON.stringify([namespace, tag]);
  const bump = pending.get(key) ?? { unnamed: false, ids: new Set<string>() };
  if (eventIds) for (const id of eventIds) bump.ids.add(id);
  else bump.unnamed = true;
  pending.set(key, bump);
}

/**
 * Tells the gateways' response cache that `tag` changed. Never throws. When the connection
 * went down moments ago, an `events` bump waits up to `reconnectWaitMs` for it first (a
 * purchase never waits: stock's entries live 1 s at most); a bump that still
 * cannot be sent is kept and sent when the connection is back. In a longer outage no
 * gateway reads the cache, and entries stored before it end by their max-age at most.
 */
export async function invalidateCachedResponses(
  redis: RedisConnection | undefined,
  namespace: string,
  tag: ResponseCacheTag,
  logger: Logger,
  eventIds?: readonly string[],
): Promise<void> {
  if (!redis) return;
  const message: ResponseCacheInvalidation = eventIds ? { tag, eventIds: [...eventIds] } : { tag };
  // A stock bump does not wait: an entry with availability lives 1 s at most, the bound.
  const downFor = redis.downForMs();
  if (tag === 'events' && downFor > 0 && downFor < recentlyDownMs) {
    await redis.whenAvailable(reconnectWaitMs);
  }
  // Only an event change moves events' own versions: they share the `events` tag's count.
  const eventKeys =
    tag === 'events' ? (eventIds ?? []).map((id) => responseCacheEventKey(namespace, id)) : [];
  // Only an event change is asked again (a stock move never waits), so only it has a key.
  const repeatable = tag === 'events';
  const ownKey = repeatable ? [`${namespace}:response-cache:bump:${randomUUID()}`] : [];
  const bump = () =>
    redis.client.eval(
      bumpScript,
      1 + eventKeys.length + ownKey.length,
      responseCacheTagKey(namespace, tag),
      ...eventKeys,
      ...ownKey,
      responseCacheChannel(namespace),
      JSON.stringify(message),
      responseCacheEventVersionTtlMs,
      repeatable ? bumpIdTtlMs : '',
    );
  const confirmBy = performance.now() + (repeatable ? confirmWithinMs : 0);
  for (;;) {
    try {
      await bump();
      invalidations().inc({ tag, outcome: 'sent' });
      if (failing.delete(redis)) logger.info({ tag }, 'cached responses are invalidated again');
      return;
    } catch (error) {
      // Asked again, a bump that ran already answers its version and does nothing more.
      if (timedOut(error) && redis.available && performance.now() < confirmBy) continue;
      invalidations().inc({ tag, outcome: 'failed' });
      // Once, not once a change: a Redis refusing writes refuses every purchase's bump.
      if (redis.available && !failing.has(redis)) {
        failing.add(redis);
        logger.warn(
          { err: error, tag },
          'could not invalidate cached responses; going on, and saying so when it works again',
        );
      }
      if (error instanceof ReplyError) await announceRefusal(redis, namespace, message, logger);
      sendLater(redis, namespace, tag, logger, eventIds);
      return;
    }
  }
}

/**
 * Tells the gateways that Redis answered a bump with a refusal, on the channel their first
 * level listens to: PUBLISH writes nothing, so a Redis that refuses writes (out of memory, a
 * read-only replica) still takes it. Every gateway that hears it drops the entries the change
 * may alter from memory and serves none read from Redis whose query started before, so that
 * the change never shows its old state once it has answered.
 */
async function announceRefusal(
  redis: RedisConnection,
  namespace: string,
  message: ResponseCacheInvalidation,
  logger: Logger,
): Promise<void> {
  const refused: ResponseCacheInvalidation = { ...message, refused: true };
  try {
    await redis.client.publish(responseCacheChannel(namespace), JSON.stringify(refused));
  } catch (error) {
    logger.warn({ err: error, tag: message.tag }, 'could not tell the gateways of a refused bump');
  }
}

/** Connections whose last bump failed while they were up, logged once until one is sent. */
const failing = new WeakSet<RedisConnection>();

/** Whether a command failed at its deadline (ioredis's `commandTimeout`), not refused. */
function timedOut(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out';
}
