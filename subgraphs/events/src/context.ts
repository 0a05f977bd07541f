import type { Identity } from '@ticketing/auth';
import type { RequestInfo } from '@ticketing/platform';
import type { Event, PrismaClient } from '@ticketing/prisma/events';
import DataLoader from 'dataloader';
import { decodeCursor, type EventPosition } from './cursor.ts';
import { type EventPage, EventRepository } from './repositories/EventRepository.ts';
import type { EventService } from './services/EventService.ts';

export interface OrganizedEventsKey {
  organizerId: string;
  first: number;
  after: string | undefined;
}

export interface EventsContext {
  viewer: Identity | null;
  events: EventRepository;
  service: EventService;
  loaders: {
    eventById: DataLoader<string, Event | null>;
    organizedEvents: DataLoader<OrganizedEventsKey, EventPage, string>;
  };
}

/** Loads each organizer's page in batches of keys that share `first` and `after`. */
async function loadOrganizedEvents(
  events: EventRepository,
  viewer: Identity | null,
  keys: readonly OrganizedEventsKey[],
): Promise<EventPage[]> {
  const groups = Map.groupBy(keys, (key) => `${key.first}|${key.after ?? ''}`);
  const pages = new Map<OrganizedEventsKey, EventPage>();
  await Promise.all(
    [...groups.values()].map(async (group) => {
      const [{ first, after }] = group as [OrganizedEventsKey];
      const position: EventPosition | undefined = after
        ? decodeCursor(after, 'STARTS_AT_ASC')
        : undefined;
      const results = await events.organizedPages(
        group.map((key) => key.organizerId),
        viewer,
        first,
        position,
      );
      for (const [index, key] of group.entries()) pages.set(key, results[index] as EventPage);
    }),
  );
  return keys.map((key) => pages.get(key) as EventPage);
}

/** A context a request: DataLoaders must not cache across requests, or across callers. */
export function createContext(
  prisma: PrismaClient,
  service: EventService,
  { viewer }: RequestInfo,
): EventsContext {
  const events = new EventRepository(prisma);
  return {
    viewer,
    events,
    service,
    loaders: {
      eventById: new DataLoader((ids) => events.findVisibleByIds(ids, viewer)),
      organizedEvents: new DataLoader((keys) => loadOrganizedEvents(events, viewer, keys), {
        cacheKeyFn: (key) => `${key.organizerId}|${key.first}|${key.after ?? ''}`,
      }),
    },
  };
}
