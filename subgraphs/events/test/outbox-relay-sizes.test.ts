// The outbox relay's deliveries fit in what the consumer reads (256 KiB a body): a backlog of
// large messages goes out in several deliveries, and a message too large for any delivery is
// kept undelivered with an error, out of the way of the messages behind it. A real HTTP
// consumer of the test's own refuses a larger body with 413, as the tickets service does.

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createLogger, maxDeliveryBytes } from '@ticketing/platform';
import { eventsDatabase } from '@ticketing/prisma/events';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../src/outbox/OutboxRelay.ts';

type Database = TestDatabase<Awaited<ReturnType<typeof eventsDatabase.open>>['prisma']>;

let database: Database;
/** The size of each body the consumer received, and the sequences it applied. */
const bodies: number[] = [];
const applied: string[] = [];
const consumer = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks);
    bodies.push(body.length);
    if (body.length > maxDeliveryBytes) {
      response.writeHead(413).end();
      return;
    }
    const { messages } = JSON.parse(body.toString('utf8')) as { messages: { sequence: string }[] };
    applied.push(...messages.map((message) => message.sequence));
    response.writeHead(204).end();
  });
});

beforeAll(async () => {
  database = (await createTestDatabase(eventsDatabase)) as Database;
  consumer.listen(0, '127.0.0.1');
  await once(consumer, 'listening');
});

afterAll(async () => {
  consumer.closeAllConnections();
  consumer.close();
  await database?.close();
});

const message = (bytes: number) => ({
  topic: 'event.updated',
  eventId: randomUUID(),
  payload: { description: 'x'.repeat(bytes) },
});

describe('the outbox relay with large messages', () => {
  it('splits a batch over the consumer’s limit, and keeps apart a message over it alone', async () => {
    // 100 messages of 4 KB (about 400 KB, one claimed batch), then one of 300 KB, then 10 more.
    await database.prisma.outboxMessage.createMany({
      data: Array.from({ length: 100 }, () => message(4_000)),
    });
    await database.prisma.outboxMessage.create({ data: message(300_000) });
    await database.prisma.outboxMessage.createMany({
      data: Array.from({ length: 10 }, () => message(4_000)),
    });
    const errors: string[] = [];
    const logger = createLogger('outbox-relay-test', 'silent');
    const relay = new OutboxRelay(
      database.prisma,
      {
        url: `http://127.0.0.1:${(consumer.address() as { port: number }).port}/internal/event-changes`,
        secret: 'test',
      },
      Object.assign(Object.create(logger), {
        error: (_fields: object, text: string) => errors.push(text),
      }),
    );

    expect(await relay.deliverPending()).toBe(110);
    expect(bodies.length).toBeGreaterThan(1);
    expect(Math.max(...bodies)).toBeLessThanOrEqual(maxDeliveryBytes);
    const rows = await database.prisma.outboxMessage.findMany({ orderBy: { sequence: 'asc' } });
    const kept = rows.filter((row) => row.deliveredAt === null);
    expect(kept).toHaveLength(1);
    expect(kept[0]?.sequence).toBe(rows[100]?.sequence);
    // Kept out of the way for a while, not handed straight back to the next pass.
    expect(kept[0]?.claimedUntil?.getTime()).toBeGreaterThan(Date.now());
    expect(errors).toHaveLength(1);
    // In sequence order, each once.
    expect(applied).toEqual(
      rows.filter((row) => row.deliveredAt !== null).map((row) => row.sequence.toString()),
    );
  });
});
