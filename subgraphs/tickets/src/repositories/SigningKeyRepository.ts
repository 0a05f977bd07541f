import type { PrismaClient } from '@ticketing/prisma/tickets';
import type { JWK } from 'jose';

export interface StoredKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

/** Each event's QR-token key pair (TicketTokens). */
export class SigningKeyRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  async find(eventId: string): Promise<StoredKey | null> {
    const row = await this.#prisma.eventSigningKey.findUnique({ where: { eventId } });
    return (
      row && { kid: row.kid, privateJwk: row.privateJwk as JWK, publicJwk: row.publicJwk as JWK }
    );
  }

  /**
   * Stores `key` unless the event has one already, and returns the one that stands: two
   * replicas making the first key at once agree on one.
   */
  async createOnce(eventId: string, key: StoredKey): Promise<StoredKey> {
    await this.#prisma.$executeRaw`
      INSERT INTO event_signing_keys (event_id, kid, private_jwk, public_jwk)
      VALUES (${eventId}::uuid, ${key.kid}, ${JSON.stringify(key.privateJwk)}::jsonb, ${JSON.stringify(key.publicJwk)}::jsonb)
      ON CONFLICT (event_id) DO NOTHING`;
    const stored = await this.find(eventId);
    if (!stored) throw new Error(`The signing key of event ${eventId} was not stored`);
    return stored;
  }
}
