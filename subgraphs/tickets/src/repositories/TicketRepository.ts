import { inRequestedOrder, queryableIds } from '@ticketing/platform';
import { Prisma, type PrismaClient, type Ticket, type TicketTier } from '@ticketing/prisma/tickets';

/** A tier with the quantities of its unexpired holds, from which `available` is exact. */
export type StockedTier = TicketTier & { holds: { quantity: number }[] };

/** Reads a tier's live holds in the same call that reads the tier. */
const liveHolds = () =>
  ({
    holds: {
      where: { status: 'ACTIVE', expiresAt: { gt: new Date() } },
      select: { quantity: true },
    },
  }) as const;

/** Where a page of a user's tickets continues: after this purchase time and id, newest first. */
export interface TicketPosition {
  purchasedAt: Date;
  id: string;
}

export interface TicketPage {
  tickets: Ticket[];
  hasNextPage: boolean;
  totalCount: number;
}

/** The code in this service that reads tickets and tiers (stock changes: PurchaseRepository). */
export class TicketRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  async findTicketsByIds(ids: readonly string[]): Promise<(Ticket | null)[]> {
    const tickets = await this.#prisma.ticket.findMany({
      where: { id: { in: queryableIds(ids) } },
    });
    return inRequestedOrder(ids, tickets, (ticket) => ticket.id);
  }

  async findTiersByIds(ids: readonly string[]): Promise<(StockedTier | null)[]> {
    const tiers = await this.#prisma.ticketTier.findMany({
      where: { id: { in: queryableIds(ids) } },
      include: liveHolds(),
      relationLoadStrategy: 'join',
    });
    return inRequestedOrder(ids, tiers, (tier) => tier.id);
  }

  /** The tiers of each event, cheapest first, in the order the events were asked for. */
  async findTiersByEventIds(eventIds: readonly string[]): Promise<StockedTier[][]> {
    const tiers = await this.#prisma.ticketTier.findMany({
      where: { eventId: { in: queryableIds(eventIds) } },
      orderBy: [{ priceCents: 'asc' }, { id: 'asc' }],
      include: liveHolds(),
      // One statement: the holds come in the same query as their tiers (a lateral join).
      relationLoadStrategy: 'join',
    });
    const byEvent = Map.groupBy(tiers, (tier) => tier.eventId);
    return eventIds.map((id) => byEvent.get(id) ?? []);
  }

  async findTicketsByOrderIds(orderIds: readonly string[]): Promise<Ticket[][]> {
    const tickets = await this.#prisma.ticket.findMany({
      where: { orderId: { in: queryableIds(orderIds) } },
      orderBy: { id: 'asc' },
    });
    const byOrder = Map.groupBy(tickets, (ticket) => ticket.orderId as string);
    return orderIds.map((id) => byOrder.get(id) ?? []);
  }

  /**
   * A page of tickets, newest first, for each owner of a batch, in two statements whatever
   * the batch size: window functions pick each owner's page, then its rows are read by id.
   */
  async pagesByOwner(
    ownerIds: readonly string[],
    first: number,
    after: TicketPosition | undefined,
  ): Promise<TicketPage[]> {
    const afterSql = after
      ? Prisma.sql`(purchased_at, id) < (${after.purchasedAt}::timestamptz, ${after.id}::uuid)`
      : Prisma.sql`TRUE`;
    const rows = await this.#prisma.$queryRaw<
      { owner_id: string; total: bigint; id: string | null }[]
    >`
      WITH owned AS (
        SELECT id, owner_id, purchased_at FROM tickets WHERE owner_id = ANY(${queryableIds(ownerIds)}::uuid[])
      ),
      totals AS (SELECT owner_id, count(*) AS total FROM owned GROUP BY owner_id),
      page AS (
        SELECT id, owner_id,
               row_number() OVER (PARTITION BY owner_id ORDER BY purchased_at DESC, id DESC) AS position
        FROM owned WHERE ${afterSql}
      )
      SELECT t.owner_id::text, t.total, p.id::text
      FROM totals t LEFT JOIN page p ON p.owner_id = t.owner_id AND p.position <= ${first + 1}`;
    const ids = rows.flatMap((row) => (row.id ? [row.id] : []));
    const tickets = ids.length
      ? await this.#prisma.ticket.findMany({
          where: { id: { in: ids } },
          orderBy: [{ purchasedAt: 'desc' }, { id: 'desc' }],
        })
      : [];
    const totals = new Map(rows.map((row) => [row.owner_id, Number(row.total)]));
    const byOwner = Map.groupBy(tickets, (ticket) => ticket.ownerId);
    return ownerIds.map((id) => {
      const mine = byOwner.get(id) ?? [];
      return {
        tickets: mine.slice(0, first),
        hasNextPage: mine.length > first,
        totalCount: totals.get(id) ?? 0,
      };
    });
  }

  createTier(data: Prisma.TicketTierUncheckedCreateInput): Promise<TicketTier> {
    return this.#prisma.ticketTier.create({ data });
  }

  /** Applies changes unless the new capacity is below what is sold and held; null then. */
  async updateTier(
    id: string,
    changes: Prisma.TicketTierUncheckedUpdateInput & { capacity?: number },
  ) {
    const { capacity, ...rest } = changes;
    return this.#prisma.$transaction(async (tx) => {
      if (capacity !== undefined) {
        const resized = await tx.$executeRaw`
          UPDATE ticket_tiers SET capacity = ${capacity}, updated_at = now()
          WHERE id = ${id}::uuid AND sold + held <= ${capacity}`;
        if (resized === 0) return null;
      }
      return tx.ticketTier.update({ where: { id }, data: rest });
    });
  }
}

/** Stock that can be bought now: capacity minus sold minus unexpired holds. */
export function availableInTier(tier: StockedTier): number {
  const held = tier.holds.reduce((sum, hold) => sum + hold.quantity, 0);
  return Math.max(0, tier.capacity - tier.sold - held);
}
