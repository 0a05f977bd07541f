// POST /internal/event-changes: where the events service's outbox relay delivers event
// changes. Not part of the public API: NGINX routes only /graphql, and every delivery
// must be signed with the relay secret.
import { type Logger, serviceRoutes, verifyDelivery } from '@ticketing/platform';
import express from 'express';
import { z } from 'zod';
import type { EventSnapshotRepository } from './repositories/EventSnapshotRepository.ts';

const deliverySchema = z.object({
  messages: z.array(
    z.object({
      sequence: z.string(),
      topic: z.string(),
      eventId: z.uuid(),
      payload: z.object({
        eventId: z.uuid(),
        status: z.enum(['PUBLISHED', 'CANCELLED']),
        startsAt: z.coerce.date(),
        endsAt: z.coerce.date().nullable(),
        version: z.number().int().positive(),
      }),
    }),
  ),
});

export const eventChangesPath = serviceRoutes.eventChanges;

export function eventChangesRoute(
  snapshots: EventSnapshotRepository,
  secret: string,
  logger: Logger,
  /** Called once the changes are committed, before they are acknowledged. */
  onApplied: (eventIds: string[]) => Promise<void> = async () => {},
): express.RequestHandler[] {
  return [
    express.raw({ type: 'application/json', limit: '1mb' }),
    async (req, res) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (
        !verifyDelivery(
          secret,
          req.header('x-relay-timestamp'),
          req.header('x-relay-signature'),
          body,
        )
      ) {
        res.status(401).json({ error: 'unsigned or stale delivery' });
        return;
      }
      let parsed: z.infer<typeof deliverySchema>;
      try {
        parsed = deliverySchema.parse(JSON.parse(body.toString('utf8')));
      } catch {
        res.status(400).json({ error: 'malformed delivery' });
        return;
      }
      try {
        await snapshots.apply(parsed.messages.map((message) => message.payload));
        // Whether tiers are on sale, and what is left, changed with the event's status.
        await onApplied([...new Set(parsed.messages.map((message) => message.payload.eventId))]);
        logger.debug({ count: parsed.messages.length }, 'applied event changes');
        res.status(204).end();
      } catch (error) {
        // Not acknowledged: the relay keeps the messages and delivers them again.
        logger.error({ err: error }, 'could not apply event changes');
        res.status(503).json({ error: 'not applied' });
      }
    },
  ];
}
