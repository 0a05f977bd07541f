import { Prisma, type PrismaClient, type TicketStatus } from '@ticketing/prisma/tickets';
import type { TicketPosition } from './TicketRepository.ts';

export interface SalesAmount {
  currency: string;
  grossCents: number;
  refundedCents: number;
}

export interface HourlySales {
  hour: Date;
  tickets: number;
  orders: number;
}

/** A ticket as its tier's attendee list shows it: no code, no token. */
export interface AttendeeRow {
  id: string;
  ownerId: string;
  status: TicketStatus;
  purchasedAt: Date;
  checkedInAt: Date | null;
}

export interface AttendeePage {
  attendees: AttendeeRow[];
  hasNextPage: boolean;
  totalCount: number;
}

/**
 * What an event sold, for its organizer: each read is one statement, whatever the number of
 * its tickets and orders.
 */
export class SalesRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  /**
   * What the event's orders cost, and what was refunded of them, per order currency (the
   * tier's); each order counts once, however many tickets it made.
   */
  async grossByCurrency(eventId: string): Promise<SalesAmount[]> {
    const rows = await this.#prisma.$queryRaw<
      { currency: string; grossCents: bigint; refundedCents: bigint }[]
    >`
      SELECT o.currency, sum(o.total_cents) AS "grossCents", sum(o.refunded_cents) AS "refundedCents"
      FROM orders o
      WHERE o.id IN (SELECT t.order_id FROM tickets t WHERE t.event_id = ${eventId}::uuid)
      GROUP BY o.currency ORDER BY o.currency`;
    return rows.map((row) => ({
      currency: row.currency,
      grossCents: Number(row.grossCents),
      refundedCents: Number(row.refundedCents),
    }));
  }

  /**
   * Tickets and orders per hour over the last `hours` hours (UTC), oldest first, ending with
   * the current hour; hours without sales are in the series with zeros.
   */
  salesPerHour(eventId: string, hours: number): Promise<HourlySales[]> {
    return this.#prisma.$queryRaw<HourlySales[]>`
      WITH bounds AS (
        SELECT date_trunc('hour', now(), 'UTC') AS last,
               date_trunc('hour', now(), 'UTC') - make_interval(hours => ${hours}::int - 1) AS first
      ),
      sold AS (
        SELECT date_trunc('hour', t.purchased_at, 'UTC') AS hour,
               count(*)::int AS tickets, count(DISTINCT t.order_id)::int AS orders
        FROM tickets t, bounds b
        WHERE t.event_id = ${eventId}::uuid AND t.purchased_at >= b.first
        GROUP BY 1
      )
      SELECT series.hour, coalesce(sold.tickets, 0) AS tickets, coalesce(sold.orders, 0) AS orders
      FROM bounds b, generate_series(b.first, b.last, interval '1 hour') AS series(hour)
      LEFT JOIN sold ON sold.hour = series.hour
      ORDER BY series.hour`;
  }

  /**
   * A page of a tier's tickets, newest first, with the tier's total, in one statement; null
   * when the event has no such tier. The tier's row comes back even when the page is empty.
   */
  async attendeePage(
    eventId: string,
    tierId: string,
    first: number,
    after: TicketPosition | undefined,
  ): Promise<AttendeePage | null> {
    const afterSql = after
      ? Prisma.sql`(purchased_at, id) < (${after.purchasedAt}::timestamptz, ${after.id}::uuid)`
      : Prisma.sql`TRUE`;
    const rows = await this.#prisma.$queryRaw<
      ({ total: number } & { [K in keyof AttendeeRow]: AttendeeRow[K] | null })[]
    >`
      WITH tier AS (
        SELECT id FROM ticket_tiers WHERE id = ${tierId}::uuid AND event_id = ${eventId}::uuid
      ),
      total AS (SELECT count(*)::int AS total FROM tickets WHERE tier_id = ${tierId}::uuid),
      page AS (
        SELECT id, owner_id, status, purchased_at, checked_in_at FROM tickets
        WHERE tier_id = ${tierId}::uuid AND ${afterSql}
        ORDER BY purchased_at DESC, id DESC
        LIMIT ${first + 1}
      )
      SELECT total.total, page.id::text, page.owner_id::text AS "ownerId",
             page.status::text, page.purchased_at AS "purchasedAt",
             page.checked_in_at AS "checkedInAt"
      FROM tier CROSS JOIN total LEFT JOIN page ON TRUE
      ORDER BY page.purchased_at DESC, page.id DESC`;
    const [head] = rows;
    if (!head) return null;
    const attendees = rows.filter((row): row is typeof row & AttendeeRow => row.id !== null);
    return {
      attendees: attendees.slice(0, first),
      hasNextPage: attendees.length > first,
      totalCount: head.total,
    };
  }
}
