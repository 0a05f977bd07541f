import type { Identity } from '@ticketing/auth';
import type { RequestInfo } from '@ticketing/platform';
import type { EventSnapshot, PrismaClient, Ticket, TicketTier } from '@ticketing/prisma/tickets';
import DataLoader from 'dataloader';
import { EventSnapshotRepository } from './repositories/EventSnapshotRepository.ts';
import { TicketRepository } from './repositories/TicketRepository.ts';

export interface TicketsContext {
  viewer: Identity | null;
  loaders: {
    ticketById: DataLoader<string, Ticket | null>;
    tierById: DataLoader<string, TicketTier | null>;
    tiersByEventId: DataLoader<string, TicketTier[]>;
    snapshotByEventId: DataLoader<string, EventSnapshot | null>;
  };
}

/** A context a request: DataLoaders must not cache across requests. */
export function createContext(prisma: PrismaClient, { viewer }: RequestInfo): TicketsContext {
  const tickets = new TicketRepository(prisma);
  const snapshots = new EventSnapshotRepository(prisma);
  return {
    viewer,
    loaders: {
      ticketById: new DataLoader((ids) => tickets.findTicketsByIds(ids)),
      tierById: new DataLoader((ids) => tickets.findTiersByIds(ids)),
      tiersByEventId: new DataLoader((ids) => tickets.findTiersByEventIds(ids)),
      snapshotByEventId: new DataLoader((ids) => snapshots.findByEventIds(ids)),
    },
  };
}
