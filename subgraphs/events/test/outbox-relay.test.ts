// The outbox relay stopping while it works through a backlog, delivering to a consumer that
// answers, but slowly (a real HTTP server of the test's own). A stopping service waits for
// the batch in flight, not for the backlog: what is left stays in the outbox, unclaimed, for
// the next relay.

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createLogger } from '@ticketing/platform';
import { eventsDatabase } from '@ticketing/prisma/events';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../src/outbox/OutboxRelay.ts';

type Database = TestDatabase<Awaited<ReturnType<typeof eventsDatabase.open>>['prisma']>;

/** How long the consumer takes to acknowledge one batch. */
const answerMs = 300;
const batchSize = 20;
const messages = 400;

let database: Database;
let deliveries = 0;
let firstDelivery: Promise<void>;
const consumer = createServer((_request, response) => {
  deliveries += 1;
  setTimeout(() => response.writeHead(204).end(), answerMs);
});

beforeAll(async () => {
  database = (await createTestDatabase(eventsDatabase)) as Database;
  await database.prisma.outboxMessage.createMany({
    data: Array.from({ length: messages }, () => ({
      topic: 'event.updated',
      eventId: randomUUID(),
      payload: {},
    })),
  });
  consumer.listen(0, '127.0.0.1');
  await once(consumer, 'listening');
  firstDelivery = once(consumer, 'request').then(() => {});
});

afterAll(async () => {
  consumer.closeAllConnections();
  consumer.close();
  await database?.close();
});

describe('the outbox relay stopping during a backlog', () => {
  it('waits for the batch in flight only, and leaves the rest unclaimed', async () => {
    const { port } = consumer.address() as { port: number };
    const relay = new OutboxRelay(
      database.prisma,
      { url: `http://127.0.0.1:${port}/internal/event-changes`, secret: 'test', batchSize },
      createLogger('outbox-relay-test', 'silent'),
    );
    relay.start();
    await firstDelivery;

    const started = performance.now();
    await relay.stop();
    // The batch in flight (one answer), with room for a busy machine; the whole backlog
    // would take 20 answers.
    expect(performance.now() - started).toBeLessThan(answerMs + 1_500);
    const sent = deliveries;
    expect(sent).toBeLessThan(messages / batchSize);

    const undelivered = await database.prisma.outboxMessage.findMany({
      where: { deliveredAt: null },
    });
    expect(undelivered).toHaveLength(messages - sent * batchSize);
    expect(undelivered.every((message) => message.claimedUntil === null)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, answerMs * 2));
    expect(deliveries).toBe(sent);
  });
});
