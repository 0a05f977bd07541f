import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWTVerifyGetKey, SignJWT } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AccessTokenVerifier,
  accessTokenLifetimeSeconds,
  accessTokenType,
  clockToleranceSeconds,
  signingAlgorithm,
} from '../src/index.ts';

const parties = { issuer: 'urn:test:users', audience: 'urn:test:api' };
const kid = 'test-key';
let privateKey: CryptoKey;
let keySet: JWTVerifyGetKey;

beforeAll(async () => {
  const pair = await generateKeyPair(signingAlgorithm, { extractable: true });
  privateKey = pair.privateKey;
  keySet = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid }] });
});

afterEach(() => {
  vi.useRealTimers();
});

// Ids as the users service issues them (the verifier refuses any other subject or session).
const userOne = '01a24d66-7108-73a9-a289-4136393cd7f4';
const sessionOne = '01a24d66-7108-73a9-a289-4136393cd7f5';

async function issue(user = userOne, session = sessionOne): Promise<string> {
  const issuedAt = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: 'CUSTOMER', sid: session })
    .setProtectedHeader({ alg: signingAlgorithm, kid, typ: accessTokenType })
    .setIssuer(parties.issuer)
    .setAudience(parties.audience)
    .setSubject(user)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + accessTokenLifetimeSeconds)
    .setJti(randomUUID())
    .sign(privateKey);
}

/** A verifier whose key lookups are counted: one lookup is one full signature check. */
function countingVerifier(options: ConstructorParameters<typeof AccessTokenVerifier>[2] = {}) {
  const lookups = { count: 0 };
  const keys: JWTVerifyGetKey = (header, token) => {
    lookups.count += 1;
    return keySet(header, token);
  };
  return { verifier: new AccessTokenVerifier(keys, parties, options), lookups };
}

const refusal = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    return (error as { extensions?: unknown }).extensions;
  }
  throw new Error('expected the token to be refused');
};

describe('AccessTokenVerifier: remembered tokens', () => {
  it('checks a token’s signature once, then answers its next requests from memory', async () => {
    const { verifier, lookups } = countingVerifier();
    const token = await issue();

    const first = await verifier.verify(token);
    const second = await verifier.verify(token);

    expect(first).toEqual({ userId: userOne, role: 'CUSTOMER', sessionId: sessionOne });
    expect(second).toEqual(first);
    expect(lookups.count).toBe(1);
  });

  it('refuses a remembered token as soon as it is revoked', async () => {
    const revokedSessions = new Set<string>();
    const { verifier } = countingVerifier({
      isRevoked: ({ sessionId }) => revokedSessions.has(sessionId),
    });
    const token = await issue();
    await verifier.verify(token);

    revokedSessions.add(sessionOne);

    expect(await refusal(verifier.verify(token))).toEqual({
      code: 'UNAUTHENTICATED',
      reason: 'revoked',
    });
  });

  it('refuses a remembered token once it has expired', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { verifier } = countingVerifier();
    const token = await issue();
    await verifier.verify(token);

    vi.setSystemTime(Date.now() + (accessTokenLifetimeSeconds + clockToleranceSeconds) * 1000);

    expect(await refusal(verifier.verify(token))).toEqual({
      code: 'UNAUTHENTICATED',
      reason: 'expired',
    });
  });

  it('checks a tampered token in full, never from memory', async () => {
    const { verifier, lookups } = countingVerifier();
    const token = await issue();
    await verifier.verify(token);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const promoted = Buffer.from(JSON.stringify({ ...claims, role: 'ADMIN' })).toString(
      'base64url',
    );
    const flipped = signature[10] === 'A' ? 'B' : 'A';
    const otherSignature = `${signature.slice(0, 10)}${flipped}${signature.slice(11)}`;

    for (const tampered of [
      `${header}.${promoted}.${signature}`,
      `${header}.${payload}.${otherSignature}`,
    ]) {
      expect(await refusal(verifier.verify(tampered))).toEqual({
        code: 'UNAUTHENTICATED',
        reason: 'invalid',
      });
    }
    expect(lookups.count).toBe(3);
  });

  it('remembers at most the configured number of tokens, dropping the least recently used', async () => {
    const { verifier, lookups } = countingVerifier({ verifiedTokens: 2 });
    const [a, b, c] = [
      await issue(`${userOne.slice(0, -1)}a`),
      await issue(`${userOne.slice(0, -1)}b`),
      await issue(`${userOne.slice(0, -1)}c`),
    ];

    for (const token of [a, b, c, a]) await verifier.verify(token);

    expect(lookups.count).toBe(4);
  });

  it('checks every request in full when remembering is off', async () => {
    const { verifier, lookups } = countingVerifier({ verifiedTokens: 0 });
    const token = await issue();

    await verifier.verify(token);
    await verifier.verify(token);

    expect(lookups.count).toBe(2);
  });
});
