import {
  baseSettings,
  httpUrlSetting,
  invalidateCachedResponses,
  loadConfig,
  localServiceUrl,
  millisecondsSetting,
  RetentionSchedule,
  relaySecret,
  type SubgraphDefinition,
  servicePorts,
  serviceRoutes,
  settingsCheck,
} from '@ticketing/platform';
import { eventsDatabase, type PrismaClient } from '@ticketing/prisma/events';
import { z } from 'zod';
import { createContext, type EventsContext } from './context.ts';
import { deliveredMessagesRetention, OutboxRelay } from './outbox/OutboxRelay.ts';
import { EventRepository } from './repositories/EventRepository.ts';
import { createEventsServer } from './server.ts';
import { defaultMaxUpcomingEventsPerOrganizer, EventService } from './services/EventService.ts';

/** The events service's own settings (test/kubernetes.test.ts checks the manifests against them). */
export const eventsSettings = baseSettings
  .extend({
    /** Where the outbox relay delivers event changes: the tickets service. */
    EVENT_CHANGES_URL: httpUrlSetting().default(
      localServiceUrl('tickets', serviceRoutes.eventChanges),
    ),
    EVENT_RELAY_SECRET: z.string().min(16).optional(),
    EVENT_RELAY_INTERVAL_MS: millisecondsSetting(500, { min: 10 }),
    /** Drafts and events not over one organizer may have: each is a row kept, free to make. */
    MAX_UPCOMING_EVENTS_PER_ORGANIZER: z.coerce
      .number()
      .int()
      .min(1)
      .default(defaultMaxUpcomingEventsPerOrganizer),
  })
  .superRefine(settingsCheck(relaySecret));

/** The events service's repository and rules over one database (the users service's shape). */
export function createEventsServices(
  prisma: PrismaClient,
  onOutbox?: () => void,
  onChange?: (eventId: string) => Promise<void>,
  maxUpcomingEventsPerOrganizer?: number,
) {
  const events = new EventRepository(prisma);
  return {
    events,
    service: new EventService(events, onOutbox, onChange, maxUpcomingEventsPerOrganizer),
  };
}

export const eventsSubgraph: SubgraphDefinition<
  PrismaClient,
  ReturnType<typeof eventsDatabase.locate>,
  EventsContext
> = {
  name: 'events',
  defaultPort: servicePorts.events,
  settings: eventsSettings,
  database: eventsDatabase,
  createServer: createEventsServer,
  setUp(prisma, { env, logger, redis, cacheNamespace }) {
    const config = loadConfig(eventsSettings, env);
    const relay = new OutboxRelay(
      prisma,
      {
        url: config.EVENT_CHANGES_URL,
        secret: relaySecret(config),
        intervalMs: config.EVENT_RELAY_INTERVAL_MS,
      },
      logger,
    );
    const { service } = createEventsServices(
      prisma,
      () => relay.notify(),
      (eventId) => invalidateCachedResponses(redis, cacheNamespace, 'events', logger, [eventId]),
      config.MAX_UPCOMING_EVENTS_PER_ORGANIZER,
    );
    relay.start();
    const retention = new RetentionSchedule([deliveredMessagesRetention(prisma)], logger);
    retention.start();
    return {
      createContext: (request) => createContext(prisma, service, request),
      stop: async () => {
        await Promise.all([relay.stop(), retention.stop()]);
      },
    };
  },
};
