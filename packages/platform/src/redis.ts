import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from './logger.ts';

/** How a service reaches Redis; every service that uses it reads these. */
export const redisSettings = z.object({
  /** Redis, for what the instances of a service share (e.g. redis://127.0.0.1:6379). */
  REDIS_URL: z.url().optional(),
  /**
   * The deadline of one Redis command. Redis answers in well under a millisecond on a
   * local network; past this it counts as away, and the caller goes on without it.
   */
  REDIS_TIMEOUT_MS: z.coerce.number().int().min(1).default(250),
});

export interface RedisConnection {
  readonly client: Redis;
  /** Resolves to undefined when Redis answers a PING in time, or to why it did not. */
  problem(): Promise<string | undefined>;
  close(): Promise<void>;
}

/**
 * A Redis client for something a service can do without: every command has a deadline
 * (`timeoutMs`), a command sent while disconnected fails at once instead of waiting in a
 * queue, and the client reconnects in the background for as long as the service runs.
 * Callers treat a failed command as "Redis is away" and degrade; readiness reports it.
 */
export function connectRedis(
  url: string,
  { timeoutMs, logger, name }: { timeoutMs: number; logger: Logger; name: string },
): RedisConnection {
  const client = new Redis(url, {
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(timeoutMs, 1_000),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Reconnect without end, backing off to one attempt every 2 s.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    connectionName: name,
  });
  // Say when Redis goes and comes back, not on every failed reconnect.
  let away = false;
  client.on('error', (error: Error) => {
    if (away) return;
    away = true;
    logger.warn({ err: error }, `redis is unreachable; ${name} goes on without it`);
  });
  client.on('ready', () => {
    if (away) logger.info(`redis is reachable again; ${name} uses it`);
    away = false;
  });
  return {
    client,
    async problem() {
      if (client.status !== 'ready') return `redis is ${client.status}`;
      try {
        await client.ping();
        return undefined;
      } catch (error) {
        return `redis did not answer: ${(error as Error).message}`;
      }
    },
    async close() {
      client.disconnect();
    },
  };
}
