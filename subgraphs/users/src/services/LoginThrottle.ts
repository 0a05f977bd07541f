import { failure } from '@ticketing/platform';
import type { LoginThrottleRepository } from '../repositories/LoginThrottleRepository.ts';

/**
 * Slows down password guessing. Failures are counted per account and per client address
 * over a 15-minute window. Past a threshold, each further failure locks that key for twice
 * as long as the last (30 s, 1 min, 2 min, … at most 15 min). The per-account threshold is
 * low, because one account sees few honest failures; the per-client one is higher, because
 * many people can share an address.
 */
export const throttlePolicy = {
  windowSeconds: 15 * 60,
  accountThreshold: 5,
  clientThreshold: 20,
  firstLockSeconds: 30,
  maxLockSeconds: 15 * 60,
} as const;

export function lockSeconds(failures: number, threshold: number): number | undefined {
  if (failures < threshold) return undefined;
  return Math.min(
    throttlePolicy.firstLockSeconds * 2 ** (failures - threshold),
    throttlePolicy.maxLockSeconds,
  );
}

export class LoginThrottle {
  readonly #repository: LoginThrottleRepository;

  constructor(repository: LoginThrottleRepository) {
    this.#repository = repository;
  }

  /** Refuses the attempt outright, before any password work, while a key is locked. */
  async assertAllowed(email: string, clientAddress: string | undefined): Promise<void> {
    const until = await this.#repository.lockedUntil(
      keysFor(email, clientAddress).map(([key]) => key),
    );
    if (until) {
      const retryAfterSeconds = Math.max(1, Math.ceil((until.getTime() - Date.now()) / 1000));
      throw failure('TOO_MANY_ATTEMPTS', 'Too many failed logins. Try again later.', {
        retryAfterSeconds,
      });
    }
  }

  async recordFailure(email: string, clientAddress: string | undefined): Promise<void> {
    for (const [key, threshold] of keysFor(email, clientAddress)) {
      const failures = await this.#repository.recordFailure(key, throttlePolicy.windowSeconds);
      const seconds = lockSeconds(failures, threshold);
      if (seconds) await this.#repository.lock(key, seconds);
    }
  }

  /** A successful login forgives the account's failures (not the client's). */
  async recordSuccess(email: string): Promise<void> {
    await this.#repository.clear(accountKey(email));
  }
}

function accountKey(email: string): string {
  return `account:${email}`;
}

function keysFor(email: string, clientAddress: string | undefined): [string, number][] {
  const keys: [string, number][] = [[accountKey(email), throttlePolicy.accountThreshold]];
  if (clientAddress) keys.push([`client:${clientAddress}`, throttlePolicy.clientThreshold]);
  return keys;
}
