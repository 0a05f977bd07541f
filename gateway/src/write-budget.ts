import { type ApolloServerPlugin, HeaderMap } from '@apollo/server';
import type { Identity } from '@ticketing/auth';
import { writeBudgetMetrics } from '@ticketing/platform';
import type { Redis } from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import { refusedOperation } from './password-admission.ts';
import { rootFieldKeys } from './password-fields.ts';

/**
 * What one account may write through the gateways, by default: 20 root mutation fields a
 * second on average, and up to 300 at once. Above any person's pace (a door scanning a
 * crowd admits a few people a second; an organizer setting up an event with 20 tiers sends
 * 22 at once; a buyer in a rush holds, buys and releases a handful), far below a loop's.
 */
export const writeBudgetDefaults = { perSecond: 20, burst: 300 } as const;

/**
 * The mutations that need no signed-in account (they make or end one's session): the users
 * service throttles them itself, by address and by account, and the budget leaves them out.
 */
export const sessionFields: ReadonlySet<string> = new Set([
  'signUp',
  'logIn',
  'refreshSession',
  'logOut',
]);

export interface WriteBudgetOptions {
  /** Root mutation fields an account may run a second, on average. */
  perSecond: number;
  /** How many it may run at once: the budget of each window. */
  burst: number;
  /**
   * Where the gateways count together. Each command keeps the client's deadline
   * (`REDIS_TIMEOUT_MS`, connectRedis); without an answer in time, or while the connection
   * is down, this gateway counts alone, in memory. Without Redis, each gateway counts alone.
   */
  redis?: Redis | undefined;
  /** Prefixes the Redis keys, as for the response cache (`CACHE_NAMESPACE`). */
  namespace?: string;
}

/**
 * Each signed-in account's budget of writes, shared by the gateways through Redis
 * (rate-limiter-flexible). The budget is `burst` fields each window of `burst / perSecond`
 * seconds (rounded, at least a second, and at least `perSecond` fields), counted from the
 * account's first write in it.
 */
export class WriteBudget {
  readonly #limiter: RateLimiterAbstract;
  readonly windowSeconds: number;
  readonly points: number;

  constructor({ perSecond, burst, redis, namespace = 'ticketing' }: WriteBudgetOptions) {
    this.windowSeconds = Math.max(1, Math.round(burst / perSecond));
    this.points = Math.max(burst, perSecond);
    const shape = {
      points: this.points,
      duration: this.windowSeconds,
      keyPrefix: `${namespace}:writes`,
    };
    // This gateway's own count: what it admits while Redis does not answer in time.
    const own = new RateLimiterMemory(shape);
    this.#limiter = redis
      ? new RateLimiterRedis({
          ...shape,
          storeClient: redis,
          // A connection that is down is not waited for: its commands would fail anyway.
          rejectIfRedisNotReady: true,
          insuranceLimiter: own,
          // An account past its budget is refused from memory for the rest of the window,
          // without asking Redis again.
          inMemoryBlockOnConsumed: this.points + 1,
        })
      : own;
  }

  /**
   * Spends `fields` of `account`'s budget. Resolves to undefined when they fit, or to the
   * whole seconds until the budget is new again. A refused request is counted too.
   */
  async spend(account: string, fields: number): Promise<number | undefined> {
    try {
      await this.#limiter.consume(account, fields);
      return undefined;
    } catch (refusal) {
      // Only a count refuses: whatever else failed (the insurance never does) admits.
      if (!(refusal instanceof RateLimiterRes)) return undefined;
      return Math.max(1, Math.ceil(refusal.msBeforeNext / 1_000));
    }
  }
}

/** What a request over its account's budget gets. */
export const writeBudgetSpent = {
  message: 'This account is making changes faster than it may. Try again in a moment.',
  code: 'TOO_MANY_REQUESTS',
} as const;

/**
 * Refuses, before it is planned, a signed-in account's mutation that its write budget cannot
 * pay for: each root field but the session ones (`sessionFields`, `__typename`) costs one,
 * aliases included. The answer is HTTP 429 with `Retry-After`, `data: null` and
 * TOO_MANY_REQUESTS with `retryAfterSeconds` at each field's path, as the password
 * admission answers: none of its fields runs. Anonymous requests and queries are not counted.
 */
export function writeBudgetPlugin<TContext extends { viewer: Identity | null }>(
  budget: WriteBudget,
): ApolloServerPlugin<TContext> {
  const { refused } = writeBudgetMetrics();
  const counted = (name: string) => !sessionFields.has(name) && !name.startsWith('__');
  return {
    async requestDidStart({ contextValue }) {
      const account = contextValue.viewer?.userId;
      if (!account) return;
      return {
        async responseForOperation({ operation, document }) {
          if (operation?.operation !== 'mutation') return null;
          const keys = rootFieldKeys(operation, document, counted);
          if (keys.length === 0) return null;
          const retryAfterSeconds = await budget.spend(account, keys.length);
          if (retryAfterSeconds === undefined) return null;
          refused.inc();
          return refusedOperation(
            keys,
            {
              message: writeBudgetSpent.message,
              extensions: { code: writeBudgetSpent.code, retryAfterSeconds },
            },
            {
              status: 429,
              headers: new HeaderMap([['retry-after', String(retryAfterSeconds)]]),
            },
          );
        },
      };
    },
  };
}
