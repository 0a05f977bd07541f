import { isIPv6 } from 'node:net';
import type { Prisma } from '@ticketing/prisma/users';
import { failure } from '../errors.ts';
import type {
  LoginThrottleRepository,
  ThrottleRule,
} from '../repositories/LoginThrottleRepository.ts';

const window = 15 * 60;

/**
 * How password guessing is slowed (OWASP's Authentication and Credential Stuffing cheat
 * sheets), with three counters over a 15-minute window. Every password check counts on
 * each before it runs (so parallel guesses are counted, and refused, one by one) and a
 * correct password gives its attempt back.
 *
 * - **Account and address** (`pair`): the 5th attempt from one address at one account
 *   locks that pair for 30 s, each further one twice as long, up to 15 min. This is the
 *   lockout, and it stops only that address: the owner logs in from anywhere else.
 * - **Address** (`address`): the 20th attempt from one address, at any accounts, locks
 *   the address the same way. Higher, because many people can share an address.
 * - **Account** (`account`): attempts from every address together. From the 10th, the
 *   account takes one attempt per 1 s, then 2 s, 4 s, … at most one every 30 s: guessing
 *   spread over many addresses slows to a crawl (about 120 an hour), but it cannot lock
 *   the account, and an address the account logged in from in the last 30 days skips
 *   this counter, so its owner is not slowed at all.
 *
 * A refused attempt gets TOO_MANY_ATTEMPTS with `retryAfterSeconds`, before any password
 * work, and counts on none of them.
 */
export const throttlePolicy = {
  pair: { windowSeconds: window, threshold: 5, firstLockSeconds: 30, maxLockSeconds: 15 * 60 },
  address: { windowSeconds: window, threshold: 20, firstLockSeconds: 30, maxLockSeconds: 15 * 60 },
  account: { windowSeconds: window, threshold: 10, firstLockSeconds: 1, maxLockSeconds: 30 },
  /** How long an address the account logged in from stays exempt from the account counter. */
  knownAddressSeconds: 30 * 24 * 60 * 60,
} as const satisfies Record<string, ThrottleRule | number>;

/**
 * Sign-ups per address: each costs a password hash and makes an account. The Nth in an
 * hour (SIGN_UPS_PER_ADDRESS, default 10) locks the address's sign-ups for 10 min, each
 * further one twice as long, up to an hour.
 */
export const signUpRule = (perHour: number): ThrottleRule => ({
  windowSeconds: 60 * 60,
  threshold: perHour,
  firstLockSeconds: 10 * 60,
  maxLockSeconds: 60 * 60,
});

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a dotted IPv4 tail read, a zone dropped). */
function groupsOf(address: string): number[] {
  let text = address.split('%')[0] ?? '';
  const ipv4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (ipv4) {
    const [a = 0, b = 0, c = 0, d = 0] = ipv4.slice(1).map(Number);
    text = `${text.slice(0, ipv4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groups = (part: string) =>
    part ? part.split(':').map((group) => parseInt(group, 16)) : [];
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * The address a throttle counts a client by. An IPv6 client is given a /64 at least (one
 * network, 2^64 addresses, any of which it may send from), so it is counted by that /64,
 * never by an address it can change at will; an IPv4 address written in IPv6's form
 * (`::ffff:198.51.100.7`, as a dual-stack proxy writes it, or `64:ff9b::198.51.100.7`
 * through a NAT64 translator) is that IPv4 address.
 */
export function throttledAddress(clientAddress: string | undefined): string {
  if (clientAddress === undefined) return 'unknown';
  if (!isIPv6(clientAddress)) return clientAddress;
  const groups = groupsOf(clientAddress);
  const mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  // NAT64's well-known prefix (RFC 6052): each IPv4 client behind a translator by its own
  // address, not all of them as one /64.
  const translated = [0x64, 0xff9b, 0, 0, 0, 0].every((group, i) => groups[i] === group);
  if (mapped || translated) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

export class LoginThrottle {
  readonly #repository: LoginThrottleRepository;
  readonly #signUps: ThrottleRule;

  constructor(repository: LoginThrottleRepository, options: { signUpsPerAddress?: number } = {}) {
    this.#repository = repository;
    this.#signUps = signUpRule(options.signUpsPerAddress ?? 10);
  }

  /** Counts a sign-up from `clientAddress`, or refuses it with TOO_MANY_ATTEMPTS. */
  async admitSignUp(clientAddress: string | undefined): Promise<void> {
    const { admitted, lockedUntil } = await this.#repository.admit(
      `signup:${throttledAddress(clientAddress)}`,
      this.#signUps,
    );
    if (!admitted) throw tooManyAttempts(lockedUntil, 'Too many sign-ups from this address.');
  }

  /**
   * Runs `check` (a password check for the account `email`, from `clientAddress`) if the
   * counters allow it, and returns its outcome; TOO_MANY_ATTEMPTS if they do not.
   */
  async attempt(
    email: string,
    clientAddress: string | undefined,
    check: () => Promise<boolean>,
  ): Promise<boolean> {
    const address = throttledAddress(clientAddress);
    const known = await this.#repository.remembers(
      knownKey(email, address),
      throttlePolicy.knownAddressSeconds,
    );
    const counters: [string, ThrottleRule][] = [
      [`pair:${email}|${address}`, throttlePolicy.pair],
      [`address:${address}`, throttlePolicy.address],
      ...(known
        ? []
        : ([[`account:${email}`, throttlePolicy.account]] as [string, ThrottleRule][])),
    ];
    for (const [index, [key, rule]] of counters.entries()) {
      const { admitted, lockedUntil } = await this.#repository.admit(key, rule);
      if (!admitted) {
        // Not attempted after all: the counters that took it give it back, so that an
        // owner slowed by the account counter does not lock their own address.
        for (const [taken, takenRule] of counters.slice(0, index)) {
          await this.#repository.refund(taken, takenRule);
        }
        throw tooManyAttempts(lockedUntil);
      }
    }
    const correct = await check();
    if (correct) {
      const [[pair], ...shared] = counters as [[string, ThrottleRule], ...[string, ThrottleRule][]];
      await this.#repository.clear(pair);
      for (const [key, rule] of shared) await this.#repository.refund(key, rule);
      await this.#repository.remember(knownKey(email, address), email);
    }
    return correct;
  }

  /**
   * Forgets what the counters hold for the account `email` (its attempts, locks and known
   * addresses), when it is deleted: an account created later with the same email starts
   * clean. The addresses' own counters stay. Only the owner, with the password, deletes an
   * account, so no one clears another's counters this way. In the deletion's transaction
   * `tx`, so that a deletion that fails forgets nothing, and one that succeeds forgets
   * before its email is free for a new account.
   */
  async forgetAccount(email: string, tx: Prisma.TransactionClient): Promise<void> {
    await this.#repository.forget(`account:${email}`, [`pair:${email}|`, knownKey(email, '')], tx);
  }
}

function knownKey(email: string, address: string): string {
  return `known:${email}|${address}`;
}

function tooManyAttempts(
  lockedUntil: Date | null,
  message = 'Too many failed attempts. Try again later.',
): Error {
  const retryAfterSeconds = Math.max(
    1,
    Math.ceil(((lockedUntil?.getTime() ?? Date.now()) - Date.now()) / 1000),
  );
  return failure('TOO_MANY_ATTEMPTS', message, {
    retryAfterSeconds,
  });
}
