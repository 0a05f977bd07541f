import {
  baseSettings,
  loadConfig,
  localServiceUrl,
  relaySecret,
  type SubgraphDefinition,
  servicePorts,
  subgraphSecret,
  subgraphSecretSettings,
} from '@ticketing/platform';
import { type PrismaClient, ticketsDatabase } from '@ticketing/prisma/tickets';
import { z } from 'zod';
import { createContext, type TicketsContext } from './context.ts';
import { eventChangesPath, eventChangesRoute } from './event-changes.ts';
import { HoldSweeper } from './HoldSweeper.ts';
import { EventSnapshotRepository } from './repositories/EventSnapshotRepository.ts';
import { TicketRepository } from './repositories/TicketRepository.ts';
import { createTicketsServer } from './server.ts';
import { EventOwnership } from './services/EventOwnership.ts';
import { TicketingService, type TicketingSettings } from './services/TicketingService.ts';

/** The tickets service's own settings (test/kubernetes.test.ts checks the manifests against them). */
export const ticketsSettings = baseSettings.extend(subgraphSecretSettings('events').shape).extend({
  EVENT_RELAY_SECRET: z.string().min(16).optional(),
  /** The events subgraph, asked who organizes an event when its tiers are managed. */
  EVENTS_URL: z.url().default(localServiceUrl('events')),
  HOLD_SECONDS: z.coerce.number().int().min(1).default(600),
  HOLD_SWEEP_INTERVAL_MS: z.coerce.number().int().min(10).default(1_000),
  MAX_TICKETS_PER_EVENT: z.coerce.number().int().min(1).default(10),
  /** Active holds one buyer may keep at once: enough for a basket, too few to corner stock. */
  MAX_ACTIVE_HOLDS: z.coerce.number().int().min(1).default(3),
});

/** The tickets service's repositories and rules over one database (the users service's shape). */
export function createTicketsServices(
  prisma: PrismaClient,
  events: { url: string; secret: string },
  settings: TicketingSettings,
) {
  const tickets = new TicketRepository(prisma);
  const service = new TicketingService({
    prisma,
    tickets,
    ownership: new EventOwnership(events.url, events.secret),
    settings,
  });
  return { tickets, snapshots: new EventSnapshotRepository(prisma), service };
}

export const ticketsSubgraph: SubgraphDefinition<
  PrismaClient,
  ReturnType<typeof ticketsDatabase.locate>,
  TicketsContext
> = {
  name: 'tickets',
  defaultPort: servicePorts.tickets,
  database: ticketsDatabase,
  createServer: createTicketsServer,
  setUp(prisma, { env, logger }) {
    const config = loadConfig(ticketsSettings, env);
    const { snapshots, service } = createTicketsServices(
      prisma,
      { url: config.EVENTS_URL, secret: subgraphSecret('events', config) },
      {
        holdSeconds: config.HOLD_SECONDS,
        perUserCap: config.MAX_TICKETS_PER_EVENT,
        maxActiveHolds: config.MAX_ACTIVE_HOLDS,
      },
    );
    const sweeper = new HoldSweeper(service.purchases, logger, config.HOLD_SWEEP_INTERVAL_MS);
    sweeper.start();
    return {
      createContext: (request) => createContext(prisma, service, request),
      configure(app) {
        app.post(eventChangesPath, ...eventChangesRoute(snapshots, relaySecret(config), logger));
      },
      stop: () => sweeper.stop(),
    };
  },
};
