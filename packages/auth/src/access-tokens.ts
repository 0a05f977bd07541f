import { createHash } from 'node:crypto';
import { GraphQLError } from 'graphql';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { LRUCache } from 'lru-cache';
import { rejectRequest, unauthenticated } from './errors.ts';
import { type Identity, isRole } from './identity.ts';

/** RFC 9068's media type for JWT access tokens; a token of any other type is refused. */
export const accessTokenType = 'at+jwt';
/** Ed25519 signatures. Only this algorithm is accepted, whatever a token's header claims. */
export const signingAlgorithm = 'EdDSA';
export const accessTokenLifetimeSeconds = 15 * 60;
/** Tolerated clock skew between the machine that signs and the one that verifies. */
export const clockToleranceSeconds = 30;

/**
 * The users service's answer extension that names, by root response key, the access token
 * each sign-in (`signUp`, `logIn`, `refreshSession`) issued: the gateway verifies it and
 * fetches the fields under that sign-in as the person who signed in, and never passes it on.
 */
export const issuedAccessTokensExtension = 'issuedAccessTokens';

export interface TokenParties {
  /** `iss`: the users service. */
  issuer: string;
  /** `aud`: this API. */
  audience: string;
}

/** How long a loaded key set is used before it is fetched again (in the background). */
const keySetRefreshMs = 10 * 60_000;

/** The key set could not be had (its service down, failing, frozen): no fault of the token. */
class KeySetUnavailable extends Error {}

/** What a key lookup throws for the token's own fault: no key, or no usable one, for it. */
const tokenFaults = [
  errors.JWKSNoMatchingKey,
  errors.JWKSMultipleMatchingKeys,
  errors.JOSENotSupported,
  errors.JOSEAlgNotAllowed,
];

/**
 * The users service's published keys (`/.well-known/jwks.json`), cached. An unknown `kid`
 * triggers a refetch (at most every 30 s), so a newly published key is picked up. The set
 * is fetched again every 10 minutes in the background, and the keys it has go on verifying
 * meanwhile, and for as long as the users service is away: an outage of that service never
 * stops tokens signed with keys already known. A set that cannot be fetched at all (none
 * loaded yet, or a `kid` it does not know) is SERVICE_UNAVAILABLE, never UNAUTHENTICATED.
 */
export function remoteKeySet(jwksUrl: string): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(new URL(jwksUrl), {
    timeoutDuration: 5_000,
    cooldownDuration: 30_000,
    // Never past its age on a request's path: refreshed below, without waiting for it.
    cacheMaxAge: Number.POSITIVE_INFINITY,
  });
  let refreshedAt = Date.now();
  return async (header, token) => {
    if (Date.now() - refreshedAt >= keySetRefreshMs && remote.jwks() !== undefined) {
      refreshedAt = Date.now();
      remote.reload().catch(() => {});
    }
    try {
      return await remote(header, token);
    } catch (error) {
      if (tokenFaults.some((fault) => error instanceof fault)) throw error;
      throw new KeySetUnavailable('the key set cannot be fetched', { cause: error });
    }
  };
}

/**
 * Verifies access tokens: the one place where the gateway and every subgraph decide who a
 * caller is. Restricts the algorithm, requires `kid`, `typ`, `iss`, `aud` and every claim
 * an identity needs.
 */
export interface VerifierOptions {
  /**
   * Whether a validly signed token was revoked since it was issued (logOut, a changed
   * password or role, a deleted account). Called on every request: it must not do I/O.
   */
  isRevoked?(token: { userId: string; sessionId: string; issuedAt: number }): boolean;
  /**
   * How many verified tokens to remember, so that a caller's next requests skip the
   * signature check (an Ed25519 verification through WebCrypto, the largest per-request
   * cost of a signed-in request at the gateway). Each is kept until it expires, keyed by
   * the SHA-256 of the whole token: a token changed in any byte is another key and is
   * verified in full. Revocation is checked on every request, remembered or not. A signing
   * key withdrawn from the key set stops the tokens remembered here only when they expire
   * (15 minutes at most; the key set itself is refetched every 10 minutes). 0 turns it off.
   * @default 10_000
   */
  verifiedTokens?: number;
}

/** What a verified token gave, kept until the token expires. */
interface VerifiedToken {
  identity: Identity;
  issuedAt: number;
  /** When jose would call it expired (ms since the epoch): `exp` plus the clock tolerance. */
  expiresAt: number;
}

const tokenKey = (token: string) => createHash('sha256').update(token).digest('base64url');

/**
 * Account and session ids as the users service issues them: lower-case UUIDs. Another
 * subject or session, even under a valid signature, names nothing the services store, and
 * would reach their uuid columns (an unexpected database error) or compare unequal to its
 * own account's id.
 */
function isIssuedId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)
  );
}

export class AccessTokenVerifier {
  readonly #keys: JWTVerifyGetKey;
  readonly #parties: TokenParties;
  readonly #isRevoked: VerifierOptions['isRevoked'];
  readonly #verified: LRUCache<string, VerifiedToken> | undefined;

  constructor(keys: JWTVerifyGetKey, parties: TokenParties, options: VerifierOptions = {}) {
    this.#keys = keys;
    this.#parties = parties;
    this.#isRevoked = options.isRevoked;
    const size = options.verifiedTokens ?? 10_000;
    this.#verified = size > 0 ? new LRUCache({ max: size }) : undefined;
  }

  async verify(token: string): Promise<Identity> {
    const key = this.#verified ? tokenKey(token) : undefined;
    const known = key === undefined ? undefined : this.#verified?.get(key);
    if (key !== undefined && known) {
      if (known.expiresAt <= Date.now()) {
        this.#verified?.delete(key);
        throw unauthenticated('The access token has expired.', 'expired');
      }
      return this.#unlessRevoked(known.identity, known.issuedAt);
    }
    try {
      if (!decodeProtectedHeader(token).kid) throw unauthenticated();
      const { payload } = await jwtVerify(token, this.#keys, {
        ...this.#parties,
        algorithms: [signingAlgorithm],
        typ: accessTokenType,
        clockTolerance: clockToleranceSeconds,
        requiredClaims: ['sub', 'role', 'sid', 'jti', 'iat', 'exp'],
      });
      if (!isRole(payload.role) || !isIssuedId(payload.sid) || !isIssuedId(payload.sub)) {
        throw unauthenticated();
      }
      const issuedAt = payload.iat as number;
      const lifetime = (payload.exp as number) - issuedAt;
      // The users service issues 15-minute tokens. A longer one, or one issued in the
      // future, was not made by it as configured: a leaked key, or a bug, must not mint
      // tokens that outlive every revocation.
      if (
        lifetime > accessTokenLifetimeSeconds ||
        issuedAt > Date.now() / 1000 + clockToleranceSeconds
      ) {
        throw unauthenticated('The access token’s lifetime is longer than allowed.');
      }
      const identity = { userId: payload.sub, role: payload.role, sessionId: payload.sid };
      const verified = this.#unlessRevoked(identity, issuedAt);
      if (key !== undefined) {
        const expiresAt = ((payload.exp as number) + clockToleranceSeconds) * 1000;
        this.#verified?.set(key, { identity, issuedAt, expiresAt });
      }
      return verified;
    } catch (error) {
      if (error instanceof GraphQLError) throw error;
      // The users service's outage: retry, not sign in again.
      if (error instanceof KeySetUnavailable || error instanceof errors.JWKSTimeout) {
        throw new GraphQLError('Access tokens cannot be verified right now; try again shortly.', {
          extensions: { code: 'SERVICE_UNAVAILABLE', http: { status: 503 } },
        });
      }
      if (error instanceof errors.JWTExpired) {
        throw unauthenticated('The access token has expired.', 'expired');
      }
      // Malformed tokens, bad signatures, unknown keys, wrong claims: all the same to a caller.
      throw unauthenticated();
    }
  }

  /** The identity, unless a revocation since `issuedAt` stops it: checked on every request. */
  #unlessRevoked(identity: Identity, issuedAt: number): Identity {
    if (this.#isRevoked?.({ ...identity, issuedAt })) {
      throw unauthenticated('The access token has been revoked.', 'revoked');
    }
    return { ...identity };
  }

  /**
   * The identity behind an `Authorization` header: none for an anonymous request, an
   * UNAUTHENTICATED error for anything but a valid bearer token.
   */
  async authenticate(authorization: string | undefined): Promise<Identity | null> {
    if (authorization === undefined || authorization === '') return null;
    // RFC 6750 §2.1: the scheme in any case, one space or more, then the token.
    const match = /^Bearer +([\w.~+/=-]+)$/i.exec(authorization.trim());
    try {
      if (!match?.[1]) {
        throw unauthenticated('The Authorization header must be "Bearer <access token>".');
      }
      return await this.verify(match[1]);
    } catch (error) {
      if (error instanceof GraphQLError && error.extensions.code === 'UNAUTHENTICATED') {
        throw rejectRequest(error);
      }
      throw error;
    }
  }
}
