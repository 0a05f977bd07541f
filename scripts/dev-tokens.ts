// Access tokens for load tests and benchmarks: signed with the users service's development
// key, exactly as it signs them, for users written straight into its database. Logging fifty people in would
// measure scrypt, not the code under test.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { usersDatabase } from '@ticketing/prisma/users';
import { importJWK, type JWK, SignJWT } from 'jose';

/** Reads the development signing key that the users service generated under `dataDir`. */
export async function developmentSigningKey(dataDir: string): Promise<JWK> {
  const ring = JSON.parse(await readFile(join(dataDir, 'auth', 'signing-keys.json'), 'utf8'));
  return ring.keys.find((candidate: JWK) => candidate.kid === ring.active) as JWK;
}

/** A valid access token for `userId` with the default issuer and audience. */
export async function accessTokenFor(key: JWK, userId: string, role: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role, sid: randomUUID() })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid as string })
    .setIssuer('urn:ticketing:users')
    .setAudience('urn:ticketing:api')
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + 900)
    .setJti(randomUUID())
    .sign(await importJWK(key, 'EdDSA'));
}

export interface SeededPerson {
  id: string;
  token: string;
}

/**
 * An organizer and `buyers` customers written straight into the users database at
 * `usersDatabaseUrl`, each with an access token signed with the development key under
 * `dataDir` (the users service must have started there once).
 */
export async function seedPeopleWithTokens(options: {
  dataDir: string;
  usersDatabaseUrl: string;
  buyers: number;
  /** Tells this run's emails apart. */
  label: string;
}): Promise<{ organizer: SeededPerson; buyers: SeededPerson[] }> {
  const key = await developmentSigningKey(options.dataDir);
  const people = Array.from({ length: options.buyers + 1 }, (_, i) => ({
    id: randomUUID(),
    email: `${options.label}-${i}-${randomUUID()}@example.com`,
    name: i === 0 ? 'Organizer' : `Buyer ${i}`,
    role: i === 0 ? ('ORGANIZER' as const) : ('CUSTOMER' as const),
  }));
  const users = await usersDatabase.open(
    { kind: 'postgres', url: options.usersDatabaseUrl },
    { migrate: false },
  );
  try {
    await users.prisma.user.createMany({ data: people });
  } finally {
    await users.close();
  }
  const [organizer, ...customers] = await Promise.all(
    people.map(async (person) => ({
      id: person.id,
      token: await accessTokenFor(key, person.id, person.role),
    })),
  );
  return { organizer: organizer as SeededPerson, buyers: customers };
}
