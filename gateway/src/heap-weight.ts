import { serialize } from 'node:v8';
import type { KeyValueCache, KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';
import { LRUCache } from 'lru-cache';

/**
 * What a cached value costs in this process's heap, in bytes, for a cache bounded by memory
 * that is real. Apollo's default weighs a value by the length of its JSON, and a parsed
 * document's JSON leaves out what its locations keep: the source text and its whole list of
 * tokens. V8's own serialization follows every reference, tokens included, and `factor`
 * times its length is at least the heap the value holds. Measured on P5b's operations
 * (docs/BENCHMARKS.md): a parsed document held 13.5 KB of heap, 1.7 times its serialization
 * and 4.5 times its JSON; a query plan 5.9 KB (heap snapshot of 1,000), 3.4 times its
 * serialization (its operation strings are kept as concatenations) and 4.5 times its JSON.
 */
export function heapWeight(value: unknown, factor = documentFactor): number {
  try {
    return Math.ceil(factor * serialize(value).byteLength);
  } catch {
    // Something V8 cannot serialize (a function): its JSON, weighed more.
    return Math.ceil(2 * factor * Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8'));
  }
}

/** Heap bytes a serialized byte stands for: parsed documents, then query plans. */
export const documentFactor = 2;
export const planFactor = 4;

/**
 * A least-recently-used cache of at most `maxBytes` of heap, each value weighed by
 * `heapWeight` (with `factor`) when it is stored: Apollo's `KeyValueCache`, for its
 * document store and the gateway's query plans.
 */
export class HeapBoundedCache<V extends {}> implements KeyValueCache<V> {
  readonly #entries: LRUCache<string, V>;

  constructor(maxBytes: number, factor = documentFactor) {
    this.#entries = new LRUCache<string, V>({
      maxSize: maxBytes,
      sizeCalculation: (value) => heapWeight(value, factor),
    });
  }

  async get(key: string): Promise<V | undefined> {
    return this.#entries.get(key);
  }

  async set(key: string, value: V, options?: KeyValueCacheSetOptions): Promise<void> {
    this.#entries.set(key, value, options?.ttl ? { ttl: options.ttl * 1000 } : {});
  }

  async delete(key: string): Promise<boolean> {
    return this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** How many bytes its values weigh together: never above `maxBytes`. */
  get weight(): number {
    return this.#entries.calculatedSize;
  }

  get size(): number {
    return this.#entries.size;
  }
}
