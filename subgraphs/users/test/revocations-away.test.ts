// Redis away when a write publishes its revocations: the write is made and answered as made.
// The revoked access tokens then live until they expire (at most 15 minutes), which is
// logged; the mutation is not answered as failed behind a change it committed.
import { connectRedis, createLogger, type RedisConnection } from '@ticketing/platform';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { type PrismaClient, usersDatabase } from '@ticketing/prisma/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../scripts/ports.ts';
import { generateSigningKey, type KeyRingFile, keyRingFrom } from '../src/auth/signing-keys.ts';
import { hashRefreshToken } from '../src/auth/tokens.ts';
import { createUsersServices } from '../src/subgraph.ts';

let database: TestDatabase<PrismaClient>;
let redis: RedisConnection;
let accounts: ReturnType<typeof createUsersServices>['accounts'];

const password = 'correct horse battery staple 42';
const address = '192.0.2.80';

beforeAll(async () => {
  database = await createTestDatabase(usersDatabase);
  const key = (await generateSigningKey('only')) as KeyRingFile['keys'][number];
  const keys = await keyRingFrom({ active: 'only', keys: [key] });
  const logger = createLogger('users', 'silent');
  // Nothing listens there: every publication fails at once.
  redis = connectRedis(`redis://127.0.0.1:${await freePort()}`, {
    timeoutMs: 250,
    logger,
    name: 'revocations',
  });
  accounts = createUsersServices(
    database.prisma,
    keys,
    { issuer: 'test', audience: 'test' },
    logger,
    undefined,
    { redis, tickets: { close: async () => {}, reopen: async () => {} } },
  ).accounts;
});
afterAll(async () => {
  await redis?.close();
  await database?.close();
});

const signUp = (email: string) =>
  accounts.signUp({ email, password, name: 'Ida', accountType: 'CUSTOMER' }, address);

describe('with Redis away, a write that revokes tokens', () => {
  it('logs out: the session ends, and the answer says so', async () => {
    const session = await signUp('away-logout@example.com');
    expect(await accounts.logOut(session.refreshToken)).toBe(true);
    const token = await database.prisma.refreshToken.findUniqueOrThrow({
      where: { tokenHash: hashRefreshToken(session.refreshToken) },
    });
    expect(token.revokedAt).not.toBeNull();
  });

  it('changes the password, and the answer says so', async () => {
    const { user } = await signUp('away-password@example.com');
    // A second session, which the change ends.
    await accounts.logIn('away-password@example.com', password, address);
    const viewer = { userId: user.id, role: user.role, sessionId: crypto.randomUUID() };
    const before = await database.prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(await accounts.changePassword(viewer, password, `${password} anew`, address)).toBe(true);
    const after = await database.prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(after.passwordHash).not.toBe(before.passwordHash);
  });

  it('deletes the account, and the answer says so', async () => {
    const { user } = await signUp('away-delete@example.com');
    const viewer = { userId: user.id, role: user.role, sessionId: crypto.randomUUID() };
    expect(await accounts.deleteAccount(viewer, password, address)).toBe(true);
    const deleted = await database.prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(deleted.deletedAt).not.toBeNull();
  });
});
