import type { Identity } from '@ticketing/auth';
import { parseInput } from '@ticketing/platform';
import type { EventStatus, Prisma } from '@ticketing/prisma/events';
import { visibleTo } from './repositories/EventRepository.ts';
import { cityFilterSchema, cityKey, searchSchema } from './validation.ts';

export interface EventFilter {
  city?: string | null;
  startsAfter?: Date | null;
  startsBefore?: Date | null;
  search?: string | null;
  status?: EventStatus | null;
  includeCancelled?: boolean | null;
}

/**
 * The SQL condition for a listing: what the caller may see, narrowed by the filter. Each
 * filter maps to an indexed column: city_key, starts_at, status, and trigram indexes on
 * title and venue for the case-insensitive substring search.
 */
export function eventsWhere(
  viewer: Identity | null,
  filter: EventFilter | null | undefined,
): Prisma.EventWhereInput {
  const conditions: Prisma.EventWhereInput[] = [visibleTo(viewer)];
  if (filter?.city != null)
    conditions.push({ cityKey: cityKey(parseInput(cityFilterSchema, filter.city, 'filter.city')) });
  if (filter?.startsAfter != null) conditions.push({ startsAt: { gte: filter.startsAfter } });
  if (filter?.startsBefore != null) conditions.push({ startsAt: { lt: filter.startsBefore } });
  if (filter?.status != null) conditions.push({ status: filter.status });
  // The listing is for finding something to attend: cancelled events are left out unless
  // asked for, by status or by includeCancelled (ticket holders still find theirs by id).
  else if (filter?.includeCancelled !== true) conditions.push({ status: { not: 'CANCELLED' } });
  if (filter?.search != null) {
    // Matched literally: %, _ and \ are LIKE's wildcards and escape, which Prisma's
    // `contains` passes on as they are.
    const search = escapeLike(parseInput(searchSchema, filter.search, 'filter.search'));
    conditions.push({
      OR: [
        { title: { contains: search, mode: 'insensitive' } },
        { venue: { contains: search, mode: 'insensitive' } },
      ],
    });
  }
  return { AND: conditions };
}

/** `text` with LIKE's special characters escaped (PostgreSQL's default escape is `\`). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}
