// The response cache's first level: fresh entries of the shared cache (response-cache.ts)
// kept in this gateway's memory, so that a hot page costs no Redis round trip at all.
//
// Correctness first. Every invalidation is published on a Redis channel as well as counted
// (packages/platform/src/response-cache.ts), and every gateway listens:
// - an entry here is dropped as soon as a message names a tag it depends on;
// - it serves only while the subscription is confirmed and Redis answered this
//   connection's last heartbeat within `heartbeatWindowMs`: a frozen or lost connection
//   could miss a message, so the gateway then goes back to Redis (or to the subgraphs);
// - an answer read from Redis before an invalidation and arriving after it is never kept:
//   each message starts a new generation, and only an entry read in the current one is;
// - an entry serves for its max-age at most, as in Redis; past a quarter of it, one request
//   goes on to Redis to refresh it (one refresh for every gateway, under Redis's lock).
// Memory is bounded by bytes (least recently used entries go first).
import {
  type Logger,
  type RedisConnection,
  type ResponseCacheInvalidation,
  responseCacheChannel,
  responseCacheHeartbeatWindowMs,
  responseCacheMetrics,
} from '@ticketing/platform';
import { ReplyError } from 'ioredis';
import { LRUCache } from 'lru-cache';

/** What the first level keeps of a shared entry: what a hit needs, and what drops it. */
export interface LocalEntry {
  /** The response body as sent, `{"data":…}`, encoded once, so that a hit only writes it. */
  body: Buffer;
  /** The same, parsed, for a hit through Apollo. */
  data: Record<string, unknown>;
  /** When (epoch ms) the query that made it started. */
  at: number;
  maxAge: number;
  /** The events it holds, by id: an invalidation naming one of them drops it. */
  eventIds: readonly string[];
  /** Whether it holds a listing, which any event change may alter. */
  listing: boolean;
  /** Whether it holds what a stock move may change: a `stock` invalidation drops it. */
  stock: boolean;
}

export interface LocalResponseCacheOptions {
  /** A connection given over to pub/sub (closed with this cache). */
  subscriber: RedisConnection;
  namespace: string;
  logger: Logger;
  /** The most bytes of response bodies kept. @default 32 MiB */
  maxBytes?: number;
  /** How often the subscription's connection is checked, in ms. @default 100 */
  heartbeatMs?: number;
  /**
   * How long after Redis last answered a heartbeat the first level still serves, in ms:
   * the most an invalidation can be missed by. An event change waits longer than the
   * default for its bump (packages/platform/src/response-cache.ts). @default 300
   */
  heartbeatWindowMs?: number;
}

export class LocalResponseCache {
  readonly #entries: LRUCache<string, LocalEntry>;
  readonly #subscriber: RedisConnection;
  readonly #channel: string;
  readonly #heartbeatWindowMs: number;
  readonly #timer: NodeJS.Timeout;
  #subscribed = false;
  #lastHeartbeat = 0;
  #generation = 0;
  #refusedAt = 0;
  /** Entries that one request has gone to refresh. */
  readonly #claimed = new WeakSet<LocalEntry>();
  readonly #dropped = responseCacheMetrics().localDropped;

  constructor(options: LocalResponseCacheOptions) {
    const { subscriber, logger } = options;
    this.#subscriber = subscriber;
    this.#channel = responseCacheChannel(options.namespace);
    this.#heartbeatWindowMs = options.heartbeatWindowMs ?? responseCacheHeartbeatWindowMs;
    this.#entries = new LRUCache<string, LocalEntry>({
      maxSize: options.maxBytes ?? 32 * 2 ** 20,
      // The body's bytes, about three times as much for its parsed copy, and the ids
      // besides.
      sizeCalculation: (entry) => entry.body.length * 4 + 64 * (entry.eventIds.length + 1),
    });
    const client = subscriber.client;
    client.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      try {
        this.#invalidate(JSON.parse(message) as ResponseCacheInvalidation);
      } catch (error) {
        // A message not understood may have meant anything: forget everything.
        this.#forgetAll('invalidation');
        logger.warn({ err: error }, 'ignored a malformed response cache invalidation');
      }
    });
    client.on('ready', async () => {
      // An answer later than the command's deadline (Redis or this gateway busy a moment) is
      // a failure here, though Redis may well have subscribed: taken as final, the first
      // level would not serve for as long as the connection lasts. So while the connection
      // is up, it subscribes again (harmless when it already is) until Redis answers; a
      // connection that went down subscribes again on its next 'ready'.
      for (;;) {
        try {
          await client.subscribe(this.#channel);
          break;
        } catch (error) {
          logger.warn({ err: error }, 'could not subscribe to response cache invalidations');
          // Redis's refusal is an answer that asking again would only repeat.
          if (client.status !== 'ready' || error instanceof ReplyError) return;
        }
      }
      // Whatever was published while unsubscribed is lost: start from nothing.
      this.#forgetAll('subscription');
      this.#subscribed = true;
    });
    client.on('close', () => {
      this.#subscribed = false;
      this.#forgetAll('subscription');
    });
    this.#timer = setInterval(() => {
      const sent = Date.now();
      if (!this.#subscribed) return;
      this.#checkHeartbeat();
      client.ping().then(
        () => {
          // Every message published before this PING was handled came before its answer.
          this.#lastHeartbeat = Math.max(this.#lastHeartbeat, sent);
        },
        () => undefined,
      );
    }, options.heartbeatMs ?? 100);
    this.#timer.unref();
  }

  /** Whether an invalidation published now would reach this gateway in time. */
  get serving(): boolean {
    return this.#subscribed && Date.now() - this.#lastHeartbeat < this.#heartbeatWindowMs;
  }

  /**
   * When (epoch ms) this gateway last heard that Redis refused an event change's bump; 0 if
   * never. The versions in Redis did not move: an entry whose query started before then may
   * hold the change's old state, though it looks current there.
   */
  get refusedAt(): number {
    return this.#refusedAt;
  }

  /** Changes with every invalidation: read it before reading an entry from Redis. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * The entry under `key` while it may serve: the subscription is live and its max-age has
   * not run out. Once `refreshAfter` (a fraction of its max-age) has gone, one request is
   * sent on to refresh it: the first whose caller can (`claim`) gets undefined and goes to
   * Redis, where one refresh runs for every gateway; the others go on with the entry, as
   * Redis's own readers do.
   */
  get(
    key: string,
    { refreshAfter, claim }: { refreshAfter: number; claim: boolean },
  ): LocalEntry | undefined {
    if (!this.#checkHeartbeat()) return undefined;
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    const age = Date.now() - entry.at;
    if (age >= entry.maxAge * 1_000) {
      this.#entries.delete(key);
      return undefined;
    }
    if (age >= entry.maxAge * 1_000 * refreshAfter && !this.#claimed.has(entry)) {
      if (claim) this.#claimed.add(entry);
      return undefined;
    }
    return entry;
  }

  /** Keeps `entry`, read or made in generation `generation`, if nothing changed since. */
  set(key: string, entry: LocalEntry, generation: number): void {
    if (generation !== this.#generation || !this.serving) return;
    this.#entries.set(key, entry);
  }

  get size(): number {
    return this.#entries.size;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#subscribed = false;
    this.#entries.clear();
    await this.#subscriber.close();
  }

  #invalidate(message: ResponseCacheInvalidation): void {
    this.#generation++;
    if (message.refused && message.tag === 'events') this.#refusedAt = Date.now();
    const { tag, eventIds } = message;
    if (tag !== 'stock' && !eventIds) {
      this.#forgetAll('invalidation');
      return;
    }
    const changed = new Set(eventIds);
    // A stock move changes only what came from the tickets service; an event change, the
    // listings and that event's pages.
    const drops = (entry: LocalEntry) =>
      tag === 'stock' ? entry.stock : entry.listing || entry.eventIds.some((id) => changed.has(id));
    // Collected first: the cache is not changed while it is walked.
    const dropped = [...this.#entries.entries()]
      .filter(([, entry]) => drops(entry))
      .map(([key]) => key);
    for (const key of dropped) this.#entries.delete(key);
    this.#dropped.inc({ cause: 'invalidation' }, dropped.length);
  }

  /**
   * Whether it serves; if not, forgets what it holds: with unanswered heartbeats, a message
   * may be lost in a connection that is going down, and what it held may be stale by the
   * time the heartbeats come back.
   */
  #checkHeartbeat(): boolean {
    if (this.serving) return true;
    if (this.#entries.size > 0) this.#forgetAll('heartbeat');
    return false;
  }

  #forgetAll(cause: 'invalidation' | 'heartbeat' | 'subscription'): void {
    this.#generation++;
    this.#dropped.inc({ cause }, this.#entries.size);
    this.#entries.clear();
  }
}
