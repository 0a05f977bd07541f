// The events service's outbox relay and the tickets service's consumer talk over HTTP with
// a shared secret: each delivery carries a timestamp and an HMAC-SHA256 over timestamp and
// body, so that nothing but the relay can tell the tickets service that an event changed.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ConfigurationError } from './config.ts';

/** Used only when NODE_ENV is not production, so that `npm start` needs no set-up. */
const developmentRelaySecret = 'development-only-event-relay-secret';

/** Deliveries older than this are refused, so that a captured one cannot be replayed later. */
export const maxDeliveryAgeMs = 5 * 60_000;

/**
 * The largest delivery the consumer reads: a batch of 100 snapshots is some 25 KB, so ten
 * times that, well under the 1 MB of a GraphQL request. Past it, 413: by its Content-Length
 * before a byte is read, or once that many bytes of a body without one have been.
 */
export const maxDeliveryBytes = 256 * 1024;

export function relaySecret(config: {
  NODE_ENV: string;
  EVENT_RELAY_SECRET?: string | undefined;
}): string {
  if (config.EVENT_RELAY_SECRET) return config.EVENT_RELAY_SECRET;
  if (config.NODE_ENV === 'production') {
    throw new ConfigurationError('EVENT_RELAY_SECRET is required in production.');
  }
  return developmentRelaySecret;
}

export function signDelivery(secret: string, timestamp: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/**
 * Whether a delivery's headers could be those of a recent, signed one: a timestamp within
 * `maxDeliveryAgeMs` of `now`, and an HMAC-SHA256 in hex. Needs no secret and no body, so
 * that the consumer refuses what fails it before reading the body.
 */
export function plausibleDelivery(
  timestamp: string | undefined,
  signature: string | undefined,
  now = Date.now(),
): boolean {
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(now - Number(timestamp)) > maxDeliveryAgeMs) return false;
  return /^[0-9a-f]{64}$/i.test(signature);
}

/** Whether a delivery is recent and signed with `secret`. */
export function verifyDelivery(
  secret: string,
  timestamp: string | undefined,
  signature: string | undefined,
  body: Buffer,
  now = Date.now(),
): boolean {
  if (!timestamp || !signature || !plausibleDelivery(timestamp, signature, now)) return false;
  const expected = Buffer.from(signDelivery(secret, timestamp, body), 'hex');
  const given = Buffer.from(signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
