import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessTokenVerifier } from '@ticketing/auth';
import { ConfigurationError, createLogger } from '@ticketing/platform';
import { afterAll, describe, expect, it } from 'vitest';
import {
  generateSigningKey,
  type KeyRingFile,
  keyRingFrom,
  loadSigningKeys,
} from '../src/auth/signing-keys.ts';
import { AccessTokenIssuer } from '../src/auth/tokens.ts';

const parties = { issuer: 'urn:test:issuer', audience: 'urn:test:api' };
const user = { id: '0190a000-0000-7000-8000-000000000001', role: 'CUSTOMER' as const };
// A session's id as the users service issues it (a verifier refuses any other).
const sessionId = '0190a000-0000-7000-8000-0000000000a1';
const logger = createLogger('users', 'silent');
const scratch: string[] = [];
afterAll(async () => {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('signing key rotation', () => {
  it('publishes the next key before it signs, and accepts the old key’s tokens until it is removed', async () => {
    const [oldKey, newKey] = [
      await generateSigningKey('2026-10'),
      await generateSigningKey('2026-11'),
    ];
    const ring = (active: string, keys: object[]) => ({ active, keys }) as KeyRingFile;

    // Before: the old key signs; the new one is published already.
    const before = await keyRingFrom(ring('2026-10', [oldKey, newKey]));
    expect(before.publicJwks.keys.map((key) => key.kid)).toEqual(['2026-10', '2026-11']);
    expect(before.publicJwks.keys.some((key) => 'd' in key)).toBe(false);
    const oldToken = (await new AccessTokenIssuer(before, parties).issue(user, sessionId)).token;

    // During: the new key signs; the old one stays published, so its tokens still verify.
    const during = await keyRingFrom(ring('2026-11', [oldKey, newKey]));
    const newToken = (await new AccessTokenIssuer(during, parties).issue(user, sessionId)).token;
    const verifier = new AccessTokenVerifier(during.keySet, parties);
    expect(await verifier.verify(oldToken)).toMatchObject({ userId: user.id });
    expect(await verifier.verify(newToken)).toMatchObject({ userId: user.id });
    expect(
      JSON.parse(Buffer.from(newToken.split('.')[0] as string, 'base64url').toString()).kid,
    ).toBe('2026-11');

    // After: the old key is gone, and so is every token it signed.
    const after = new AccessTokenVerifier(
      (await keyRingFrom(ring('2026-11', [newKey]))).keySet,
      parties,
    );
    await expect(after.verify(oldToken)).rejects.toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
    expect(await after.verify(newToken)).toMatchObject({ userId: user.id });
  });
});

describe('loading signing keys', () => {
  it('generates a development key at first start, keeps it private to the owner, and reuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ticketing-keys-'));
    scratch.push(dir);
    const devKeyPath = join(dir, 'auth', 'signing-keys.json');
    const first = await loadSigningKeys({ AUTH_DEV_KEYS: true, devKeyPath }, logger);
    expect((await stat(devKeyPath)).mode & 0o777).toBe(0o600);
    const second = await loadSigningKeys({ AUTH_DEV_KEYS: true, devKeyPath }, logger);
    expect(second.activeKid).toBe(first.activeKid);
  });

  it('refuses to start without configured keys when development keys are off', async () => {
    await expect(
      loadSigningKeys({ AUTH_DEV_KEYS: false, devKeyPath: '/nonexistent/keys.json' }, logger),
    ).rejects.toThrow(ConfigurationError);
  });

  it.each([
    ['not JSON', 'nope'],
    ['an active kid that names no key', JSON.stringify({ active: 'missing', keys: [] })],
    [
      'a public key only',
      JSON.stringify({ active: 'a', keys: [{ kty: 'OKP', crv: 'Ed25519', kid: 'a', x: 'AAAA' }] }),
    ],
  ])('refuses AUTH_SIGNING_KEYS that is %s', async (_, value) => {
    await expect(
      loadSigningKeys({ AUTH_SIGNING_KEYS: value, AUTH_DEV_KEYS: false, devKeyPath: '' }, logger),
    ).rejects.toThrow(ConfigurationError);
  });
});
