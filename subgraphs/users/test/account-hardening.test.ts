// Account security on the real database: over-long login passwords are refused before any
// work and alike for every email, and a deleted account's throttle state does not carry
// over to a new account with its email.
import { createLogger } from '@ticketing/platform';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { type PrismaClient, usersDatabase } from '@ticketing/prisma/users';
import { GraphQLError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, type KeyRingFile, keyRingFrom } from '../src/auth/signing-keys.ts';
import { throttlePolicy } from '../src/services/LoginThrottle.ts';
import { createUsersServices } from '../src/subgraph.ts';

let database: TestDatabase<PrismaClient>;
let accounts: ReturnType<typeof createUsersServices>['accounts'];

beforeAll(async () => {
  database = await createTestDatabase(usersDatabase);
  const key = await generateSigningKey('test');
  accounts = createUsersServices(
    database.prisma,
    await keyRingFrom({ active: 'test', keys: [key] } as KeyRingFile),
    { issuer: 'test', audience: 'test' },
    createLogger('users', 'silent'),
  ).accounts;
});
afterAll(async () => {
  await database?.close();
});

const password = 'correct horse battery staple 42';

const signUp = (email: string, address: string) =>
  accounts.signUp({ email, password, name: 'Grace', accountType: 'CUSTOMER' }, address);

/** What a failed call answered: its message and extensions. */
async function refusal(call: Promise<unknown>): Promise<{ message: string; extensions: object }> {
  const error = await call.then(
    () => expect.unreachable('it succeeded'),
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(GraphQLError);
  const { message, extensions } = error as GraphQLError;
  return { message, extensions };
}

/** The throttle's rows that name `email`. */
const throttleKeys = async (email: string) =>
  (await database.prisma.loginThrottle.findMany({ where: { key: { contains: email } } }))
    .map((row) => row.key)
    .sort();

describe('logIn with an over-long password', () => {
  it('is refused at once, alike for a known and an unknown email, and counts nowhere', async () => {
    await signUp('long@example.com', '192.0.2.10');
    // A megabyte, and a short string that NFKC expands past the bound (U+FDFA: 18 characters).
    for (const longPassword of ['a'.repeat(1 << 20), '\uFDFA'.repeat(100)]) {
      const answers = [];
      for (const email of ['long@example.com', 'nobody@example.com']) {
        const started = performance.now();
        answers.push(await refusal(accounts.logIn(email, longPassword, '192.0.2.11')));
        // A password check takes scrypt's ~0.35 s of CPU; this takes none.
        expect(performance.now() - started).toBeLessThan(150);
      }
      expect(answers[0]).toEqual(answers[1]);
      expect(answers[0]?.extensions).toEqual({ code: 'INVALID_CREDENTIALS' });
    }
    expect(await throttleKeys('long@example.com')).toEqual([]);
    expect(await throttleKeys('nobody@example.com')).toEqual([]);
    // A password at the bound is still checked (and counted), and the right one still works.
    const atBound = await refusal(
      accounts.logIn('long@example.com', 'b'.repeat(1024), '192.0.2.11'),
    );
    expect(atBound.extensions).toEqual({ code: 'INVALID_CREDENTIALS' });
    expect(await throttleKeys('long@example.com')).toEqual([
      'account:long@example.com',
      'pair:long@example.com|192.0.2.11',
    ]);
    await expect(accounts.logIn('long@example.com', password, '192.0.2.11')).resolves.toMatchObject(
      { user: { email: 'long@example.com' } },
    );
  });
});

describe('deleting an account', () => {
  it('forgets its throttle state: a new account with its email starts clean', async () => {
    const email = 'reused@example.com';
    const guesser = '192.0.2.20';
    const owner = '192.0.2.21';
    const first = await signUp(email, owner);
    // The owner logs in from home (a known address); someone locks their address out.
    await accounts.logIn(email, password, owner);
    for (let attempt = 0; attempt < throttlePolicy.pair.threshold; attempt++) {
      await refusal(accounts.logIn(email, 'wrong password, wrong', guesser));
    }
    const locked = await refusal(accounts.logIn(email, password, guesser));
    expect(locked.extensions).toMatchObject({ code: 'TOO_MANY_ATTEMPTS' });
    expect(await throttleKeys(email)).toEqual([
      `account:${email}`,
      `known:${email}|${owner}`,
      `pair:${email}|${guesser}`,
    ]);

    const viewer = { userId: first.user.id, role: first.user.role, sessionId: 'unused' };
    await expect(accounts.deleteAccount(viewer, password, owner)).resolves.toBe(true);
    expect(await throttleKeys(email)).toEqual([]);
    // The addresses' own counters are not the account's: they stay.
    const addressRow = await database.prisma.loginThrottle.findUnique({
      where: { key: `address:${guesser}` },
    });
    expect(addressRow?.failures).toBe(throttlePolicy.pair.threshold);

    // A new account with the email: the address that was locked out of the old one logs in.
    const second = await signUp(email, guesser);
    expect(second.user.id).not.toBe(first.user.id);
    await expect(accounts.logIn(email, password, guesser)).resolves.toMatchObject({
      user: { id: second.user.id },
    });
  });
});
