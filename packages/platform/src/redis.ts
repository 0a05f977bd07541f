// Redis as the services use it: shared state that makes a defence hold across replicas and
// restarts (used gateway assertions, revoked sessions), never a hard dependency. Every
// command has a deadline, nothing queues while the connection is down, and a caller that
// gets an error falls back to what its own process knows, reporting the service degraded.
import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

/**
 * How long one Redis command may take before the caller falls back. Redis answers in well
 * under a millisecond on a private network; a quarter second means it is in trouble.
 */
export const redisCommandTimeoutMs = 250;

export interface SharedRedis {
  /** The client, for commands. It fails fast (no offline queue) while disconnected. */
  readonly client: Redis;
  /** Whether the connection is up right now: false makes readiness report `degraded`. */
  readonly available: boolean;
  /** Readiness details: `{ redis: 'ok' }`, or `{ status: 'degraded', redis: 'unreachable' }`. */
  readiness(): Record<string, string>;
  close(): Promise<void>;
}

/**
 * Connects to `url` in the background and keeps reconnecting (every 0.2 s to 2 s) while
 * it is down. Logs each loss and recovery once, not every failed reconnect.
 */
export function connectRedis(url: string, logger: Logger, purpose: string): SharedRedis {
  const client = new Redis(url, {
    commandTimeout: redisCommandTimeoutMs,
    connectTimeout: 1_000,
    // While disconnected, a command fails at once instead of waiting in a queue: callers
    // fall back to local state rather than holding a request.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(200 * attempt, 2_000),
    lazyConnect: false,
  });
  let available = false;
  let reported: 'up' | 'down' | undefined;
  client.on('ready', () => {
    available = true;
    if (reported === 'down') logger.info({ purpose }, 'redis reachable again');
    reported = 'up';
  });
  const down = (error?: Error) => {
    available = false;
    if (reported === 'down') return;
    reported = 'down';
    logger.warn(
      { purpose, err: error },
      'redis unreachable: falling back to this process alone (degraded)',
    );
  };
  client.on('error', down);
  client.on('close', () => down());
  return {
    client,
    get available() {
      return available;
    },
    readiness() {
      const details: Record<string, string> = available
        ? { redis: 'ok' }
        : { status: 'degraded', redis: 'unreachable' };
      return details;
    },
    async close() {
      client.disconnect(false);
    },
  };
}
