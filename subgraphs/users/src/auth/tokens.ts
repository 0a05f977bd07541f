import { createHash, randomBytes, randomUUID } from 'node:crypto';
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

  async issue(user: { id: string; role: Role }, sessionId: string): Promise<IssuedAccessToken> {
    const issuedAt = Math.floor(Date.now() / 1000);
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

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
