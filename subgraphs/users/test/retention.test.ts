// What the users service deletes as it ages out, on the real database: refresh tokens a day
// past their expiry, login counters idle longer than any rule looks back, and revocations
// once every token they could stop has expired. Nothing live goes, and two replicas pruning at once delete each row once.
import { randomUUID } from 'node:crypto';
import { applyRetention } from '@ticketing/platform';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { type PrismaClient, usersDatabase } from '@ticketing/prisma/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginThrottleRepository } from '../src/repositories/LoginThrottleRepository.ts';
import { throttlePolicy } from '../src/services/LoginThrottle.ts';
import { expiredRefreshTokenKeptMs, usersRetention } from '../src/subgraph.ts';

let database: TestDatabase<PrismaClient>;

beforeAll(async () => {
  database = await createTestDatabase(usersDatabase);
});
afterAll(async () => {
  await database?.close();
});

const hour = 60 * 60_000;
const ago = (ms: number) => new Date(Date.now() - ms);

async function userWithTokens(expiries: Record<string, Date>): Promise<string> {
  const user = await database.prisma.user.create({
    data: { email: `${randomUUID()}@example.com`, name: 'Retained', passwordHash: null },
  });
  const familyId = randomUUID();
  for (const [tokenHash, expiresAt] of Object.entries(expiries)) {
    await database.prisma.refreshToken.create({
      data: { userId: user.id, familyId, tokenHash, expiresAt, usedAt: ago(40 * 24 * hour) },
    });
  }
  return user.id;
}

describe('the users service’s retention', () => {
  it('deletes refresh tokens a day past their expiry, and keeps the rest', async () => {
    const prefix = randomUUID();
    await userWithTokens({
      [`${prefix}-long-expired`]: ago(expiredRefreshTokenKeptMs + hour),
      [`${prefix}-just-expired`]: ago(hour),
      [`${prefix}-live`]: new Date(Date.now() + 29 * 24 * hour),
    });

    await applyRetention(usersRetention(database.prisma));

    const left = await database.prisma.refreshToken.findMany({
      where: { tokenHash: { startsWith: prefix } },
      select: { tokenHash: true },
    });
    expect(left.map((token) => token.tokenHash).sort()).toEqual([
      `${prefix}-just-expired`,
      `${prefix}-live`,
    ]);
  });

  it('forgets login counters idle past every window, and keeps locked and recent ones', async () => {
    const idle = ago(throttlePolicy.knownAddressSeconds * 1000 + hour);
    const prefix = `retention-${randomUUID()}:`;
    await database.prisma.loginThrottle.createMany({
      data: [
        { key: `${prefix}idle`, failures: 3, lastFailureAt: idle },
        { key: `${prefix}idle-lock-ended`, failures: 9, lastFailureAt: idle, lockedUntil: idle },
        {
          key: `${prefix}idle-but-locked`,
          failures: 9,
          lastFailureAt: idle,
          lockedUntil: new Date(Date.now() + hour),
        },
        // An address the account logged in from 29 days ago is still known.
        { key: `${prefix}known`, failures: 0, lastFailureAt: ago(29 * 24 * hour) },
      ],
    });

    await applyRetention(usersRetention(database.prisma));

    const left = await database.prisma.loginThrottle.findMany({
      where: { key: { startsWith: prefix } },
      select: { key: true },
    });
    expect(left.map((row) => row.key).sort()).toEqual([
      `${prefix}idle-but-locked`,
      `${prefix}known`,
    ]);
    // A forgotten counter starts again as a stale one would: at one attempt, unlocked.
    const throttles = new LoginThrottleRepository(database.prisma);
    expect(await throttles.admit(`${prefix}idle`, throttlePolicy.pair)).toEqual({
      admitted: true,
      lockedUntil: null,
    });
    const counted = await database.prisma.loginThrottle.findUniqueOrThrow({
      where: { key: `${prefix}idle` },
    });
    expect(counted.failures).toBe(1);
  });

  it('deletes revocations that stop nothing any more, and keeps those in force', async () => {
    const prefix = randomUUID();
    await database.prisma.revocation.createMany({
      data: [
        { kind: 'session', subjectId: `${prefix}-ended`, expiresAt: ago(1_000) },
        { kind: 'session', subjectId: `${prefix}-in-force`, expiresAt: ago(-hour) },
      ],
    });

    await applyRetention(usersRetention(database.prisma));

    const left = await database.prisma.revocation.findMany({
      where: { subjectId: { startsWith: prefix } },
      select: { subjectId: true },
    });
    expect(left.map((row) => row.subjectId)).toEqual([`${prefix}-in-force`]);
  });

  it('deletes each row once when two replicas prune at the same time', async () => {
    const prefix = randomUUID();
    const expired = ago(expiredRefreshTokenKeptMs + hour);
    await userWithTokens(
      Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`${prefix}-${i}`, expired])),
    );
    const before = await database.prisma.refreshToken.count();

    const runs = await Promise.all(
      [1, 2].map(() => applyRetention(usersRetention(database.prisma), 20)),
    );

    const deleted = runs.reduce((sum, run) => sum + (run['expired refresh tokens'] ?? 0), 0);
    expect(deleted).toBe(before - (await database.prisma.refreshToken.count()));
    expect(
      await database.prisma.refreshToken.count({ where: { tokenHash: { startsWith: prefix } } }),
    ).toBe(0);
  });
});
