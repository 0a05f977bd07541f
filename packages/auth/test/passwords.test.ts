import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  hashingQueues,
  hashPassword,
  newPasswordHashStarts,
  overflowPacing,
  parsePasswordHash,
  passwordProblem,
  passwordQueueExtension,
  passwordWorkBusy,
  reserveHashingTurn,
  verifyPassword,
} from '../src/passwords.ts';

describe('password policy', () => {
  it('counts characters, not bytes: 12 emoji are enough, 11 are not', () => {
    expect(passwordProblem('🎫🎭🎪🐙🌵🍋🚲🧭🪁🦉🍩🌋')).toBeUndefined(); // 12 code points
    expect(passwordProblem('🎫'.repeat(11))).toMatch(/at least 12/);
  });

  it('accepts 1024 characters and refuses 1025', () => {
    const long = randomBytes(768).toString('base64');
    expect(passwordProblem(long)).toBeUndefined();
    expect(passwordProblem(`${long}x`)).toMatch(/at most 1024/);
  });

  it.each(['aaaaaaaaaaaa', 'password1234', 'qwertyuiop123', '123456789012', 'iloveyou2024!'])(
    'refuses %j as too easy to guess, saying why',
    (password) => {
      expect(passwordProblem(password)).toMatch(/^This password is too easy to guess\. \S/);
    },
  );

  it('refuses a password made of the account’s own details', () => {
    const password = 'ada.lovelace@example.com';
    expect(passwordProblem(password)).toBeUndefined();
    expect(passwordProblem(password, ['ada.lovelace@example.com', 'Ada Lovelace'])).toMatch(
      /too easy to guess/,
    );
  });

  it('checks a long password in milliseconds', () => {
    const started = performance.now();
    passwordProblem('a'.repeat(1024));
    expect(performance.now() - started).toBeLessThan(100);
  });
});

describe('password hashes', () => {
  it('match the same password typed in another Unicode normal form', async () => {
    const composed = 'Café au lait, s’il vous plaît';
    const hash = await hashPassword(composed);
    expect(await verifyPassword(composed.normalize('NFD'), hash)).toBe(true);
  });

  it('use a fresh salt each time', async () => {
    const [first, second] = [
      await hashPassword('the same password'),
      await hashPassword('the same password'),
    ];
    expect(first).not.toBe(second);
    expect(parsePasswordHash(first)?.salt).not.toEqual(parsePasswordHash(second)?.salt);
  });

  it.each([
    '',
    'plaintext',
    '$scrypt$ln=17,r=8,p=1$$',
    '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
  ])('never match an unusable stored value (%j)', async (stored) => {
    expect(await verifyPassword('any password at all', stored)).toBe(false);
  });
});

describe('password work', () => {
  it('runs on a bounded queue: beyond it, new passwords are refused at once', async () => {
    const { concurrency, maxWaiting } = hashingQueues.hashing;
    const burst = Array.from({ length: concurrency + maxWaiting + 3 }, () => {
      const started = performance.now();
      return hashPassword('a password in a burst').then(
        () => ({ outcome: 'hashed', ms: performance.now() - started }),
        (error: { extensions?: { code?: string } }) => ({
          outcome: String(error.extensions?.code),
          ms: performance.now() - started,
        }),
      );
    });
    const results = await Promise.all(burst);
    const refused = results.filter((result) => result.outcome === 'TOO_MANY_REQUESTS');
    expect(results.filter((result) => result.outcome === 'hashed')).toHaveLength(
      concurrency + maxWaiting,
    );
    expect(refused).toHaveLength(3);
    // Refused without waiting for any hash (each takes a third of a second or more).
    for (const result of refused) expect(result.ms).toBeLessThan(100);
  }, 60_000);

  it('takes places on the queue before the work that leads to the hash, and refuses beyond them', async () => {
    const { concurrency, maxWaiting } = hashingQueues.hashing;
    const turns = Array.from({ length: concurrency + maxWaiting }, () => reserveHashingTurn());
    // The queue is full of places held, though nothing hashes yet: the next request is
    // refused at once, as is a hash without a place, naming the queue for the gateway.
    expect(() => reserveHashingTurn()).toThrow(
      expect.objectContaining({
        message: passwordWorkBusy.message,
        extensions: { ...passwordWorkBusy.extensions, [passwordQueueExtension]: 'hashing' },
      }),
    );
    await expect(hashPassword('a password without a place')).rejects.toMatchObject({
      extensions: { code: 'TOO_MANY_REQUESTS' },
    });
    // A place given back (its request failed before hashing) is free again, once only.
    const [first, second, ...rest] = turns;
    first?.release();
    first?.release();
    const again = reserveHashingTurn();
    expect(() => reserveHashingTurn()).toThrow(passwordWorkBusy.message);
    // A place held is never refused at its hash, and a hash frees it for the next one.
    const hashed = second?.hash('a password with a place');
    expect(() => second?.hash('twice')).toThrow(/already used/);
    expect(parsePasswordHash(await (hashed as Promise<string>))?.algorithm).toBe('scrypt');
    const next = reserveHashingTurn();
    for (const turn of [again, next, ...rest]) turn.release();
    await expect(hashPassword('a password after the burst')).resolves.toMatch(/^\$scrypt\$/);
  }, 60_000);

  it('spaces new-password hashes while the queue overflows, to leave the cores to logins', async () => {
    // Past the interval since the hashes of the tests above.
    await sleep(overflowPacing.intervalMs);
    const { concurrency, maxWaiting } = hashingQueues.hashing;
    // When each hash starts, as the queue reports it: their ends would take each one's own
    // time off, which a busy machine stretches unevenly.
    const starts: number[] = [];
    const started = (message: unknown) => starts.push((message as { at: number }).at);
    subscribe(newPasswordHashStarts, started);
    try {
      const burst = Array.from({ length: concurrency + maxWaiting + 1 }, () =>
        hashPassword('a password in a flood').then(
          () => 'hashed',
          () => 'refused',
        ),
      );
      expect(await Promise.all(burst)).toContain('refused');
    } finally {
      unsubscribe(newPasswordHashStarts, started);
    }
    expect(starts).toHaveLength(concurrency + maxWaiting);
    // The second hash became due while the refusal was recent (within its window): it
    // started the interval after the first, where unpaced it would have followed at once
    // (one hash's time later). The 1 ms is the timer's rounding.
    expect((starts[1] as number) - (starts[0] as number)).toBeGreaterThanOrEqual(
      overflowPacing.intervalMs - 1,
    );
  }, 60_000);
});
