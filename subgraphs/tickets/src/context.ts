import type { PrismaClient, Ticket, TicketTier } from '@ticketing/prisma/tickets';
import DataLoader from 'dataloader';
import { TicketRepository } from './repositories/TicketRepository.ts';

export interface TicketsContext {
  loaders: {
    ticketById: DataLoader<string, Ticket | null>;
    tierById: DataLoader<string, TicketTier | null>;
    tiersByEventId: DataLoader<string, TicketTier[]>;
  };
}

/** A context a request: DataLoaders must not cache across requests. */
export function createContext(prisma: PrismaClient): TicketsContext {
  const tickets = new TicketRepository(prisma);
  return {
    loaders: {
      ticketById: new DataLoader((ids) => tickets.findTicketsByIds(ids)),
      tierById: new DataLoader((ids) => tickets.findTiersByIds(ids)),
      tiersByEventId: new DataLoader((ids) => tickets.findTiersByEventIds(ids)),
    },
  };
}
