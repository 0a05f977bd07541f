// Delivered outbox messages are deleted a week after delivery, a batch at a time; nothing
// undelivered goes, however old, so that a change the consumer still refuses is never lost.
import { randomUUID } from 'node:crypto';
import { applyRetention } from '@ticketing/platform';
import { eventsDatabase } from '@ticketing/prisma/events';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveredMessageKeptDays, deliveredMessagesRetention } from '../src/outbox/OutboxRelay.ts';

type Database = TestDatabase<Awaited<ReturnType<typeof eventsDatabase.open>>['prisma']>;

let database: Database;

beforeAll(async () => {
  database = (await createTestDatabase(eventsDatabase)) as Database;
});
afterAll(async () => {
  await database?.close();
});

const day = 24 * 60 * 60_000;
const ago = (ms: number) => new Date(Date.now() - ms);

describe('the outbox’s retention', () => {
  it('deletes messages delivered more than a week ago, and keeps the rest', async () => {
    const old = ago((deliveredMessageKeptDays + 1) * day);
    const message = (topic: string, deliveredAt: Date | null, count: number) =>
      Array.from({ length: count }, () => ({
        topic,
        eventId: randomUUID(),
        payload: {},
        createdAt: old,
        deliveredAt,
      }));
    await database.prisma.outboxMessage.createMany({
      data: [
        ...message('delivered long ago', old, 45),
        ...message('delivered yesterday', ago(day), 2),
        ...message('never delivered', null, 3),
      ],
    });

    // Two replicas at once, in batches of 10: each message is deleted once.
    const runs = await Promise.all(
      [1, 2].map(() => applyRetention([deliveredMessagesRetention(database.prisma)], 10)),
    );

    expect(runs.reduce((sum, run) => sum + (run['delivered outbox messages'] ?? 0), 0)).toBe(45);
    const left = await database.prisma.outboxMessage.groupBy({
      by: ['topic'],
      _count: true,
      orderBy: { topic: 'asc' },
    });
    expect(left.map((group) => [group.topic, group._count])).toEqual([
      ['delivered yesterday', 2],
      ['never delivered', 3],
    ]);
  });
});
