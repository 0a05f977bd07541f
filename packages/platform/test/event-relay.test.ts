// The relay's deliveries against the consumer's limit on a body (`maxDeliveryBytes`): a
// delivery over it is refused (413) whenever it is sent, so the relay must never send one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryBatches, maxDeliveryBytes } from '../src/event-relay.ts';
import { type RunningService, readBody } from '../src/http.ts';
import { serveOkService } from '../src/testing.ts';

/** Where the service reads a delivery as the tickets service does: raw, within the limit. */
const deliveryPath = '/deliveries';

let service: RunningService;

beforeAll(async () => {
  service = await serveOkService('event-relay-test', (app) => {
    app.post(deliveryPath, readBody({ read: 'raw', limit: maxDeliveryBytes }), (_req, res) => {
      res.json({ status: 'read' });
    });
  });
});
afterAll(() => service?.stop());

/** Sends a delivery's body as the relay writes it; returns the status answered. */
async function deliver(messages: unknown[]): Promise<number> {
  const response = await fetch(new URL(deliveryPath, service.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages }),
  });
  await response.arrayBuffer();
  return response.status;
}

const bodyBytes = (messages: unknown[]) => Buffer.byteLength(JSON.stringify({ messages }));

/** A claimed message of about `bytes` bytes once serialized (multi-byte text included). */
const message = (sequence: number, bytes: number) => ({
  sequence: String(sequence),
  topic: 'event.updated',
  eventId: '00000000-0000-4000-8000-000000000000',
  payload: { note: 'é'.repeat(Math.max(0, Math.floor((bytes - 120) / 2))) },
});

describe('the relay’s deliveries', () => {
  it('a claimed batch over the consumer’s limit is refused whole: it must be split', async () => {
    const claimed = Array.from({ length: 100 }, (_, index) => message(index, 4_000));
    expect(bodyBytes(claimed)).toBeGreaterThan(maxDeliveryBytes);
    expect(await deliver(claimed)).toBe(413);

    const { batches, oversized } = deliveryBatches(claimed);
    expect(oversized).toEqual([]);
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.flat()).toEqual(claimed);
    for (const batch of batches) {
      expect(bodyBytes(batch)).toBeLessThanOrEqual(maxDeliveryBytes);
      expect(await deliver(batch)).toBe(200);
    }
  });

  it('fills each delivery up to the limit, to the byte', async () => {
    const envelope = bodyBytes([]);
    // Two messages and their comma fill a delivery exactly; a third starts the next.
    const size = Buffer.byteLength(JSON.stringify(message(1, 1_000)));
    const limit = envelope + 2 * size + 1;
    const claimed = [message(1, 1_000), message(2, 1_000), message(3, 1_000)];
    const { batches } = deliveryBatches(claimed, limit);
    expect(batches.map((batch) => batch.map((m) => m.sequence))).toEqual([['1', '2'], ['3']]);
    expect(bodyBytes(batches[0] ?? [])).toBe(limit);
  });

  it('a message over the limit alone is set apart, and the others still go, in order', async () => {
    const huge = message(2, maxDeliveryBytes);
    const claimed = [message(1, 500), huge, message(3, 500)];
    const { batches, oversized } = deliveryBatches(claimed);
    expect(oversized).toEqual([huge]);
    expect(batches).toEqual([[claimed[0], claimed[2]]]);
    expect(await deliver(batches[0] ?? [])).toBe(200);
    expect(await deliver([huge])).toBe(413);
  });

  it('nothing claimed: no delivery', () => {
    expect(deliveryBatches([])).toEqual({ batches: [], oversized: [] });
  });
});
