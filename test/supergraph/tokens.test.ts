// Access tokens through the gateway: every way a token can be wrong is refused with
// UNAUTHENTICATED, never treated as anonymous, and changes nothing.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { generateSigningKey } from '@ticketing/users-subgraph/signing-keys';
import { importJWK, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, meQuery, signUp } from './operations.ts';

let supergraph: Supergraph;
let session: AuthPayload;
let signingKey: JWK;

beforeAll(async () => {
  supergraph = await startSupergraph();
  session = await signUp(supergraph, { name: 'Unchanged' });
  signingKey = await supergraph.signingKey();
});
afterAll(async () => {
  await supergraph?.stop();
});

interface Forgery {
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  key?: JWK;
  issuedAt?: number;
  expiresAt?: number;
}

/** A token like the users service signs, with the given differences. */
async function forge({
  header = {},
  claims = {},
  key = signingKey,
  issuedAt,
  expiresAt,
}: Forgery = {}) {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: 'urn:ticketing:users',
    aud: 'urn:ticketing:api',
    sub: session.user.id,
    iat: issuedAt ?? now,
    exp: expiresAt ?? now + 600,
    jti: crypto.randomUUID(),
    role: 'CUSTOMER',
    sid: crypto.randomUUID(),
    ...claims,
  };
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid, ...header } as never)
    .sign(await importJWK(key, 'EdDSA'));
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const rejections: [string, () => Promise<string>][] = [
  [
    'alg: none',
    async () => {
      const [, payload] = (await forge()).split('.');
      return `${base64url({ alg: 'none', typ: 'at+jwt', kid: signingKey.kid })}.${payload}.`;
    },
  ],
  [
    'HS256 signed with the public key',
    async () => {
      const publicPem = createPublicKey(
        createPrivateKey({ key: signingKey as never, format: 'jwk' }),
      )
        .export({ type: 'spki', format: 'pem' })
        .toString();
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ role: 'ADMIN', sid: crypto.randomUUID() })
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: signingKey.kid as string })
        .setIssuer('urn:ticketing:users')
        .setAudience('urn:ticketing:api')
        .setSubject(session.user.id)
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .setJti(crypto.randomUUID())
        .sign(new TextEncoder().encode(publicPem));
    },
  ],
  ['a wrong aud', () => forge({ claims: { aud: 'urn:someone-else' } })],
  ['a wrong iss', () => forge({ claims: { iss: 'urn:someone-else' } })],
  [
    'expiry beyond the 30 s tolerance',
    () => {
      const now = Math.floor(Date.now() / 1000);
      return forge({ issuedAt: now - 960, expiresAt: now - 60 });
    },
  ],
  ['an unknown kid', async () => forge({ key: await generateSigningKey('not-published') })],
  [
    'the published kid over another key’s signature',
    async () => forge({ key: { ...(await generateSigningKey('other')), kid: signingKey.kid } }),
  ],
  [
    'a not-before time a minute ahead',
    () => forge({ claims: { nbf: Math.floor(Date.now() / 1000) + 60 } }),
  ],
  [
    'a tampered payload',
    async () => {
      const [header, payload, signature] = (await forge()).split('.');
      const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString());
      return `${header}.${base64url({ ...claims, role: 'ADMIN' })}.${signature}`;
    },
  ],
  ['a refresh token used as an access token', async () => session.refreshToken],
  ['no kid', () => forge({ header: { kid: undefined } })],
  ['a typ other than at+jwt', () => forge({ header: { typ: 'JWT' } })],
  [
    'a 10-year lifetime',
    () => {
      const now = Math.floor(Date.now() / 1000);
      return forge({ issuedAt: now, expiresAt: now + 10 * 365 * 86_400 });
    },
  ],
  [
    'a lifetime one second over 15 minutes',
    () => {
      const now = Math.floor(Date.now() / 1000);
      return forge({ issuedAt: now, expiresAt: now + 901 });
    },
  ],
  [
    'an issue time an hour ahead',
    () => {
      const now = Math.floor(Date.now() / 1000);
      return forge({ issuedAt: now + 3_600, expiresAt: now + 3_600 + 600 });
    },
  ],
  ['no role claim', () => forge({ claims: { role: undefined } })],
  ['an unknown role', () => forge({ claims: { role: 'SUPERUSER' } })],
  // Signed with the right key, but naming no account or session as they are issued: the
  // services would send these to uuid columns (found by fuzz.test.ts).
  ['a subject that is no UUID', () => forge({ claims: { sub: 'not-a-uuid' } })],
  ['a subject in capitals', () => forge({ claims: { sub: session.user.id.toUpperCase() } })],
  ['a session id that is no UUID', () => forge({ claims: { sid: 'session-1' } })],
];

describe('an access token', () => {
  it('forged the way the rejections below are, but correctly, is accepted', async () => {
    const result = await supergraph.request(meQuery, {}, { token: await forge() });
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ me: expect.objectContaining({ id: session.user.id }) });
  });

  it('expired less than 30 s ago is still accepted (clock tolerance)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await forge({ issuedAt: now - 900, expiresAt: now - 10 });
    expect((await supergraph.request(meQuery, {}, { token })).errors).toBeUndefined();
  });

  it.each(rejections)('with %s is UNAUTHENTICATED and changes nothing', async (_, makeToken) => {
    const token = await makeToken();
    const query = await supergraph.request(meQuery, {}, { token });
    expect(query.status).toBe(401);
    expect(codeOf(query)).toBe('UNAUTHENTICATED');
    expect(query.data ?? null).toBeNull();

    const mutation = await supergraph.request(
      'mutation { updateProfile(input: { name: "Changed by a forged token" }) { id } }',
      {},
      { token },
    );
    expect(mutation.status).toBe(401);
    expect(codeOf(mutation)).toBe('UNAUTHENTICATED');
    const row = await supergraph.databases.users.user.findUniqueOrThrow({
      where: { id: session.user.id },
    });
    expect(row.name).toBe('Unchanged');
  });

  // RFC 6750 §2.1: `"Bearer" 1*SP b64token`, the scheme in any case (RFC 9110 §11.1). Two
  // spaces were refused as a malformed header.
  it.each([
    ['the scheme in lower case', (token: string) => `bearer ${token}`],
    ['the scheme in capitals', (token: string) => `BEARER ${token}`],
    ['two spaces after the scheme', (token: string) => `Bearer  ${token}`],
  ])('in an Authorization header with %s is accepted', async (_, header) => {
    const result = await supergraph.request(
      meQuery,
      {},
      { authorization: header(session.accessToken) },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ me: expect.objectContaining({ id: session.user.id }) });
  });

  it.each([
    'Basic dXNlcjpwYXNz',
    'Bearer',
    'Bearer two tokens',
    'token-without-scheme',
    'Bearer\ttab-instead-of-a-space',
  ])('in a malformed Authorization header (%s) is UNAUTHENTICATED', async (authorization) => {
    const result = await supergraph.request(meQuery, {}, { authorization });
    expect(result.status).toBe(401);
    expect(codeOf(result)).toBe('UNAUTHENTICATED');
  });
});

describe('the users service’s JWKS', () => {
  it('publishes the public signing key under its kid, and nothing private', async () => {
    const response = await fetch(new URL('/.well-known/jwks.json', supergraph.subgraphUrls.users));
    const jwks = (await response.json()) as { keys: JWK[] };
    expect(jwks.keys).toEqual([
      {
        kty: 'OKP',
        crv: 'Ed25519',
        x: signingKey.x,
        kid: signingKey.kid,
        alg: 'EdDSA',
        use: 'sig',
      },
    ]);
  });
});
