// The throttle's counters on the real database: an attempt is counted before its password
// is checked, locks start at the threshold and double, and concurrent attempts are
// counted one by one.
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { type PrismaClient, usersDatabase } from '@ticketing/prisma/users';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginThrottleRepository } from '../src/repositories/LoginThrottleRepository.ts';
import { throttledAddress, throttlePolicy } from '../src/services/LoginThrottle.ts';

let database: TestDatabase<PrismaClient>;
let repository: LoginThrottleRepository;

beforeAll(async () => {
  database = await createTestDatabase(usersDatabase);
  repository = new LoginThrottleRepository(database.prisma);
});
afterAll(async () => {
  await database?.close();
});

const rule = throttlePolicy.pair;

/** Seconds from now until `date`, rounded. */
const secondsUntil = (date: Date | null) =>
  date ? Math.round((date.getTime() - Date.now()) / 1000) : 0;

/** Ends the key's lock now, as if its time had passed. */
const expireLock = (key: string) =>
  database.prisma.loginThrottle.update({
    where: { key },
    data: { lockedUntil: new Date(Date.now() - 1) },
  });

describe('login throttle counters', () => {
  it('lock at the threshold for 30 s, then double with each admitted attempt, up to 15 min', async () => {
    const key = 'pair:durations@example.com|192.0.2.1';
    for (let attempt = 1; attempt < rule.threshold; attempt++) {
      expect(await repository.admit(key, rule)).toEqual({ admitted: true, lockedUntil: null });
    }
    const durations: number[] = [];
    for (let extra = 0; extra < 7; extra++) {
      const admission = await repository.admit(key, rule);
      expect(admission.admitted).toBe(true);
      durations.push(secondsUntil(admission.lockedUntil));
      // Locked: refused, and not counted.
      const refused = await repository.admit(key, rule);
      expect(refused.admitted).toBe(false);
      await expireLock(key);
    }
    expect(durations).toEqual([30, 60, 120, 240, 480, 900, 900]);
    const row = await database.prisma.loginThrottle.findUniqueOrThrow({ where: { key } });
    expect(row.failures).toBe(rule.threshold + 6);
  });

  it('count concurrent attempts one by one', async () => {
    const key = 'pair:parallel@example.com|192.0.2.2';
    const admissions = await Promise.all(
      Array.from({ length: 20 }, () => repository.admit(key, rule)),
    );
    expect(admissions.filter((admission) => admission.admitted)).toHaveLength(rule.threshold);
  });

  it('give an attempt back, lifting a lock it set', async () => {
    const key = 'address:192.0.2.3';
    const address = throttlePolicy.address;
    for (let attempt = 0; attempt < address.threshold; attempt++) {
      await repository.admit(key, address);
    }
    expect((await repository.admit(key, address)).admitted).toBe(false);
    await repository.refund(key, address);
    expect((await repository.admit(key, address)).admitted).toBe(true);
  });
});

describe('the address a throttle counts', () => {
  it.each([
    ['198.51.100.7', '198.51.100.7'],
    [undefined, 'unknown'],
    ['2001:db8:7:1::1', '2001:db8:7:1::/64'],
    ['2001:0DB8:0007:0001:ffff:ffff:ffff:ffff', '2001:db8:7:1::/64'],
    ['2001:db8::', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
    ['::ffff:c633:6407', '198.51.100.7'],
    // NAT64 (RFC 6052): an IPv4 client reached through a translator, each its own address,
    // not the one /64 of every client behind it.
    ['64:ff9b::198.51.100.7', '198.51.100.7'],
    ['64:ff9b::c633:6408', '198.51.100.8'],
  ])('for %s is %s', (address, expected) => {
    expect(throttledAddress(address)).toBe(expected);
  });
});
