// Redis as the services use it: state shared by every replica (persisted queries, used
// gateway assertions), never a hard dependency. Every command has a deadline, nothing
// queues while the connection is down, and a caller that gets an error goes on with what
// its own process knows, reporting the service `degraded`.
import { Redis, ReplyError } from 'ioredis';
import { z } from 'zod';
import { millisecondsSetting, optionalUrlSetting, urlSetting } from './config.ts';
import type { Logger } from './logger.ts';

/** How a service reaches Redis; every service that uses it reads these. */
export const redisSettings = z.object({
  /** Redis, for what the instances of a service share (e.g. redis://127.0.0.1:6379). */
  REDIS_URL: optionalUrlSetting(urlSetting('redis', 'rediss')),
  /**
   * The deadline of one Redis command. Redis answers in well under a millisecond on a
   * local network; past this it counts as away, and the caller goes on without it.
   */
  REDIS_TIMEOUT_MS: millisecondsSetting(250, { min: 1 }),
  /**
   * Prefixes the keys of the gateways' response cache and of its tag versions, so that
   * deployments (or test topologies) sharing one Redis never read each other's entries.
   * The gateways and the events and tickets services of one deployment must agree on it.
   */
  CACHE_NAMESPACE: z
    .string()
    .regex(/^[\w.-]{1,64}$/)
    .default('ticketing'),
});

export interface RedisConnection {
  /** The client, for commands. It fails fast (no offline queue) while disconnected. */
  readonly client: Redis;
  /** Whether the connection is up right now. */
  readonly available: boolean;
  /**
   * Resolves to undefined when Redis takes a write in time, or to why it did not: away,
   * silent, or answering with a refusal (out of memory, a read-only replica), under which
   * nothing the services keep there is kept.
   */
  problem(): Promise<string | undefined>;
  /** How long the connection has been down, in ms; 0 while it is up. */
  downForMs(): number;
  /** Resolves true once the connection is up, at once if it is; false after `ms`. */
  whenAvailable(ms: number): Promise<boolean>;
  /** Calls `listener` every time the connection comes up (again). */
  onAvailable(listener: () => void): void;
  close(): Promise<void>;
}

/** What readiness writes to find whether Redis takes writes; it expires on its own. */
const probeKey = 'ticketing:readiness-probe';
const probeTtlMs = 10_000;

/**
 * Connects to `url` in the background and keeps reconnecting (backing off to every 0.5 s)
 * for as long as the service runs. Every command has the deadline `timeoutMs`, and one sent
 * while disconnected fails at once instead of waiting in a queue. A connection that answers
 * nothing for four deadlines (at least 1 s), heartbeats included, is replaced. Logs each loss and
 * recovery once, not every failed reconnect.
 */
export function connectRedis(
  url: string,
  { timeoutMs, logger, name }: { timeoutMs: number; logger: Logger; name: string },
): RedisConnection {
  const silentMs = Math.max(timeoutMs * 4, 1_000);
  const client = new Redis(url, {
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(timeoutMs, 1_000),
    // A connection on which a command has gone unanswered this long is given up and
    // replaced. Redis answers in microseconds; a command's deadline ends one wait, but not
    // the connection's, and one whose path went silent (Redis replaced behind the same
    // address, a partition that sends no reset) would otherwise be kept for the many
    // minutes TCP takes to notice, every command on it failing.
    socketTimeout: silentMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // A subscriber subscribes on every 'ready' itself (revocations.ts,
    // local-response-cache.ts), and handles a failure. ioredis's own subscription again on
    // a reconnect handles none: cut while it was under way (Redis away again just after
    // coming back), it was an unhandled rejection, which ended the process.
    autoResubscribe: false,
    // A refused connect costs nothing: a connection is back within half a second of Redis,
    // so that the services that publish to the gateways are not away long after them.
    retryStrategy: (attempt) => Math.min(attempt * 100, 500),
    connectionName: name,
  });
  // An idle connection sends nothing, so nothing would find its path gone: a subscriber's,
  // which only listens, would go on hearing nothing, and saying it is up. A heartbeat
  // gives each connection a command to be answered (a subscriber may PING too).
  const heartbeat = setInterval(() => {
    if (client.status === 'ready') client.ping().catch(() => {});
  }, silentMs);
  heartbeat.unref();
  let available = false;
  let downSince = performance.now();
  let reported: 'up' | 'down' | undefined;
  client.on('ready', () => {
    available = true;
    if (reported === 'down') logger.info({ purpose: name }, 'redis is reachable again');
    reported = 'up';
  });
  const down = (error?: Error) => {
    if (available) downSince = performance.now();
    available = false;
    if (reported === 'down') return;
    reported = 'down';
    logger.warn({ purpose: name, err: error }, 'redis is unreachable; going on without it');
  };
  client.on('error', down);
  client.on('close', () => down());
  return {
    client,
    get available() {
      return available;
    },
    async problem() {
      if (client.status !== 'ready') return `redis is ${client.status}`;
      try {
        // A write, not a PING: a Redis that answers but refuses writes answers a PING too.
        await client.set(probeKey, '1', 'PX', probeTtlMs);
        return undefined;
      } catch (error) {
        const { message } = error as Error;
        return error instanceof ReplyError
          ? `redis refused a write: ${message}`
          : `redis did not answer: ${message}`;
      }
    },
    downForMs() {
      return available ? 0 : performance.now() - downSince;
    },
    async whenAvailable(ms) {
      if (available) return true;
      const signal = AbortSignal.timeout(ms);
      return new Promise<boolean>((resolve) => {
        const ready = () => {
          signal.removeEventListener('abort', late);
          resolve(true);
        };
        const late = () => {
          client.off('ready', ready);
          resolve(false);
        };
        client.once('ready', ready);
        signal.addEventListener('abort', late, { once: true });
      });
    },
    onAvailable(listener) {
      client.on('ready', listener);
    },
    async close() {
      clearInterval(heartbeat);
      client.disconnect(false);
    },
  };
}
