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

/** The bytes of a delivery's body around its messages: `{"messages":[` and `]}`. */
const deliveryEnvelopeBytes = Buffer.byteLength(JSON.stringify({ messages: [] }));

export interface DeliveryBatches<TMessage> {
  /** In their order, each a delivery whose body (`{"messages":[…]}`) fits in the limit. */
  batches: TMessage[][];
  /** Messages that would not fit in a delivery even alone: the consumer refuses them always. */
  oversized: TMessage[];
}

/**
 * Splits claimed messages into deliveries the consumer reads: each body, as the relay writes
 * it (`JSON.stringify({ messages })`), within `maxBytes` (`maxDeliveryBytes`). A batch over
 * it is refused (413) each time it is sent, handed back, and claimed again first, with the
 * messages behind it: one large message, or a batch of many, would stop the outbox for good
 * (today's snapshots make some 25 KB a batch of 100). A message over the limit alone is set
 * apart, for the relay to keep out of the way with an error logged, never to send.
 */
export function deliveryBatches<TMessage>(
  messages: readonly TMessage[],
  maxBytes: number = maxDeliveryBytes,
): DeliveryBatches<TMessage> {
  const batches: TMessage[][] = [];
  const oversized: TMessage[] = [];
  let batch: TMessage[] = [];
  let bytes = deliveryEnvelopeBytes;
  for (const message of messages) {
    const size = Buffer.byteLength(JSON.stringify(message));
    if (deliveryEnvelopeBytes + size > maxBytes) {
      oversized.push(message);
      continue;
    }
    // One comma between two messages.
    if (batch.length > 0 && bytes + 1 + size > maxBytes) {
      batches.push(batch);
      batch = [];
      bytes = deliveryEnvelopeBytes;
    }
    bytes += batch.length === 0 ? size : size + 1;
    batch.push(message);
  }
  if (batch.length > 0) batches.push(batch);
  return { batches, oversized };
}
