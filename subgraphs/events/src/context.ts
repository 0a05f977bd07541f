import type { Event, PrismaClient } from '@ticketing/prisma/events';
import DataLoader from 'dataloader';
import { EventRepository } from './repositories/EventRepository.ts';

export interface EventsContext {
  events: EventRepository;
  loaders: { eventById: DataLoader<string, Event | null> };
}

/** A context a request: DataLoaders must not cache across requests. */
export function createContext(prisma: PrismaClient): EventsContext {
  const events = new EventRepository(prisma);
  return {
    events,
    loaders: { eventById: new DataLoader((ids) => events.findVisibleByIds(ids)) },
  };
}
