// Account security on the real database: over-long login passwords are refused before any
// work and alike for every email.
import { createLogger } from '@ticketing/platform';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { type PrismaClient, usersDatabase } from '@ticketing/prisma/users';
import { GraphQLError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, type KeyRingFile, keyRingFrom } from '../src/auth/signing-keys.ts';
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
