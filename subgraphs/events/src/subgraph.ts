import {
  baseSettings,
  invalidateCachedResponses,
  loadConfig,
  relaySecret,
  type SubgraphDefinition,
} from '@ticketing/platform';
import { eventsDatabase, type PrismaClient } from '@ticketing/prisma/events';
import { z } from 'zod';
import { createContext, type EventsContext } from './context.ts';
import { OutboxRelay } from './outbox/OutboxRelay.ts';
import { EventRepository } from './repositories/EventRepository.ts';
import { createEventsServer } from './server.ts';
import { EventService } from './services/EventService.ts';

/** The events service's own settings (test/kubernetes.test.ts checks the manifests against them). */
export const eventsSettings = baseSettings.extend({
  /** Where the outbox relay delivers event changes: the tickets service. */
  EVENT_CHANGES_URL: z.url().default('http://127.0.0.1:4003/internal/event-changes'),
  EVENT_RELAY_SECRET: z.string().min(16).optional(),
  EVENT_RELAY_INTERVAL_MS: z.coerce.number().int().min(10).default(500),
});

export const eventsSubgraph: SubgraphDefinition<
  PrismaClient,
  ReturnType<typeof eventsDatabase.locate>,
  EventsContext
> = {
  name: 'events',
  defaultPort: 4002,
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
    const service = new EventService(
      new EventRepository(prisma),
      () => relay.notify(),
      () => invalidateCachedResponses(redis, cacheNamespace, 'events', logger),
    );
    relay.start();
    return {
      createContext: (request) => createContext(prisma, service, request),
      stop: () => relay.stop(),
    };
  },
};
