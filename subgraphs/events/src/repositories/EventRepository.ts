import type { Identity } from '@ticketing/auth';
import { inRequestedOrder, queryableIds } from '@ticketing/platform';
import type { Event, EventStatus, Prisma, PrismaClient } from '@ticketing/prisma/events';

/** Statuses anyone may see; drafts stay with their organizer. */
export const publicStatuses: EventStatus[] = ['PUBLISHED', 'CANCELLED'];

/**
 * The events `viewer` may see: published and cancelled ones, their own drafts, and for an
 * admin everything. A hidden event is indistinguishable from a missing one.
 */
export function visibleTo(viewer: Identity | null): Prisma.EventWhereInput {
  if (viewer?.role === 'ADMIN') return {};
  const listed: Prisma.EventWhereInput = { status: { in: publicStatuses } };
  return viewer ? { OR: [listed, { organizerId: viewer.userId }] } : listed;
}

/** Where a page of events starts: after the event with this start time and id. */
export interface EventPosition {
  startsAt: Date;
  id: string;
}

export interface EventPage {
  events: Event[];
  hasNextPage: boolean;
  totalCount: number;
}

/** The only code in this service that queries the events database. */
export class EventRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  /** Events by id, in the order asked, `null` where none is visible: a DataLoader batch. */
  async findVisibleByIds(
    ids: readonly string[],
    viewer: Identity | null,
  ): Promise<(Event | null)[]> {
    const events = await this.#prisma.event.findMany({
      where: { AND: [{ id: { in: queryableIds(ids) } }, visibleTo(viewer)] },
    });
    return inRequestedOrder(ids, events, (event) => event.id);
  }

  /**
   * A page of listed events ordered by (startsAt, id). Keyset pagination: the page starts
   * strictly after `after`, so inserts elsewhere never shift or repeat what a client saw.
   */
  async listVisible(
    first: number,
    after: EventPosition | undefined,
    viewer: Identity | null,
  ): Promise<EventPage> {
    const visible = visibleTo(viewer);
    const page: Prisma.EventWhereInput = after
      ? {
          AND: [
            visible,
            {
              OR: [
                { startsAt: { gt: after.startsAt } },
                { startsAt: after.startsAt, id: { gt: after.id } },
              ],
            },
          ],
        }
      : visible;
    const [events, totalCount] = await Promise.all([
      this.#prisma.event.findMany({
        where: page,
        orderBy: [{ startsAt: 'asc' }, { id: 'asc' }],
        take: first + 1,
      }),
      this.#prisma.event.count({ where: visible }),
    ]);
    return { events: events.slice(0, first), hasNextPage: events.length > first, totalCount };
  }
}
