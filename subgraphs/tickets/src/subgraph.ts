import {
  baseSettings,
  loadConfig,
  relaySecret,
  type SubgraphDefinition,
} from '@ticketing/platform';
import { type PrismaClient, ticketsDatabase } from '@ticketing/prisma/tickets';
import { z } from 'zod';
import { createContext, type TicketsContext } from './context.ts';
import { eventChangesPath, eventChangesRoute } from './event-changes.ts';
import { EventSnapshotRepository } from './repositories/EventSnapshotRepository.ts';
import { createTicketsServer } from './server.ts';

const ticketsSettings = baseSettings.extend({
  EVENT_RELAY_SECRET: z.string().min(16).optional(),
});

export const ticketsSubgraph: SubgraphDefinition<
  PrismaClient,
  ReturnType<typeof ticketsDatabase.locate>,
  TicketsContext
> = {
  name: 'tickets',
  defaultPort: 4003,
  database: ticketsDatabase,
  createServer: createTicketsServer,
  setUp(prisma, { env, logger }) {
    const config = loadConfig(ticketsSettings, env);
    const snapshots = new EventSnapshotRepository(prisma);
    return {
      createContext: (request) => createContext(prisma, request),
      configure(app) {
        app.post(eventChangesPath, ...eventChangesRoute(snapshots, relaySecret(config), logger));
      },
    };
  },
};
