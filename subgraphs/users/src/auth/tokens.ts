import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import {
  accessTokenLifetimeSeconds,
  accessTokenType,
  type Role,
  signingAlgorithm,
  type TokenParties,
} from '@ticketing/auth';
import { SignJWT } from 'jose';
import type { SigningKeys } from './signing-keys.ts';

export const refreshTokenLifetimeMs = 30 * 24 * 60 * 60 * 1000;

export interface IssuedAccessToken {
  token: string;
  expiresAt: Date;
}

/** Signs access tokens: short-lived JWTs naming the user, their role and their session. */
export class AccessTokenIssuer {
  readonly #keys: SigningKeys;
  readonly #parties: TokenParties;

  constructor(keys: SigningKeys, parties: TokenParties) {
    this.#keys = keys;
    this.#parties = parties;
  }

  /**
   * `at` is when the token counts as issued: a revocation stops the tokens issued up to its
   * own time (see lockUser for why the time is read with the user).
   */
  async issue(
    user: { id: string; role: Role },
    sessionId: string,
    at = new Date(),
  ): Promise<IssuedAccessToken> {
    const issuedAt = Math.floor(at.getTime() / 1000);
    const expiresAt = issuedAt + accessTokenLifetimeSeconds;
    const token = await new SignJWT({ role: user.role, sid: sessionId })
      .setProtectedHeader({
        alg: signingAlgorithm,
        kid: this.#keys.activeKid,
        typ: accessTokenType,
      })
      .setIssuer(this.#parties.issuer)
      .setAudience(this.#parties.audience)
      .setSubject(user.id)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(randomUUID())
      .sign(this.#keys.signingKey);
    return { token, expiresAt: new Date(expiresAt * 1000) };
  }
}

/**
 * A refresh token: 256 random bits, opaque to everyone. Only its SHA-256 is stored; a slow
 * hash is not needed for a secret with this much entropy.
 */
export function newRefreshToken(): { token: string; hash: string } {
  const token = `rt_${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashRefreshToken(token) };
}

/**
 * How long a refresh token that was just exchanged still buys its successor, by default
 * (REFRESH_GRACE_SECONDS): two tabs (or a retry after a lost answer) refreshing at once both
 * get the same next token. Presented later, it counts as reuse and ends the session.
 */
export const defaultRefreshGraceSeconds = 30;

/**
 * The token that succeeds `token`: derived from it with a key only the users service holds
 * (SigningKeys.successorKeys), so that an exchange repeated within the grace window answers
 * with the same successor, which is never stored (only its hash is). Without the key, a
 * stolen token does not reveal its successor; the secret the users service shares with the
 * gateways and other subgraphs is not that key.
 */
export function successorRefreshToken(
  token: string,
  key: Uint8Array,
): { token: string; hash: string } {
  const successor = `rt_${createHmac('sha256', key).update(`refresh-successor:${token}`).digest('base64url')}`;
  return { token: successor, hash: hashRefreshToken(successor) };
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
