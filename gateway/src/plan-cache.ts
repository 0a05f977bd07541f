import type { GatewayConfig } from '@apollo/gateway';
import { queryPlanCacheMetrics } from '@ticketing/platform';
import { HeapBoundedCache, planFactor } from './heap-weight.ts';

/** What `@apollo/gateway` keeps its query plans in (`queryPlannerConfig.cache`). */
type QueryPlanCache = NonNullable<NonNullable<GatewayConfig['queryPlannerConfig']>['cache']>;
type QueryPlan = NonNullable<Awaited<ReturnType<QueryPlanCache['get']>>>;

/**
 * The gateway's query plan cache, counting hits and misses for /metrics.
 *
 * `@apollo/gateway` has no hit or miss event: it looks a plan up once an operation
 * (`queryPlanStore.get`), plans it on a miss (the only time a `gateway.plan` span exists)
 * and stores the plan. Its documented `queryPlannerConfig.cache` option replaces that store,
 * so counting in `get` sees every lookup, whatever the gateway does around it, without
 * reaching into its private fields. This stands in for the default store (an LRU of the
 * same kind, emptied like it when the supergraph changes), but weighs each plan by the
 * heap it holds (heap-weight.ts), not by the length of its JSON. Its size is the gateway's
 * QUERY_PLAN_CACHE_MIB.
 */
export class CountingQueryPlanCache implements QueryPlanCache {
  readonly #plans: HeapBoundedCache<QueryPlan>;
  readonly #metrics = queryPlanCacheMetrics();

  constructor(maxSizeMiB: number) {
    this.#plans = new HeapBoundedCache<QueryPlan>(maxSizeMiB * 2 ** 20, planFactor);
  }

  async get(key: string): Promise<QueryPlan | undefined> {
    const plan = await this.#plans.get(key);
    (plan ? this.#metrics.hits : this.#metrics.misses).inc();
    return plan;
  }

  async set(key: string, plan: QueryPlan): Promise<void> {
    await this.#plans.set(key, plan);
  }

  async delete(key: string): Promise<boolean> {
    return this.#plans.delete(key);
  }

  clear(): void {
    this.#plans.clear();
  }

  /** The plans' weight in bytes, never above the cache's size. */
  get weight(): number {
    return this.#plans.weight;
  }
}
