import type { Identity } from '@ticketing/auth';
import type { RequestInfo } from '@ticketing/platform';
import type { Event, PrismaClient } from '@ticketing/prisma/events';
import DataLoader from 'dataloader';
import { EventRepository } from './repositories/EventRepository.ts';

export interface EventsContext {
  viewer: Identity | null;
  events: EventRepository;
  loaders: { eventById: DataLoader<string, Event | null> };
}

/** A context a request: DataLoaders must not cache across requests, or across callers. */
export function createContext(prisma: PrismaClient, { viewer }: RequestInfo): EventsContext {
  const events = new EventRepository(prisma);
  return {
    viewer,
    events,
    loaders: { eventById: new DataLoader((ids) => events.findVisibleByIds(ids, viewer)) },
  };
}
