// Password hashing with scrypt at OWASP's recommended cost (N=2^17, r=8, p=1), stored in
// the PHC string format so that the parameters travel with each hash and can be raised
// later without breaking existing ones.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as commonLanguage from '@zxcvbn-ts/language-common';
import * as englishLanguage from '@zxcvbn-ts/language-en';
import { GraphQLError } from 'graphql';
import pLimit, { type LimitFunction } from 'p-limit';

const scryptAsync = promisify(scrypt) as (
  password: string | Buffer,
  salt: Buffer,
  keyLength: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

export const passwordPolicy = { minLength: 12, maxLength: 1024 } as const;

/** How much scrypt work may run and wait at once, per kind of work. */
export interface HashingQueueOptions {
  /** How many run at once. */
  concurrency: number;
  /** How many may wait for a turn; one more is refused at once with TOO_MANY_REQUESTS. */
  maxWaiting: number;
}

/**
 * scrypt runs on bounded queues, so that password work cannot take every core: each hash
 * costs about 0.35 s of CPU and 256 MiB, and without a bound a burst of sign-ups slowed
 * every login. Work beyond a queue is refused at once (`TOO_MANY_REQUESTS`,
 * `retryAfterSeconds: 1`) rather than waiting behind it.
 *
 * - `checking`: logins and the checks of current passwords, on every core; the queue is
 *   deep enough for a burst of honest logins.
 * - `hashing`: new passwords (sign-up, change, the first admin), one at a time with a
 *   short queue, and none starts while a check runs (for at most a second), so that a
 *   flood of sign-ups, throttled per address already, leaves the cores to logins.
 */
export const hashingQueues: Record<'checking' | 'hashing', HashingQueueOptions> = {
  checking: { concurrency: Math.max(1, availableParallelism()), maxWaiting: 32 },
  hashing: { concurrency: 1, maxWaiting: 4 },
};

/**
 * While the new-password queue overflows (it refused work within `windowMs`), its hashes
 * start at least `intervalMs` apart: about 0.4 of a core at the most, instead of a whole
 * one. Under a flood nearly every place on the queue goes to the flood's own accounts,
 * and the logins of existing accounts need the cores more.
 */
export const overflowPacing = { windowMs: 1_000, intervalMs: 1_000 } as const;

const limits = {
  checking: pLimit(hashingQueues.checking.concurrency),
  hashing: pLimit(hashingQueues.hashing.concurrency),
};

/**
 * What a client reads when password work is refused, from whichever queue: the gateway
 * answers the same when it refuses new passwords itself (gateway/src/password-admission.ts).
 */
export const passwordWorkBusy = {
  message: 'The service is busy with password work. Try again in a moment.',
  extensions: { code: 'TOO_MANY_REQUESTS', retryAfterSeconds: 1 },
} as const;

/**
 * The extension that names the full queue on a refusal, for the gateway alone: it closes
 * its admission of new passwords when the `hashing` queue is full, and never shows the
 * extension to clients.
 */
export const passwordQueueExtension = 'passwordQueue';

/**
 * Throws TOO_MANY_REQUESTS when the `kind` queue is full, so that a request can be refused
 * before any other work (a database round trip) is spent on it.
 */
export function refuseWhenHashingIsBusy(kind: keyof typeof limits = 'hashing'): void {
  const limit: LimitFunction = limits[kind];
  // Places held count as waiting: they reach the queue within a few round trips.
  const held = limit.activeCount + limit.pendingCount + (kind === 'hashing' ? reservedTurns : 0);
  if (held >= limit.concurrency + hashingQueues[kind].maxWaiting) {
    if (kind === 'hashing') lastOverflow = performance.now();
    throw new GraphQLError(passwordWorkBusy.message, {
      extensions: { ...passwordWorkBusy.extensions, [passwordQueueExtension]: kind },
    });
  }
}

/** When the new-password queue last refused work, and when its latest hash started. */
let lastOverflow = Number.NEGATIVE_INFINITY;
let lastHashStarted = Number.NEGATIVE_INFINITY;

/**
 * Resolves when the next new-password hash may start, by `overflowPacing`, with the time it
 * starts at. A timer may fire a little before its time by this clock (it counts from the
 * event loop's cached time, and whole milliseconds): what is left is waited for again.
 */
async function pacedWhileOverflowing(): Promise<number> {
  if (performance.now() - lastOverflow < overflowPacing.windowMs) {
    for (;;) {
      const wait = lastHashStarted + overflowPacing.intervalMs - performance.now();
      if (wait <= 0) break;
      await sleep(Math.ceil(wait));
    }
  }
  lastHashStarted = performance.now();
  return lastHashStarted;
}

/** Places on the new-password queue held by requests that have not reached their hash yet. */
let reservedTurns = 0;

/** A place on the new-password queue, taken before the work that leads to the hash. */
export interface HashingTurn {
  /** Hashes `password` in the place held: never refused for a full queue. Once per turn. */
  hash(password: string): Promise<string>;
  /** Gives the place back unused (the request failed before its hash); idempotent. */
  release(): void;
}

/**
 * Takes a place on the new-password queue at once, or refuses with TOO_MANY_REQUESTS when
 * it is full, so that a request beyond the queue is refused before its database round
 * trips and its strength check (tens of milliseconds of CPU), not after them. Places held
 * count as waiting: a burst cannot all pass the check and be refused only at the hash.
 */
export function reserveHashingTurn(): HashingTurn {
  refuseWhenHashingIsBusy('hashing');
  reservedTurns += 1;
  let held = true;
  const release = () => {
    if (held) reservedTurns -= 1;
    held = false;
  };
  return {
    hash(password) {
      if (!held) throw new Error('This hashing turn was already used or released.');
      release();
      return hashNewPassword(password, true);
    },
    release,
  };
}

/** Woken whenever a check ends, so that new-password work can wait for logins. */
const checksEnded = new EventTarget();

/**
 * Resolves once no password check is running, or after `limitMs`: new passwords give way
 * to logins, so that a login shares the cores with at most a hash already under way.
 */
function checksIdle(limitMs = 1_000): Promise<void> {
  if (limits.checking.activeCount === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (limits.checking.activeCount > 0) return;
      clearTimeout(timer);
      checksEnded.removeEventListener('ended', done);
      resolve();
    };
    const timer = setTimeout(() => {
      checksEnded.removeEventListener('ended', done);
      resolve();
    }, limitMs);
    checksEnded.addEventListener('ended', done);
  });
}

/**
 * Runs `work` on the `kind` queue, or refuses it at once when the queue is full, unless
 * its place was `reserved` already.
 */
/**
 * A diagnostics channel on which each new-password hash says when it starts
 * (`{ at: performance.now() }`), once it has its turn and its pacing is over.
 */
export const newPasswordHashStarts = 'ticketing:auth:new-password-hash-starts';
const hashStarts = channel(newPasswordHashStarts);

async function onQueue<T>(
  kind: keyof typeof limits,
  work: () => Promise<T>,
  reserved = false,
): Promise<T> {
  if (!reserved) refuseWhenHashingIsBusy(kind);
  if (kind === 'hashing') {
    return limits.hashing(async () => {
      await checksIdle();
      const at = await pacedWhileOverflowing();
      if (hashStarts.hasSubscribers) hashStarts.publish({ at });
      return work();
    });
  }
  return limits.checking(async () => {
    try {
      return await work();
    } finally {
      // On the next turn, once p-limit has counted this one as done.
      setImmediate(() => checksEnded.dispatchEvent(new Event('ended')));
    }
  });
}

export const scryptParameters = { logN: 17, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const;

/** scrypt needs 128·N·r bytes; Node's default 32 MiB cap is below OWASP's cost. */
function memoryFor(logN: number, r: number): number {
  return 128 * 2 ** logN * r * 2;
}

export interface PasswordHash {
  algorithm: 'scrypt';
  logN: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

/** Unicode-normalised, so that the same password typed on another keyboard still matches. */
function normalize(password: string): string {
  return password.normalize('NFKC');
}

/**
 * Whether a password is longer than any account's can be (a new one has at most
 * `passwordPolicy.maxLength` characters once normalised), so that it is refused before the
 * work of hashing it, and a very long one before normalising it too. One character of a
 * normalised password comes from at most 4 code points (the longest canonical
 * decomposition), each at most 2 UTF-16 units: a longer string is refused as it is.
 */
export function longerThanAnyPassword(password: string): boolean {
  if (password.length > passwordPolicy.maxLength * 8) return true;
  return [...normalize(password)].length > passwordPolicy.maxLength;
}

/**
 * zxcvbn (the maintained TypeScript port), offline, with its common-password and English
 * dictionaries: it estimates how many guesses a password takes, counting common
 * passwords, words, names, keyboard patterns, repeats, sequences and dates.
 */
const strength = new ZxcvbnFactory({
  dictionary: { ...commonLanguage.dictionary, ...englishLanguage.dictionary },
  graphs: commonLanguage.adjacencyGraphs,
  translations: englishLanguage.translations,
});

/**
 * The lowest zxcvbn score accepted: 3, "safely unguessable" (about 10^8 guesses and up),
 * which OWASP suggests; `aaaaaaaaaaaa` or `password1234` score 0 or 1.
 */
export const minimumPasswordScore = 3;

/**
 * Whether a password meets the policy: its length, counted in characters, not bytes, then
 * its strength. The answer says what to do about it.
 */
export function passwordProblem(password: string, userInputs: string[] = []): string | undefined {
  if (longerThanAnyPassword(password)) {
    return `Passwords can have at most ${passwordPolicy.maxLength} characters.`;
  }
  const normalized = normalize(password);
  if ([...normalized].length < passwordPolicy.minLength) {
    return `Passwords need at least ${passwordPolicy.minLength} characters.`;
  }
  // zxcvbn's cost grows faster than the length (a quarter second of CPU for 256
  // repeated characters): the first 64 characters decide, in a few milliseconds.
  const result = strength.check([...normalized].slice(0, 64).join(''), userInputs);
  if (result.score < minimumPasswordScore) {
    const { warning, suggestions } = result.feedback;
    return [
      'This password is too easy to guess.',
      warning,
      ...suggestions,
      suggestions.length === 0 ? 'Use a few uncommon words together.' : undefined,
    ]
      .filter(Boolean)
      .join(' ');
  }
  return undefined;
}

/** Hashes a new password on the `hashing` queue, refused at once when it is full. */
export function hashPassword(password: string): Promise<string> {
  return hashNewPassword(password, false);
}

/** hashPassword, in a place on the queue that the caller holds already when `reserved`. */
async function hashNewPassword(password: string, reserved: boolean): Promise<string> {
  const { logN, r, p, saltBytes, keyBytes } = scryptParameters;
  const salt = randomBytes(saltBytes);
  const key = await onQueue(
    'hashing',
    () =>
      scryptAsync(normalize(password), salt, keyBytes, {
        N: 2 ** logN,
        r,
        p,
        maxmem: memoryFor(logN, r),
      }),
    reserved,
  );
  return `$scrypt$ln=${logN},r=${r},p=${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export function parsePasswordHash(encoded: string): PasswordHash | undefined {
  const match = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([\w-]+)\$([\w-]+)$/.exec(encoded);
  if (!match) return undefined;
  const [, logN, r, p, salt, key] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return {
    algorithm: 'scrypt',
    logN: Number(logN),
    r: Number(r),
    p: Number(p),
    salt: Buffer.from(salt, 'base64url'),
    key: Buffer.from(key, 'base64url'),
  };
}

/** Checks a password against a stored hash in constant time. An unusable hash never matches. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const stored = parsePasswordHash(encoded);
  if (!stored) return false;
  const key = await onQueue('checking', () =>
    scryptAsync(normalize(password), stored.salt, stored.key.length, {
      N: 2 ** stored.logN,
      r: stored.r,
      p: stored.p,
      maxmem: memoryFor(stored.logN, stored.r),
    }),
  );
  return timingSafeEqual(key, stored.key);
}

let decoyHash: Promise<string> | undefined;

/**
 * Spends the same work as checking a real password, for a login whose email matches no
 * account, so that response times do not reveal which emails have accounts.
 */
export async function verifyAgainstDecoy(password: string): Promise<false> {
  decoyHash ??= hashPassword(randomBytes(18).toString('base64url')).catch((error: unknown) => {
    // Refused by a full queue: make it again next time rather than keep the refusal.
    decoyHash = undefined;
    throw error;
  });
  await verifyPassword(password, await decoyHash);
  return false;
}
