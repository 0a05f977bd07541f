import {
  InMemoryLRUCache,
  type KeyValueCache,
  type KeyValueCacheSetOptions,
} from '@apollo/utils.keyvaluecache';
import type { Redis } from 'ioredis';

/**
 * Automatic persisted queries, shared by every gateway instance through Redis, and kept
 * in this process's memory too. An entry maps a document's SHA-256 to that document, so
 * it never changes, and either copy is as good as the other:
 *
 * - a lookup tries this process's copy first, then Redis, and keeps what Redis had;
 * - a registration is kept here and sent to Redis;
 * - when Redis is slow or away, its commands fail within their deadline, and the gateway
 *   goes on with its own copies. A hash registered elsewhere meanwhile is not found, and the
 *   client sends the document again, as the APQ protocol has it.
 */
export class PersistedQueryCache implements KeyValueCache<string> {
  readonly #redis: Redis;
  readonly #local: InMemoryLRUCache<string>;
  readonly #prefix: string;

  constructor(redis: Redis, { localMiB = 4, prefix = 'ticketing:apq:' } = {}) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#local = new InMemoryLRUCache<string>({
      maxSize: localMiB * 2 ** 20,
      sizeCalculation: InMemoryLRUCache.sizeCalculation,
    });
  }

  async get(key: string): Promise<string | undefined> {
    const local = await this.#local.get(key);
    if (local !== undefined) return local;
    const shared = await this.#redis.get(this.#prefix + key).catch(() => null);
    if (shared === null) return undefined;
    await this.#local.set(key, shared);
    return shared;
  }

  async set(key: string, value: string, options?: KeyValueCacheSetOptions): Promise<void> {
    await this.#local.set(key, value, options);
    const ttl = options?.ttl;
    const write = ttl
      ? this.#redis.set(this.#prefix + key, value, 'EX', ttl)
      : this.#redis.set(this.#prefix + key, value);
    await write.catch(() => undefined);
  }

  async delete(key: string): Promise<boolean> {
    await this.#local.delete(key);
    await this.#redis.del(this.#prefix + key).catch(() => 0);
    return true;
  }
}
