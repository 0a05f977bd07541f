import { createHash } from 'node:crypto';
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
 *
 * Anyone may register documents, as many as they like (each within MAX_DOCUMENT_BYTES): in
 * Redis they take at most `slots` keys, so that a flood of them cannot fill it. A document
 * may go in either of two slots (chosen by its hash), and takes a free one, or pushes out
 * what the first held; a lookup reads both. A document pushed out is not found, and its
 * client sends it again.
 */
export class PersistedQueryCache implements KeyValueCache<string> {
  readonly #redis: Redis;
  readonly #local: InMemoryLRUCache<string>;
  readonly #prefix: string;
  readonly #slots: number;

  constructor(redis: Redis, { localMiB = 4, prefix = 'ticketing:apq:', slots = 16_384 } = {}) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#slots = slots;
    this.#local = new InMemoryLRUCache<string>({
      maxSize: localMiB * 2 ** 20,
      sizeCalculation: InMemoryLRUCache.sizeCalculation,
    });
  }

  /** The Redis keys of the two slots `key` may be kept in. */
  #slotsOf(key: string): [string, string] {
    const digest = createHash('sha256').update(key).digest();
    return [0, 4].map(
      (offset) => `${this.#prefix}slot:${digest.readUInt32BE(offset) % this.#slots}`,
    ) as [string, string];
  }

  /** What the slots of `key` hold, as [key, document] pairs; nothing when Redis fails. */
  async #read(slots: [string, string]): Promise<([string, string] | undefined)[]> {
    const held = await this.#redis.mget(...slots).catch(() => [null, null]);
    return held.map((entry) => {
      if (entry === null || entry === undefined) return undefined;
      try {
        const parsed = JSON.parse(entry) as unknown;
        return Array.isArray(parsed) && parsed.length === 2
          ? (parsed as [string, string])
          : undefined;
      } catch {
        return undefined;
      }
    });
  }

  async get(key: string): Promise<string | undefined> {
    const local = await this.#local.get(key);
    if (local !== undefined) return local;
    const held = await this.#read(this.#slotsOf(key));
    const shared = held.find((entry) => entry?.[0] === key)?.[1];
    if (shared === undefined) return undefined;
    await this.#local.set(key, shared);
    return shared;
  }

  async set(key: string, value: string, options?: KeyValueCacheSetOptions): Promise<void> {
    await this.#local.set(key, value, options);
    const slots = this.#slotsOf(key);
    const held = await this.#read(slots);
    const mine = held.findIndex((entry) => entry?.[0] === key);
    const free = held.indexOf(undefined);
    const index = mine >= 0 ? mine : free >= 0 ? free : 0;
    const slot = slots[index] as string;
    const entry = JSON.stringify([key, value]);
    const ttl = options?.ttl;
    const write = ttl ? this.#redis.set(slot, entry, 'EX', ttl) : this.#redis.set(slot, entry);
    await write.catch(() => undefined);
  }

  async delete(key: string): Promise<boolean> {
    await this.#local.delete(key);
    const slots = this.#slotsOf(key);
    const held = await this.#read(slots);
    const index = held.findIndex((entry) => entry?.[0] === key);
    if (index >= 0) await this.#redis.del(slots[index] as string).catch(() => 0);
    return true;
  }
}
