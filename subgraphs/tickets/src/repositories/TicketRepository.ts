import {
  inRequestedOrder,
  isDuplicateKey,
  queryableIds,
  retryOnConflict,
  tryLockKey,
  violatedCheck,
  whileAwaited,
} from '@ticketing/platform';
import { Prisma, type PrismaClient, type Ticket, type TicketTier } from '@ticketing/prisma/tickets';
import { type TierRule, tierRuleConstraints } from '../validation.ts';
import { isDeleted, tiersLock } from './EventSnapshotRepository.ts';
import { offerToWaitlist } from './PurchaseRepository.ts';

/** A tickets row as raw SQL returns it. */
interface TicketRow {
  id: string;
  tier_id: string;
  event_id: string;
  owner_id: string;
  status: Ticket['status'];
  code: string;
  order_id: string | null;
  purchased_at: Date;
  cancelled_at: Date | null;
  token_version: number;
  checked_in_at: Date | null;
  checked_in_by: string | null;
}

type Nullable<T> = { [K in keyof T]: T[K] | null };

function ticketFromRow(row: TicketRow): Ticket {
  return {
    id: row.id,
    tierId: row.tier_id,
    eventId: row.event_id,
    ownerId: row.owner_id,
    status: row.status,
    code: row.code,
    orderId: row.order_id,
    purchasedAt: row.purchased_at,
    cancelledAt: row.cancelled_at,
    tokenVersion: row.token_version,
    checkedInAt: row.checked_in_at,
    checkedInBy: row.checked_in_by,
  };
}

/** A tier with the quantities of its unexpired holds, from which `available` is exact. */
export type StockedTier = TicketTier & { holds: { quantity: number }[] };

/** A tier as resolvers receive it: with its unexpired holds when it was loaded with them. */
export type TierParent = TicketTier | StockedTier;

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

/** What creating a tier came to. */
export type TierCreation =
  | { status: 'created' | 'replayed'; tier: TicketTier }
  | { status: 'tooManyTiers' | 'keyInUse' | 'keyReused' | 'eventDeleted' | 'eventCancelled' };

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
   * A page of tickets, newest first, for each owner of a batch, in one statement whatever
   * the batch size: a window function numbers each owner's tickets, and the page's rows
   * come back with their owner's total.
   */
  async pagesByOwner(
    ownerIds: readonly string[],
    first: number,
    after: TicketPosition | undefined,
  ): Promise<TicketPage[]> {
    const afterSql = after
      ? Prisma.sql`(purchased_at, id) < (${after.purchasedAt}::timestamptz, ${after.id}::uuid)`
      : Prisma.sql`TRUE`;
    // One row per ticket on a page, and one (with a null id) for an owner whose page is
    // empty, so that every owner's total comes back.
    const rows = await this.#prisma.$queryRaw<
      (Nullable<TicketRow> & { owner: string; total: bigint })[]
    >`
      WITH owned AS (
        SELECT * FROM tickets WHERE owner_id = ANY(${queryableIds(ownerIds)}::uuid[])
      ),
      totals AS (SELECT owner_id, count(*) AS total FROM owned GROUP BY owner_id),
      page AS (
        SELECT *, row_number() OVER (PARTITION BY owner_id ORDER BY purchased_at DESC, id DESC) AS position
        FROM owned WHERE ${afterSql}
      )
      SELECT t.owner_id::text AS owner, t.total,
             p.id::text, p.tier_id::text, p.event_id::text, p.owner_id::text, p.status::text, p.code,
             p.order_id::text, p.purchased_at, p.cancelled_at,
             p.token_version, p.checked_in_at, p.checked_in_by::text
      FROM totals t LEFT JOIN page p ON p.owner_id = t.owner_id AND p.position <= ${first + 1}
      ORDER BY p.purchased_at DESC NULLS LAST, p.id DESC`;
    const byOwner = Map.groupBy(rows, (row) => row.owner);
    return ownerIds.map((id) => {
      const mine = byOwner.get(id) ?? [];
      const tickets = mine.flatMap((row) => (row.id ? [ticketFromRow(row as TicketRow)] : []));
      return {
        tickets: tickets.slice(0, first),
        hasNextPage: tickets.length > first,
        totalCount: Number(mine[0]?.total ?? 0),
      };
    });
  }

  /**
   * What the tier `createdBy` made with `idempotencyKey` answers a retry with: the tier as
   * it is now when the retry asks for what it did (`requestHash`), keyReused otherwise, and
   * undefined when the key made none.
   */
  async tierWithKey(
    createdBy: string,
    idempotencyKey: string,
    requestHash: string,
    tx: Prisma.TransactionClient | PrismaClient = this.#prisma,
  ): Promise<TierCreation | undefined> {
    const tier = await tx.ticketTier.findUnique({
      where: { createdBy_idempotencyKey: { createdBy, idempotencyKey } },
    });
    if (!tier) return undefined;
    return tier.requestHash === requestHash
      ? { status: 'replayed', tier }
      : { status: 'keyReused' };
  }

  /**
   * Creates a tier unless its event has `maxTiers` already; tooManyTiers then, and nothing
   * is written. An event's tier creations take one lock of the event's, so two of them at
   * once are counted one after the other. With an idempotency key (and its `createdBy` and
   * `requestHash`), once per (creator, key): a concurrent request with it is told keyInUse
   * at once (tryLockKey), and a retry after the commit finds the tier (tierWithKey).
   */
  async createTier(
    data: Prisma.TicketTierUncheckedCreateInput,
    maxTiers: number,
  ): Promise<TierCreation> {
    const { createdBy, idempotencyKey, requestHash } = data;
    try {
      return await this.#prisma.$transaction(
        whileAwaited(async (tx: Prisma.TransactionClient): Promise<TierCreation> => {
          if (createdBy && idempotencyKey && requestHash) {
            if (!(await tryLockKey(tx, 'tier', createdBy, idempotencyKey)))
              return { status: 'keyInUse' };
            const made = await this.tierWithKey(createdBy, idempotencyKey, requestHash, tx);
            if (made) return made;
          }
          // The event's lock, which its deletion takes too: a draft deleted since the events
          // service was asked is seen here, or its deletion removes this tier.
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${tiersLock(data.eventId)}, 0))`;
          if (await isDeleted(tx, data.eventId)) return { status: 'eventDeleted' };
          // Then its snapshot, shared, as a purchase takes it: a cancellation that reached this
          // service since the events service was asked is seen, or waits for this tier, which
          // it then empties with the rest.
          const [snapshot] = await tx.$queryRaw<{ status: string }[]>`
          SELECT status::text FROM event_snapshots WHERE event_id = ${data.eventId}::uuid FOR SHARE`;
          if (snapshot?.status === 'CANCELLED') return { status: 'eventCancelled' };
          const count = await tx.ticketTier.count({ where: { eventId: data.eventId } });
          if (count >= maxTiers) return { status: 'tooManyTiers' };
          return { status: 'created', tier: await tx.ticketTier.create({ data }) };
        }),
      );
    } catch (error) {
      if (isDuplicateKey(error)) return { status: 'keyInUse' };
      throw error;
    }
  }

  /**
   * Deletes a tier that nothing was ever sold or held from and no one queued for: no ticket,
   * hold or waitlist entry names it, whatever its state. The tier's row is locked first,
   * as a purchase's or a hold's update of its stock locks it, and a new hold, ticket or
   * waitlist entry's foreign key waits on that lock: one that came first is seen here and
   * the tier stays; one that comes after finds no tier.
   */
  deleteTier(id: string): Promise<'deleted' | 'inUse' | 'notFound'> {
    return this.#prisma.$transaction(
      whileAwaited(async (tx: Prisma.TransactionClient) => {
        const locked = await tx.$queryRaw<unknown[]>`
        SELECT 1 FROM ticket_tiers WHERE id = ${id}::uuid FOR UPDATE`;
        if (locked.length === 0) return 'notFound';
        // A statement of its own, after the lock: it sees what committed while it waited.
        const [{ used }] = await tx.$queryRaw<[{ used: boolean }]>`
        SELECT EXISTS (SELECT 1 FROM tickets WHERE tier_id = ${id}::uuid)
            OR EXISTS (SELECT 1 FROM holds WHERE tier_id = ${id}::uuid)
            OR EXISTS (SELECT 1 FROM waitlist_entries WHERE tier_id = ${id}::uuid) AS used`;
        if (used) return 'inUse';
        await tx.ticketTier.delete({ where: { id } });
        return 'deleted';
      }),
    );
  }

  /**
   * Applies changes unless the tier is gone, the new capacity is below what is sold and
   * held, or the row they leave breaks one of the tier's rules (a CHECK constraint: another
   * update may have changed the row since the caller read it). Nothing is written then.
   */
  async updateTier(
    id: string,
    changes: Prisma.TicketTierUncheckedUpdateInput & { capacity?: number },
  ): Promise<TierUpdate> {
    const { capacity, ...rest } = changes;
    try {
      return await retryOnConflict(() =>
        this.#prisma.$transaction(
          whileAwaited(async (tx: Prisma.TransactionClient): Promise<TierUpdate> => {
            // The row first, as a deletion locks it: one deleted since the caller read it is
            // not found, not a capacity below what is sold, nor a failed update.
            const locked = await tx.$queryRaw<unknown[]>`
            SELECT 1 FROM ticket_tiers WHERE id = ${id}::uuid FOR UPDATE`;
            if (locked.length === 0) return { status: 'notFound' };
            if (capacity !== undefined) {
              const resized = await tx.$executeRaw`
            UPDATE ticket_tiers SET capacity = ${capacity}, updated_at = now()
            WHERE id = ${id}::uuid AND sold + held <= ${capacity}`;
              if (resized === 0) return { status: 'capacityBelowSold' };
            }
            await tx.ticketTier.update({ where: { id }, data: rest });
            // A raised capacity is stock that comes back, and a reopened sales window makes
            // sellable the stock that came back while it was closed: the waitlist is offered
            // it first, under the tier as it is now.
            await offerToWaitlist(tx, id);
            return {
              status: 'updated',
              tier: await tx.ticketTier.findUniqueOrThrow({ where: { id } }),
            };
          }),
        ),
      );
    } catch (error) {
      const rule = tierRuleConstraints[violatedCheck(error) ?? ''];
      if (rule) return { status: 'ruleBroken', rule };
      throw error;
    }
  }
}

export type TierUpdate =
  | { status: 'updated'; tier: TicketTier }
  | { status: 'capacityBelowSold' }
  | { status: 'ruleBroken'; rule: TierRule }
  /** Deleted after the caller read it. */
  | { status: 'notFound' };

/** Stock that can be bought now: capacity minus sold minus unexpired holds. */
export function availableInTier(tier: StockedTier): number {
  const held = tier.holds.reduce((sum, hold) => sum + hold.quantity, 0);
  return Math.max(0, tier.capacity - tier.sold - held);
}
