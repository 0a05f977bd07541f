import { randomUUID } from 'node:crypto';
import { isUuid } from '@ticketing/platform';
import {
  decodeJwt,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import { LRUCache } from 'lru-cache';
import type { SigningKeyRepository } from '../repositories/SigningKeyRepository.ts';

/** The JWS header `typ` of a ticket's QR token. */
export const ticketTokenType = 'ticket+jwt';

/**
 * How many events' keys a tickets service holds in memory at most, the most recently used:
 * every event that ever sold a ticket or was scanned would otherwise stay for the life of
 * the process. One let go of is read again from the database (one row, two key imports).
 */
export const ticketKeysKeptInMemory = 1_000;

/** What a ticket's QR token says, short claim names to keep the QR code small. */
export interface TicketClaims {
  /** The ticket's id. */
  ticketId: string;
  eventId: string;
  tierId: string;
  /** The ticket's token version: a transfer raises it, and older tokens are refused. */
  version: number;
}

type KeyPair = { kid: string; privateKey: CryptoKey; publicKey: CryptoKey; publicJwk: JWK };

/** Why a token was refused before any ticket was looked up. */
export type TokenProblem = 'invalid' | 'otherEvent';

/**
 * Signs and checks tickets' QR tokens: compact JWTs signed with Ed25519 by a key of the
 * ticket's event. A door device verifies them offline with the event's public key alone
 * (`Event.ticketKeys`, the JWK fields). One key per event, not the users service's keys:
 * tokens must outlive the access-token keys' rotation (an event is months away), a leaked
 * event key forges tickets for that event only, and the private half never leaves this
 * service, which the access-token keys would have to.
 */
export class TicketTokens {
  readonly #keys: SigningKeyRepository;
  readonly #pairs = new LRUCache<string, Promise<KeyPair>>({ max: ticketKeysKeptInMemory });

  constructor(keys: SigningKeyRepository) {
    this.#keys = keys;
  }

  async sign(claims: TicketClaims): Promise<string> {
    const pair = await this.#pair(claims.eventId);
    return new SignJWT({ evt: claims.eventId, tir: claims.tierId, ver: claims.version })
      .setProtectedHeader({ alg: 'EdDSA', kid: pair.kid, typ: ticketTokenType })
      .setSubject(claims.ticketId)
      .sign(pair.privateKey);
  }

  /** The claims of a token signed with `eventId`'s key, or why it is refused. */
  async verify(
    token: string,
    eventId: string,
  ): Promise<{ claims: TicketClaims } | { problem: TokenProblem }> {
    const payload = await verified(token, (await this.#pair(eventId)).publicKey);
    if (!payload) {
      // A genuine ticket of another event fails here too: say so only when that event's
      // own key signed it.
      const claimed = claimedEventOf(token);
      const other = claimed && claimed !== eventId ? await this.#keys.find(claimed) : null;
      const genuine = other && (await verified(token, await importPublic(other.publicJwk)));
      return { problem: genuine ? 'otherEvent' : 'invalid' };
    }
    const { sub, evt, tir, ver } = payload;
    if (
      typeof sub !== 'string' ||
      typeof tir !== 'string' ||
      typeof ver !== 'number' ||
      evt !== eventId
    ) {
      return { problem: 'invalid' };
    }
    return { claims: { ticketId: sub, eventId, tierId: tir, version: ver } };
  }

  /** The event's public keys as JWKs, for door devices. */
  async publicKeys(eventId: string): Promise<JWK[]> {
    return [(await this.#pair(eventId)).publicJwk];
  }

  /** How many events' keys this process holds in memory. */
  get keptEvents(): number {
    return this.#pairs.size;
  }

  #pair(eventId: string): Promise<KeyPair> {
    let pair = this.#pairs.get(eventId);
    if (!pair) {
      pair = this.#loadOrCreate(eventId);
      const loading = pair;
      this.#pairs.set(eventId, loading);
      // A failure (the database away) must not be remembered; nor may it forget another
      // load of the event, begun once this one was let go of.
      loading.catch(() => {
        if (this.#pairs.peek(eventId) === loading) this.#pairs.delete(eventId);
      });
    }
    return pair;
  }

  async #loadOrCreate(eventId: string): Promise<KeyPair> {
    const stored =
      (await this.#keys.find(eventId)) ?? (await this.#keys.createOnce(eventId, await newKey()));
    return {
      kid: stored.kid,
      privateKey: (await importJWK(stored.privateJwk, 'EdDSA')) as CryptoKey,
      publicKey: await importPublic(stored.publicJwk),
      publicJwk: stored.publicJwk,
    };
  }
}

async function newKey() {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  const kid = randomUUID();
  return {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' },
  };
}

async function importPublic(jwk: JWK): Promise<CryptoKey> {
  return (await importJWK(jwk, 'EdDSA')) as CryptoKey;
}

/** The token's claims if `key` signed it as a ticket token; null otherwise. */
async function verified(token: string, key: CryptoKey): Promise<JWTPayload | null> {
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['EdDSA'],
      typ: ticketTokenType,
      requiredClaims: ['sub', 'evt', 'tir', 'ver'],
    });
    return payload;
  } catch {
    return null;
  }
}

/** The `evt` claim of a token, read without verifying it: only to find the key to try. */
function claimedEventOf(token: string): string | undefined {
  try {
    const { evt } = decodeJwt(token);
    return typeof evt === 'string' && isUuid(evt) ? evt : undefined;
  } catch {
    return undefined;
  }
}
