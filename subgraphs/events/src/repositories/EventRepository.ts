import type { Identity } from '@ticketing/auth';
import {
  inRequestedOrder,
  isDuplicateKey,
  queryableIds,
  tryLockKey,
  whileAwaited,
} from '@ticketing/platform';
import { type Event, type EventStatus, Prisma, type PrismaClient } from '@ticketing/prisma/events';
import type { EventOrder, EventPosition } from '../cursor.ts';

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

/** The same rule as `visibleTo`, for raw SQL over the events table. */
function visibleToSql(viewer: Identity | null): Prisma.Sql {
  if (viewer?.role === 'ADMIN') return Prisma.sql`TRUE`;
  const listed = Prisma.sql`status IN ('PUBLISHED', 'CANCELLED')`;
  return viewer ? Prisma.sql`(${listed} OR organizer_id = ${viewer.userId}::uuid)` : listed;
}

export interface EventPage {
  events: Event[];
  hasNextPage: boolean;
  totalCount: number;
}

/** A change other services must hear about, written with the change itself. */
export interface OutboxEntry {
  topic: string;
  event: Event;
}

export type EventWrite = Omit<Prisma.EventUncheckedUpdateInput, 'id' | 'version' | 'status'>;

/** The snapshot of an event that the outbox carries to other services. */
export function eventSnapshot(event: Event) {
  return {
    eventId: event.id,
    status: event.status,
    startsAt: event.startsAt.toISOString(),
    endsAt: event.endsAt?.toISOString() ?? null,
    version: event.version,
  };
}

/** What creating an event came to. */
export type EventCreation =
  | { status: 'created' | 'replayed'; event: Event }
  | { status: 'tooManyEvents' | 'keyInUse' | 'keyReused' };

/**
 * The events service's queries of events, and the outbox messages their changes write in the
 * same transaction. The outbox relay (outbox/OutboxRelay.ts) reads and marks those messages
 * on its own.
 */
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
    // An id asked in capitals names the same event (inRequestedOrder compares in lower case).
    const events = await this.#prisma.event.findMany({
      where: { AND: [{ id: { in: queryableIds(ids) } }, visibleTo(viewer)] },
    });
    return inRequestedOrder(ids, events, (event) => event.id);
  }

  /**
   * A page of events matching `where`, in (startsAt, id) order. Keyset pagination: the page
   * starts strictly after `after`, so inserts elsewhere never shift or repeat what a client saw.
   */
  async list(
    where: Prisma.EventWhereInput,
    order: EventOrder,
    first: number,
    after: EventPosition | undefined,
  ): Promise<EventPage> {
    const ascending = order === 'STARTS_AT_ASC';
    const beyond = ascending ? 'gt' : 'lt';
    const page: Prisma.EventWhereInput = after
      ? {
          AND: [
            where,
            {
              OR: [
                { startsAt: { [beyond]: after.startsAt } },
                { startsAt: after.startsAt, id: { [beyond]: after.id } },
              ],
            },
          ],
        }
      : where;
    const direction = ascending ? 'asc' : 'desc';
    const [events, totalCount] = await Promise.all([
      this.#prisma.event.findMany({
        where: page,
        orderBy: [{ startsAt: direction }, { id: direction }],
        take: first + 1,
      }),
      this.#prisma.event.count({ where }),
    ]);
    return { events: events.slice(0, first), hasNextPage: events.length > first, totalCount };
  }

  /**
   * The first page of each organizer's visible events, for a batch of organizers, in two
   * statements whatever the batch size: window functions pick each organizer's page, then
   * the page's rows are read by id.
   */
  async organizedPages(
    organizerIds: readonly string[],
    viewer: Identity | null,
    first: number,
    after: EventPosition | undefined,
  ): Promise<EventPage[]> {
    const ids = queryableIds(organizerIds);
    const afterSql = after
      ? Prisma.sql`(starts_at, id) > (${after.startsAt}::timestamptz, ${after.id}::uuid)`
      : Prisma.sql`TRUE`;
    const rows = await this.#prisma.$queryRaw<
      { organizer_id: string; total: bigint; id: string | null; position: bigint | null }[]
    >`
      WITH visible AS (
        SELECT id, organizer_id, starts_at FROM events
        WHERE organizer_id = ANY(${ids}::uuid[]) AND ${visibleToSql(viewer)}
      ),
      totals AS (SELECT organizer_id, count(*) AS total FROM visible GROUP BY organizer_id),
      page AS (
        SELECT id, organizer_id,
               row_number() OVER (PARTITION BY organizer_id ORDER BY starts_at, id) AS position
        FROM visible WHERE ${afterSql}
      )
      SELECT t.organizer_id::text, t.total, p.id::text, p.position
      FROM totals t
      LEFT JOIN page p ON p.organizer_id = t.organizer_id AND p.position <= ${first + 1}`;
    const pageIds = rows.flatMap((row) => (row.id ? [row.id] : []));
    const events = pageIds.length
      ? await this.#prisma.event.findMany({
          where: { id: { in: pageIds } },
          orderBy: [{ startsAt: 'asc' }, { id: 'asc' }],
        })
      : [];
    const totals = new Map(rows.map((row) => [row.organizer_id, Number(row.total)]));
    const byOrganizer = Map.groupBy(events, (event) => event.organizerId);
    return organizerIds.map((id) => {
      const mine = byOrganizer.get(id) ?? [];
      return {
        events: mine.slice(0, first),
        hasNextPage: mine.length > first,
        totalCount: totals.get(id) ?? 0,
      };
    });
  }

  /** How many of the organizer's events are published and not over (ended, or started without an end). */
  countPublishedNotOver(
    organizerId: string,
    client: Pick<Prisma.TransactionClient, 'event'> = this.#prisma,
  ): Promise<number> {
    const now = new Date();
    return client.event.count({
      where: {
        organizerId,
        status: 'PUBLISHED',
        OR: [{ endsAt: { gt: now } }, { endsAt: null, startsAt: { gt: now } }],
      },
    });
  }

  /**
   * Under the organizer's account lock (`lock_organizer_account`), held exclusively (the
   * `refuse_closed_organizer` trigger takes it shared): the number of their published events not over, and, when there
   * are none, their `closed_organizers` row, written. Nothing is written otherwise.
   */
  closeOrganizer(organizerId: string): Promise<number> {
    return this.#prisma.$transaction(
      whileAwaited(async (tx: Prisma.TransactionClient) => {
        await tx.$executeRaw`SELECT lock_organizer_account(${organizerId}::uuid, false)`;
        const count = await this.countPublishedNotOver(organizerId, tx);
        if (count > 0) return count;
        await tx.closedOrganizer.upsert({
          where: { userId: organizerId },
          create: { userId: organizerId },
          update: {},
        });
        return 0;
      }),
    );
  }

  /** Lets the organizer publish again: their account's deletion stopped after closing it. */
  async reopenOrganizer(organizerId: string): Promise<void> {
    await this.#prisma.closedOrganizer.deleteMany({ where: { userId: organizerId } });
  }

  /**
   * What the event `organizerId` made with `idempotencyKey` answers a retry with: the event
   * as it is now when the retry asks for what it did (`requestHash`), keyReused otherwise,
   * and undefined when the key made none.
   */
  async eventWithKey(
    organizerId: string,
    idempotencyKey: string,
    requestHash: string,
    tx: Prisma.TransactionClient | PrismaClient = this.#prisma,
  ): Promise<EventCreation | undefined> {
    const event = await tx.event.findUnique({
      where: { idempotencyKey_organizerId: { idempotencyKey, organizerId } },
    });
    if (!event) return undefined;
    return event.requestHash === requestHash
      ? { status: 'replayed', event }
      : { status: 'keyReused' };
  }

  /**
   * Creates an event unless its organizer has `maxUpcoming` events already that are drafts,
   * or not over (published or cancelled); tooManyEvents then, and nothing is written. One
   * organizer's creations take a lock of theirs, so two at once are counted one after the
   * other. With an idempotency key (and its `requestHash`), once per (organizer, key), as the
   * tickets service makes a purchase: the pair is locked with `pg_try_advisory_xact_lock`, so
   * a concurrent request with it is told keyInUse at once, and a retry after the commit finds
   * the event (eventWithKey); the unique index on the pair stands behind both.
   */
  async createWithin(
    data: Prisma.EventUncheckedCreateInput,
    maxUpcoming: number,
  ): Promise<EventCreation> {
    const { organizerId, idempotencyKey, requestHash } = data;
    try {
      return await this.#prisma.$transaction(
        whileAwaited(async (tx: Prisma.TransactionClient): Promise<EventCreation> => {
          if (idempotencyKey && requestHash) {
            if (!(await tryLockKey(tx, 'event', organizerId, idempotencyKey)))
              return { status: 'keyInUse' };
            const made = await this.eventWithKey(organizerId, idempotencyKey, requestHash, tx);
            if (made) return made;
          }
          const created = await this.#createCounted(tx, data, maxUpcoming);
          return created ? { status: 'created', event: created } : { status: 'tooManyEvents' };
        }),
      );
    } catch (error) {
      if (isDuplicateKey(error)) return { status: 'keyInUse' };
      throw error;
    }
  }

  async #createCounted(
    tx: Prisma.TransactionClient,
    data: Prisma.EventUncheckedCreateInput,
    maxUpcoming: number,
  ): Promise<Event | null> {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`events:${data.organizerId}`}, 0))`;
    const now = new Date();
    const upcoming = await tx.event.count({
      where: {
        organizerId: data.organizerId,
        OR: [{ status: 'DRAFT' }, { endsAt: { gt: now } }, { endsAt: null, startsAt: { gt: now } }],
      },
    });
    if (upcoming >= maxUpcoming) return null;
    return tx.event.create({ data });
  }

  /**
   * Writes `changes` if the event is still in `expected` status, raising its version, and
   * queues `topic` in the outbox in the same transaction when other services must hear of
   * it. Answers `updated` null when the status changed meanwhile, or the row no longer
   * matches `guard` (a rule on its times, checked against the row as it is when written, at
   * `now`: the database's clock once the row is locked): the caller re-reads and reports.
   */
  async updateIfStatus(
    id: string,
    expected: EventStatus,
    changes: EventWrite & { status?: EventStatus },
    topic: ((event: Event) => string | undefined) | undefined,
    guard: (now: Date) => Prisma.EventWhereInput | false = () => ({}),
  ): Promise<{ updated: Event | null; now: Date }> {
    return this.#prisma.$transaction(
      whileAwaited(async (tx: Prisma.TransactionClient) => {
        // The row first, then the time: a write that waited for another on this event is
        // judged at the moment it can be made, by the database's clock.
        await tx.$queryRaw`SELECT 1 FROM events WHERE id = ${id}::uuid FOR UPDATE`;
        const [{ now }] = await tx.$queryRaw<[{ now: Date }]>`SELECT clock_timestamp() AS now`;
        const where = guard(now);
        if (where === false) return { updated: null, now };
        const { count } = await tx.event.updateMany({
          where: { ...where, id, status: expected },
          data: { ...changes, version: { increment: 1 } },
        });
        if (count === 0) return { updated: null, now };
        const event = await tx.event.findUniqueOrThrow({ where: { id } });
        const outboxTopic = topic?.(event);
        if (outboxTopic) {
          await tx.outboxMessage.create({
            data: { topic: outboxTopic, eventId: id, payload: eventSnapshot(event) },
          });
        }
        return { updated: event, now };
      }),
    );
  }

  /**
   * Deletes the event if it is still a draft; says whether it did. Rolled back when the
   * client stopped waiting (whileAwaited), so that its retry deletes it, not NOT_FOUND.
   * The tickets service hears of it through the outbox (`event.deleted`, in the same
   * transaction): a tier or door staff it made for the draft while the deletion was under
   * way goes with it.
   */
  deleteDraft(id: string): Promise<boolean> {
    return this.#prisma.$transaction(
      whileAwaited(async (tx: Prisma.TransactionClient) => {
        if ((await tx.event.deleteMany({ where: { id, status: 'DRAFT' } })).count !== 1) {
          return false;
        }
        await tx.outboxMessage.create({
          data: { topic: 'event.deleted', eventId: id, payload: { eventId: id, deleted: true } },
        });
        return true;
      }),
    );
  }

  findById(id: string): Promise<Event | null> {
    return this.#prisma.event.findUnique({ where: { id } });
  }
}
