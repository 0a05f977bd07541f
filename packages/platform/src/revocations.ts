// Immediate revocation of access tokens, shared through Redis. The users service publishes
// what it revokes; every gateway keeps the live revocations in memory, loaded at start and
// kept current by pub/sub, so that checking a token costs two Map lookups and no I/O.
//
// A revocation lives as long as the tokens it can stop (the longest lifetime the verifier
// accepts, plus its clock tolerance), then expires from Redis and from memory alike. The
// users service also records it in its database, from which a Redis that lost its state is
// given every revocation in force again (RevocationPublisher.watch).
import { accessTokenLifetimeSeconds, clockToleranceSeconds } from '@ticketing/auth';
import { ReplyError } from 'ioredis';
import type { Logger } from './logger.ts';
import type { RedisConnection } from './redis.ts';

/** How long a revocation must be kept: past that, every token it could stop has expired. */
export const revocationLifetimeMs = (accessTokenLifetimeSeconds + clockToleranceSeconds) * 1000;

const keyPrefix = 'ticketing:revoked:';
const channel = 'ticketing:revocations';
/**
 * Set once the revocations in force were stored from the users service's own record, and
 * never by a single publish: missing, Redis lost what it held (restarted empty, flushed,
 * failed over to an empty replica), and the revocations are stored again.
 */
const restoredMarker = 'ticketing:revocations-restored';

/** How often the users service checks that Redis still holds the revocations. */
export const revocationCheckIntervalMs = 1_000;

/**
 * - `session`: every token of the session (refresh-token family) `id`: logOut, and the
 *   other sessions on changePassword.
 * - `user`: every token of user `id` issued before `before` (seconds since the epoch,
 *   compared with `iat`): deleteAccount, setUserRole.
 */
export type Revocation =
  | { kind: 'session'; id: string }
  | { kind: 'user'; id: string; before: number };

/** The `before` for a user revocation made now: every token issued up to this second. */
export function revokedBeforeNow(now = Date.now()): number {
  // `iat` counts whole seconds: a token issued in this second, even just after, cannot be
  // told from one issued just before, so it is stopped too (its holder refreshes again).
  return Math.floor(now / 1000) + 1;
}

/** The publisher's own record of the revocations in force, which outlives Redis's. */
export interface RevocationStore {
  /** Keeps `revocations`, each until `expiresAt` (ms since the epoch). */
  record(revocations: readonly Revocation[], expiresAt: number): Promise<void>;
  /** Those kept that are in force at `now`, oldest first, each with when it ends. */
  inForce(now: number): Promise<{ revocation: Revocation; expiresAt: number }[]>;
}

/** Publishes revocations: the users service. */
export class RevocationPublisher {
  readonly #redis: RedisConnection | undefined;
  readonly #logger: Logger;
  readonly #store: RevocationStore | undefined;
  #restoring: Promise<void> | undefined;
  #restoreFailed = false;

  /**
   * `store`, when given, keeps each revocation too, so that a Redis that lost them is given
   * them again (see `watch`).
   */
  constructor(redis: RedisConnection | undefined, logger: Logger, store?: RevocationStore) {
    this.#redis = redis;
    this.#logger = logger;
    this.#store = store;
  }

  /**
   * Keeps Redis holding every revocation in force: on each (re)connection and every
   * `intervalMs`, finds whether Redis lost them (the marker `restoredMarker` is missing)
   * and, if so, stores each one from the store again with the time it has left, publishes
   * it (a gateway that started after the loss, and loaded nothing, hears it), and then sets
   * the marker. Replicas that do it at once write the same keys: harmless. Returns how to
   * stop.
   */
  watch(intervalMs = revocationCheckIntervalMs): () => Promise<void> {
    const redis = this.#redis;
    if (!redis || !this.#store) return async () => {};
    let stopped = false;
    const check = () => {
      if (stopped || this.#restoring) return;
      this.#restoring = this.#restoreIfLost().finally(() => {
        this.#restoring = undefined;
      });
    };
    redis.onAvailable(check);
    const timer = setInterval(check, intervalMs);
    timer.unref();
    check();
    return async () => {
      stopped = true;
      clearInterval(timer);
      await this.#restoring;
    };
  }

  async #restoreIfLost() {
    const redis = this.#redis as RedisConnection;
    const store = this.#store as RevocationStore;
    if (!redis.available) return;
    const client = redis.client;
    try {
      if ((await client.exists(restoredMarker)) === 1) {
        this.#restoreFailed = false;
        return;
      }
      // One key per session or user: of a user's, the latest `before` and the latest end.
      const byKey = new Map<string, { revocation: Revocation; expiresAt: number }>();
      for (const kept of await store.inForce(Date.now())) {
        const key = keyOf(kept.revocation);
        const known = byKey.get(key);
        byKey.set(
          key,
          known?.revocation.kind === 'user' && kept.revocation.kind === 'user'
            ? {
                revocation: {
                  ...kept.revocation,
                  before: Math.max(known.revocation.before, kept.revocation.before),
                },
                expiresAt: Math.max(known.expiresAt, kept.expiresAt),
              }
            : { ...kept, expiresAt: Math.max(known?.expiresAt ?? 0, kept.expiresAt) },
        );
      }
      const now = Date.now();
      const pipeline = client.multi();
      let restored = 0;
      for (const [key, { revocation, expiresAt }] of byKey) {
        if (expiresAt <= now) continue;
        // NX: a key there already was published since the loss, after this list was read
        // (a later `before`, a whole lifetime), or stored by another replica doing this.
        pipeline.set(key, storedValue(revocation), 'PX', expiresAt - now, 'NX');
        pipeline.publish(channel, JSON.stringify(revocation));
        restored += 1;
      }
      pipeline.set(restoredMarker, String(now));
      const failed = (await pipeline.exec())?.find(([error]) => error)?.[0];
      if (failed) throw failed;
      this.#restoreFailed = false;
      this.#logger.info({ restored }, 'redis had lost the revocations; stored them again');
    } catch (error) {
      // Tried again at the next check; said once while it keeps failing.
      if (this.#restoreFailed) return;
      this.#restoreFailed = true;
      this.#logger.warn(
        { err: error },
        'could not store the revocations in force again; retrying every check',
      );
    }
  }

  /**
   * Stores `revocation` for as long as a token lives and tells every gateway. Without
   * Redis, or when it fails, the revoked tokens stay valid until they expire (at most
   * 15 minutes); that is logged, and the operation itself still succeeds.
   */
  async publish(...revocations: Revocation[]): Promise<void> {
    if (revocations.length === 0) return;
    if (this.#store) {
      try {
        await this.#store.record(revocations, Date.now() + revocationLifetimeMs);
      } catch (error) {
        // Redis may hold them still: published all the same.
        this.#logger.error(
          { err: error, revocations },
          'could not record revocations: a Redis that loses its state would lose them',
        );
      }
    }
    if (!this.#redis) {
      this.#logger.warn(
        { revocations: revocations.length },
        'no REDIS_URL: revoked access tokens stay valid until they expire',
      );
      return;
    }
    const client = this.#redis.client;
    try {
      const pipeline = client.multi();
      for (const revocation of revocations) {
        pipeline.set(keyOf(revocation), storedValue(revocation), 'PX', revocationLifetimeMs);
        pipeline.publish(channel, JSON.stringify(revocation));
      }
      const failed = (await pipeline.exec())?.find(([error]) => error)?.[0];
      if (failed) throw failed;
    } catch (error) {
      if (!(error instanceof ReplyError)) {
        this.#logger.error(
          { err: error, revocations },
          'could not publish revocations: the revoked access tokens stay valid until they expire',
        );
        return;
      }
      // Redis answered, refusing to store them (out of memory, a read-only replica). PUBLISH
      // writes nothing, and such a Redis takes it: every gateway connected now holds them in
      // memory; one that connects later does not learn of them.
      try {
        await Promise.all(
          revocations.map((revocation) => client.publish(channel, JSON.stringify(revocation))),
        );
        this.#logger.warn(
          { err: error, revocations },
          'redis refused to store revocations; published them to the gateways connected now',
        );
      } catch (publishError) {
        this.#logger.error(
          { err: publishError, revocations },
          'could not publish revocations: the revoked access tokens stay valid until they expire',
        );
      }
    }
  }
}

const keyOf = (revocation: Revocation) => `${keyPrefix}${revocation.kind}:${revocation.id}`;
const storedValue = (revocation: Revocation) =>
  revocation.kind === 'user' ? String(revocation.before) : '1';

/** What a token says that revocation can refer to. */
export interface TokenFacts {
  userId: string;
  sessionId: string;
  /** `iat`, in seconds since the epoch. */
  issuedAt: number;
}

/**
 * The revocations in force, in this process's memory: a gateway. Loads every stored one
 * when Redis (re)connects, and adds each one published from then on. While Redis is
 * unreachable it keeps what it has, and misses what is published meanwhile (readiness
 * reports `degraded`); the reload on reconnecting catches up.
 */
export class RevocationList {
  readonly #sessions = new Map<string, number>();
  readonly #users = new Map<string, { before: number; expiresAt: number }>();
  readonly #subscriber: RedisConnection;
  readonly #reader: RedisConnection;
  readonly #logger: Logger;
  readonly #now: () => number;

  /**
   * `subscriber` is given over to pub/sub (and closed with this list); `reader`, a
   * connection the caller shares, loads what is stored. `now` is the clock revocations
   * expire by (ms since the epoch).
   */
  constructor(
    subscriber: RedisConnection,
    reader: RedisConnection,
    logger: Logger,
    options: { now?: () => number } = {},
  ) {
    this.#subscriber = subscriber;
    this.#reader = reader;
    this.#logger = logger;
    this.#now = options.now ?? Date.now;
    subscriber.client.on('message', (_channel: string, message: string) => {
      try {
        this.#add(JSON.parse(message) as Revocation, this.#now() + revocationLifetimeMs);
      } catch (error) {
        logger.warn({ err: error }, 'ignored a malformed revocation message');
      }
    });
    subscriber.client.on('ready', () => void this.#subscribeThenLoad());
    // The reader may connect after the subscriber: load then too (loading twice is harmless).
    reader.client.on('ready', () => void this.#load());
  }

  /** Whether the token is revoked: two Map lookups, once the expired are forgotten. */
  isRevoked(token: TokenFacts, now = this.#now()): boolean {
    this.#forgetExpired(now);
    const session = this.#sessions.get(token.sessionId);
    if (session !== undefined) {
      if (session > now) return true;
      this.#sessions.delete(token.sessionId);
    }
    const user = this.#users.get(token.userId);
    if (user !== undefined) {
      if (user.expiresAt <= now) this.#users.delete(token.userId);
      else if (token.issuedAt < user.before) return true;
    }
    return false;
  }

  /** How many revocations it holds: those in force, and none long after it ended. */
  get size(): number {
    return this.#sessions.size + this.#users.size;
  }

  /** Why revocations may be missed right now (readiness then says `degraded`), if so. */
  problem(): string | undefined {
    return this.#subscriber.available && this.#reader.available
      ? undefined
      : 'not hearing revocations: revoked tokens are refused from when Redis is back';
  }

  /** Closes the subscriber connection; the reader belongs to the caller. */
  async close(): Promise<void> {
    await this.#subscriber.close();
  }

  #add(revocation: Revocation, expiresAt: number) {
    this.#forgetExpired(this.#now());
    // Set anew, not updated in place: each map stays in the order its entries end.
    if (revocation.kind === 'session') {
      const known = this.#sessions.get(revocation.id);
      this.#sessions.delete(revocation.id);
      this.#sessions.set(revocation.id, Math.max(expiresAt, known ?? 0));
    } else {
      const known = this.#users.get(revocation.id);
      this.#users.delete(revocation.id);
      this.#users.set(revocation.id, {
        before: Math.max(revocation.before, known?.before ?? 0),
        expiresAt: Math.max(expiresAt, known?.expiresAt ?? 0),
      });
    }
  }

  /**
   * Forgets the revocations whose tokens have all expired. A revoked token is seldom
   * presented again (its holder logged out, or was told it is revoked): left to its
   * lookup, every revocation would stay for the life of the process, one for every logOut
   * and every session ended. Each map is in the order its entries were last set, which is
   * the order they end in, but for those loaded from Redis with less time left: the sweep
   * stops at the first one still in force, and one behind it goes at the latest with it,
   * one lifetime later.
   */
  #forgetExpired(now: number) {
    for (const [id, expiresAt] of this.#sessions) {
      if (expiresAt > now) break;
      this.#sessions.delete(id);
    }
    for (const [id, { expiresAt }] of this.#users) {
      if (expiresAt > now) break;
      this.#users.delete(id);
    }
  }

  /**
   * Subscribes, then loads: nothing published in between is missed. An answer later than the
   * command's deadline (Redis or this process busy a moment) is a failure here, though Redis
   * may well have subscribed: the load would be skipped, and what was published while the
   * subscriber was away would stay unknown until the next reconnect. So while the connection
   * is up, it subscribes again (harmless when it already is) until Redis answers. A
   * connection that went down subscribes again on its next 'ready'.
   */
  async #subscribeThenLoad() {
    const client = this.#subscriber.client;
    for (;;) {
      try {
        await client.subscribe(channel);
        break;
      } catch (error) {
        this.#logger.warn({ err: error }, 'could not subscribe to revocations');
        // Redis's refusal is an answer that asking again would only repeat.
        if (client.status !== 'ready' || error instanceof ReplyError) return;
      }
    }
    await this.#load();
  }

  /** Loads every stored revocation, with the time it has left. */
  async #load() {
    // Not connected yet: its 'ready' loads.
    if (!this.#reader.available) return;
    const client = this.#reader.client;
    try {
      let cursor = '0';
      let loaded = 0;
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length === 0) continue;
        const pipeline = client.pipeline();
        for (const key of keys) pipeline.get(key).pttl(key);
        const replies = (await pipeline.exec()) ?? [];
        keys.forEach((key, index) => {
          const value = replies[index * 2]?.[1] as string | null;
          const ttl = replies[index * 2 + 1]?.[1] as number;
          if (value === null || ttl <= 0) return;
          const [kind, ...rest] = key.slice(keyPrefix.length).split(':');
          const id = rest.join(':');
          const revocation: Revocation | undefined =
            kind === 'session'
              ? { kind, id }
              : kind === 'user'
                ? { kind, id, before: Number(value) }
                : undefined;
          if (revocation) {
            this.#add(revocation, this.#now() + ttl);
            loaded += 1;
          }
        });
      } while (cursor !== '0');
      this.#logger.info({ loaded }, 'revocations loaded');
    } catch (error) {
      this.#logger.warn({ err: error }, 'could not load revocations; retrying on reconnect');
    }
  }
}
