// POST /internal/event-changes: where the events service's outbox relay delivers event
// changes. Not part of the public API: NGINX routes only /graphql, and every delivery
// must be signed with the relay secret; one whose headers cannot be a recent signed
// delivery, or that declares more than a delivery can hold, is refused before its body is read.
import {
  type Logger,
  maxDeliveryBytes,
  plausibleDelivery,
  serviceRoutes,
  signedBody,
  verifyDelivery,
} from '@ticketing/platform';
import type express from 'express';
import { z } from 'zod';
import type {
  EventChange,
  EventSnapshotRepository,
} from './repositories/EventSnapshotRepository.ts';

/** An event's snapshot, as the events service's outbox carries it. */
const snapshotSchema = z.object({
  eventId: z.uuid(),
  status: z.enum(['PUBLISHED', 'CANCELLED']),
  startsAt: z.coerce.date(),
  endsAt: z.coerce.date().nullable(),
  version: z.number().int().positive(),
});

/** A draft's deletion, as the events service's outbox carries it. */
const deletionSchema = z.object({ eventId: z.uuid(), deleted: z.literal(true) });

const changeSchema = z.union([snapshotSchema, deletionSchema]);

/**
 * A delivery: its envelope must be whole, but each message's payload is judged on its own,
 * so that one this service cannot apply (a newer producer's, a damaged row) holds up no other.
 */
const deliverySchema = z.object({
  messages: z.array(
    z.object({
      sequence: z.string(),
      topic: z.string(),
      eventId: z.uuid(),
      payload: z.unknown(),
    }),
  ),
});

/**
 * The answer when some messages were refused: 422, so that a relay that does not read it
 * keeps the whole batch (and sends it again, which applies nothing twice), and one that does
 * marks the applied messages delivered and keeps only the refused ones.
 */
export interface PartialDelivery {
  applied: string[];
  refused: { sequence: string; reason: string }[];
}

export const eventChangesPath = serviceRoutes.eventChanges;

/** A delivery that is not signed with the relay secret, or not recently: 401. */
class UnsignedDelivery extends Error {}

export function eventChangesRoute(
  snapshots: EventSnapshotRepository,
  secret: string,
  logger: Logger,
  /** Called once the changes are committed, before they are acknowledged. */
  onApplied: (eventIds: string[]) => Promise<void> = async () => {},
): express.RequestHandler[] {
  return [
    ...signedBody({
      check(req) {
        if (!plausibleDelivery(req.header('x-relay-timestamp'), req.header('x-relay-signature'))) {
          throw new UnsignedDelivery();
        }
      },
      read: 'raw',
      limit: maxDeliveryBytes,
      verify(req, _res, body) {
        const timestamp = req.header('x-relay-timestamp');
        if (!verifyDelivery(secret, timestamp, req.header('x-relay-signature'), body)) {
          throw new UnsignedDelivery();
        }
      },
      refuse(error, _req, res) {
        if (!(error instanceof UnsignedDelivery)) return false;
        res.status(401).json({ error: 'unsigned or stale delivery' });
        return true;
      },
    }),
    async (req, res) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      let parsed: z.infer<typeof deliverySchema>;
      try {
        parsed = deliverySchema.parse(JSON.parse(body.toString('utf8')));
      } catch {
        res.status(400).json({ error: 'malformed delivery' });
        return;
      }
      const changes: EventChange[] = [];
      const applied: string[] = [];
      const refused: PartialDelivery['refused'] = [];
      for (const message of parsed.messages) {
        const snapshot = changeSchema.safeParse(message.payload);
        if (!snapshot.success) {
          refused.push({ sequence: message.sequence, reason: z.prettifyError(snapshot.error) });
        } else if (snapshot.data.eventId !== message.eventId) {
          refused.push({ sequence: message.sequence, reason: 'the payload names another event' });
        } else {
          changes.push(snapshot.data);
          applied.push(message.sequence);
        }
      }
      try {
        // A delivery whose every change was refused changed nothing: no cached answer is
        // dropped for it (its retries come every 10 s and more, for as long as it stays).
        if (changes.length > 0) {
          await snapshots.apply(changes);
          // Whether tiers are on sale, and what is left, changed with the event's status.
          await onApplied([...new Set(changes.map((change) => change.eventId))]);
          logger.debug({ count: changes.length }, 'applied event changes');
        }
        if (refused.length === 0) {
          res.status(204).end();
          return;
        }
        logger.error({ refused }, 'refused event changes this service cannot apply');
        res.status(422).json({ applied, refused } satisfies PartialDelivery);
      } catch (error) {
        // Not acknowledged: the relay keeps the messages and delivers them again.
        logger.error({ err: error }, 'could not apply event changes');
        res.status(503).json({ error: 'not applied' });
      }
    },
  ];
}
