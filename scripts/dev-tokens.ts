// Access tokens for load tests and benchmarks: signed with the users service's development
// key, exactly as it signs them, for users the test created. Logging fifty people in would
// measure scrypt, not the code under test.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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
