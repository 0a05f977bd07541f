import {
  baseSettings,
  invalidateCachedResponses,
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
import { invalidateStockPlugin } from './invalidation.ts';
import { CheckInRepository } from './repositories/CheckInRepository.ts';
import { EventSnapshotRepository } from './repositories/EventSnapshotRepository.ts';
import { SigningKeyRepository } from './repositories/SigningKeyRepository.ts';
import { TicketRepository } from './repositories/TicketRepository.ts';
import { TransferRepository } from './repositories/TransferRepository.ts';
import { createTicketsServer } from './server.ts';
import { CheckInService } from './services/CheckInService.ts';
import { EventOwnership } from './services/EventOwnership.ts';
import { TicketingService, type TicketingSettings } from './services/TicketingService.ts';
import { TicketTokens } from './services/TicketTokens.ts';
import { TransferService } from './services/TransferService.ts';
import { UserDirectory } from './services/UserDirectory.ts';

/** The tickets service's own settings (test/kubernetes.test.ts checks the manifests against them). */
export const ticketsSettings = baseSettings
  .extend(subgraphSecretSettings('events', 'users').shape)
  .extend({
    EVENT_RELAY_SECRET: z.string().min(16).optional(),
    /** The events subgraph, asked who organizes an event when its tiers are managed. */
    EVENTS_URL: z.url().default(localServiceUrl('events')),
    /** The users subgraph, asked for the account a transfer or door staff names by email. */
    USERS_URL: z.url().default(localServiceUrl('users')),
    HOLD_SECONDS: z.coerce.number().int().min(1).default(600),
    HOLD_SWEEP_INTERVAL_MS: z.coerce.number().int().min(10).default(1_000),
    MAX_TICKETS_PER_EVENT: z.coerce.number().int().min(1).default(10),
    /** Active holds one buyer may keep at once: enough for a basket, too few to corner stock. */
    MAX_ACTIVE_HOLDS: z.coerce.number().int().min(1).default(3),
  });

/** The tickets service's repositories and rules over one database (the users service's shape). */
export function createTicketsServices(
  prisma: PrismaClient,
  peers: Record<'events' | 'users', { url: string; secret: string }>,
  settings: TicketingSettings,
) {
  const tickets = new TicketRepository(prisma);
  const ownership = new EventOwnership(peers.events.url, peers.events.secret);
  const directory = new UserDirectory(peers.users.url, peers.users.secret);
  const service = new TicketingService({ prisma, tickets, ownership, settings });
  const door = {
    doors: new CheckInService({
      checkIns: new CheckInRepository(prisma),
      tokens: new TicketTokens(new SigningKeyRepository(prisma)),
      ownership,
      directory,
    }),
    transfers: new TransferService({
      tickets,
      transfers: new TransferRepository(prisma),
      directory,
      perUserCap: settings.perUserCap,
    }),
  };
  return { tickets, snapshots: new EventSnapshotRepository(prisma), service, door };
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
  setUp(prisma, { env, logger, redis, cacheNamespace }) {
    const config = loadConfig(ticketsSettings, env);
    const { snapshots, service, door } = createTicketsServices(
      prisma,
      {
        events: { url: config.EVENTS_URL, secret: subgraphSecret('events', config) },
        users: { url: config.USERS_URL, secret: subgraphSecret('users', config) },
      },
      {
        holdSeconds: config.HOLD_SECONDS,
        perUserCap: config.MAX_TICKETS_PER_EVENT,
        maxActiveHolds: config.MAX_ACTIVE_HOLDS,
      },
    );
    const invalidate = (tag: 'events' | 'stock') => () =>
      invalidateCachedResponses(redis, cacheNamespace, tag, logger);
    const sweeper = new HoldSweeper(
      service.purchases,
      logger,
      config.HOLD_SWEEP_INTERVAL_MS,
      invalidate('stock'),
    );
    sweeper.start();
    return {
      createContext: (request) => createContext(prisma, service, request, door),
      configure(app) {
        app.post(
          eventChangesPath,
          ...eventChangesRoute(snapshots, relaySecret(config), logger, (eventIds) =>
            invalidateCachedResponses(redis, cacheNamespace, 'events', logger, eventIds),
          ),
        );
      },
      plugins: [invalidateStockPlugin(invalidate('stock'))],
      stop: () => sweeper.stop(),
    };
  },
};
