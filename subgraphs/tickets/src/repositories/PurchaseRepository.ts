import { isDuplicateKey, retryOnConflict, tryLockKey, whileAwaited } from '@ticketing/platform';
import {
  type Hold,
  type Order,
  Prisma,
  type PrismaClient,
  preparedStatements,
  type SendPrepared,
  type Ticket,
  type TicketTier,
} from '@ticketing/prisma/tickets';
import { type PurchaseGroupSettings, PurchaseGroups } from './PurchaseGroups.ts';

type Transaction = Prisma.TransactionClient;

export type PurchaseOutcome =
  | { status: 'created'; order: Order; tickets: Ticket[] }
  | { status: 'replayed'; order: Order; tickets: Ticket[] }
  | { status: 'tierNotFound' }
  | { status: 'windowClosed'; salesStartAt: Date | null; salesEndAt: Date | null }
  | { status: 'orderLimitExceeded'; maxPerOrder: number }
  | { status: 'keyInUse' }
  | { status: 'keyReused' }
  | { status: 'soldOut' }
  | { status: 'limitReached' }
  | { status: 'holdNotFound' }
  | { status: 'holdExpired' }
  | { status: 'salesClosed' };

export type HoldOutcome =
  | { status: 'held'; hold: Hold }
  | { status: 'replayed'; hold: Hold }
  | { status: 'keyInUse' }
  | { status: 'keyReused' }
  | { status: 'windowClosed'; salesStartAt: Date | null; salesEndAt: Date | null }
  | { status: 'orderLimitExceeded'; maxPerOrder: number }
  | { status: 'soldOut' }
  | { status: 'limitReached' }
  | { status: 'tooManyHolds' }
  | { status: 'salesClosed' };

/** Which holds to look at for expiry: all of them by default. */
export interface HoldFilter {
  tierId?: string;
  userId?: string;
  eventId?: string;
}

/**
 * What is being bought: from a tier directly (the purchase itself checks that the tier
 * exists, that its sales window is open and that `quantity` is within its limit per order),
 * or by converting a hold.
 */
export type PurchaseSource =
  | { kind: 'tier'; tierId: string; quantity: number }
  | { kind: 'hold'; holdId: string };

export interface PurchaseRequest {
  buyerId: string;
  idempotencyKey: string;
  requestHash: string;
  source: PurchaseSource;
  /** The most tickets one buyer may have for one event, across all orders. */
  perUserCap: number;
}

/** Thrown inside a purchase transaction to roll it back with an outcome for the buyer. */
class Rollback extends Error {
  readonly outcome: PurchaseOutcome;

  constructor(outcome: PurchaseOutcome) {
    super(outcome.status);
    this.outcome = outcome;
  }
}

/**
 * Purchases, holds and their expiry: every change a buyer makes to stock is one
 * transaction here. Stock moves only through conditional updates
 * (`WHERE sold + held + n <= capacity`), under a CHECK constraint that makes overselling
 * impossible even for a bug here. (An event's cancellation also returns its stock, in
 * EventSnapshotRepository, under the rule below.)
 *
 * **The race with a cancellation.** Every transaction that sells or holds first reads the
 * event's snapshot `FOR SHARE` and refuses unless it is on sale. The cancellation's upsert
 * of that row waits for those transactions to commit, and its cascade (a later statement)
 * then sees their tickets and holds; a sale that starts after the cancellation waits for
 * it, re-reads the row, and is refused. Either way, no ticket or hold stays active on a
 * cancelled event.
 *
 * **The per-person cap** counts active tickets and active holds together, per event, in
 * `event_allowances`: a hold takes its allowance when it is made, a purchase from that
 * hold takes none again, and a hold that expires gives it back.
 */
export class PurchaseRepository {
  readonly #prisma: PrismaClient;
  readonly #purchaseStatement: SendPrepared;
  /** Group commit of a tier's concurrent purchases, when it is on. */
  readonly #groups: PurchaseGroups | undefined;

  constructor(prisma: PrismaClient, groupCommit?: PurchaseGroupSettings) {
    this.#prisma = prisma;
    this.#purchaseStatement = purchaseStatement(prisma);
    this.#groups = groupCommit
      ? new PurchaseGroups(
          this.#purchaseStatement,
          (request) => this.#purchaseAlone(request),
          groupCommit,
        )
      : undefined;
  }

  #transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    // Under a rush, transactions queue for a pooled connection: wait, rather than fail, but
    // not past the pool's own wait (10 s). That wait and the transaction's own (its lock
    // waits, up to 12 s) add up past the gateway's deadline (15 s by default), so the
    // deadline itself decides: a change whose client the gateway stopped waiting for, and
    // told SERVICE_UNAVAILABLE, is rolled back rather than committed unseen.
    // A lock cycle (a waitlist offer meeting its waiter's own purchase) rolls one side back
    // whole; it runs again rather than failing the request.
    return retryOnConflict(() =>
      this.#prisma.$transaction(whileAwaited(work), { maxWait: 10_000, timeout: 12_000 }),
    );
  }

  /**
   * Returns expired holds' stock to their tiers and their allowance to their buyers, then
   * offers it to the tiers' waitlists, in one statement: the database's `expire_holds`
   * (migrations `purchase_in_one_statement` and `waitlist`); says whether any expired. Safe
   * to run anywhere, any number of times at once. (The statement keeps the text
   * `WITH expired AS`, by which the statement counts of tests and benchmarks recognise the
   * sweeper's background work.)
   *
   * Every transaction here locks a buyer's allowance row before a tier's row (a purchase
   * takes its allowance, then its stock, last, so that the hot tier's row is locked only
   * until commit). The function keeps that order, so that a sweep and a purchase never
   * wait on each other in a circle: it updates the allowances, pulling the expired holds as
   * it goes, then the tiers; only the offers to a waitlist lock waiters' allowances after
   * their tier (see `offer_waitlist`).
   */
  async expireHolds(
    which: HoldFilter = {},
    tx: Transaction | PrismaClient = this.#prisma,
  ): Promise<boolean> {
    const [{ returned }] = await tx.$queryRaw<[{ returned: boolean }]>`
      WITH expired AS (
        SELECT expire_holds(${which.tierId ?? null}::uuid, ${which.userId ?? null}::uuid,
                            ${which.eventId ?? null}::uuid) AS returned
      )
      SELECT returned FROM expired`;
    return returned;
  }

  /**
   * Locks the event's snapshot against a concurrent cancellation until commit, and says
   * whether the event is on sale (published, not started).
   */
  async #lockOnSale(tx: Transaction, eventId: string): Promise<boolean> {
    const [snapshot] = await tx.$queryRaw<{ onSale: boolean }[]>`
      SELECT status = 'PUBLISHED' AND starts_at > now() AS "onSale"
      FROM event_snapshots WHERE event_id = ${eventId}::uuid
      FOR SHARE`;
    return snapshot?.onSale === true;
  }

  /**
   * Takes `quantity` of the buyer's allowance for the event, within `cap`. The buyer's own
   * expired holds, if the sweeper has not returned them yet, are returned first when they
   * are what stands in the way.
   */
  async #takeAllowance(
    tx: Transaction,
    eventId: string,
    userId: string,
    quantity: number,
    cap: number,
  ): Promise<boolean> {
    if (quantity > cap) return false;
    const take = () => tx.$executeRaw`
      INSERT INTO event_allowances AS a (event_id, user_id, tickets)
      VALUES (${eventId}::uuid, ${userId}::uuid, ${quantity})
      ON CONFLICT (event_id, user_id) DO UPDATE SET tickets = a.tickets + EXCLUDED.tickets
      WHERE a.tickets + EXCLUDED.tickets <= ${cap}`;
    if ((await take()) > 0) return true;
    return (await this.expireHolds({ eventId, userId }, tx)) && (await take()) > 0;
  }

  /**
   * What the buyer's hold made with `idempotencyKey` answers a retry with: the hold as it
   * is now when the retry asks for the same tier and quantity, keyReused otherwise, and
   * undefined when the key made none.
   */
  async heldWithKey(
    userId: string,
    idempotencyKey: string,
    asked: { tierId: string; quantity: number },
    tx: Transaction | PrismaClient = this.#prisma,
  ): Promise<HoldOutcome | undefined> {
    const hold = await tx.hold.findUnique({
      where: { userId_idempotencyKey: { userId, idempotencyKey } },
    });
    if (!hold) return undefined;
    // Ids compare as the database writes them: a client may send a UUID in capitals.
    return hold.tierId === asked.tierId.toLowerCase() && hold.quantity === asked.quantity
      ? { status: 'replayed', hold }
      : { status: 'keyReused' };
  }

  /**
   * Reserves stock for one buyer. A buyer keeps at most `maxActiveHolds` holds at once
   * (their holds are made one at a time, under a lock of their own), and holds count
   * toward the per-person cap with their tickets. With an idempotency key, once per
   * (buyer, key), as a purchase is (tryLockKey): a concurrent request with it is told
   * keyInUse at once, and a retry after the commit finds the hold (heldWithKey).
   */
  async hold(request: {
    tier: TicketTier;
    userId: string;
    quantity: number;
    idempotencyKey?: string;
    seconds: number;
    perUserCap: number;
    maxActiveHolds: number;
  }): Promise<HoldOutcome> {
    const { tier, userId, quantity, idempotencyKey } = request;
    try {
      return await this.#transaction(async (tx) => {
        if (idempotencyKey !== undefined) {
          if (!(await tryLockKey(tx, 'hold', userId, idempotencyKey)))
            return { status: 'keyInUse' } as const;
          const made = await this.heldWithKey(
            userId,
            idempotencyKey,
            { tierId: tier.id, quantity },
            tx,
          );
          if (made) return made;
        }
        if (!(await this.#lockOnSale(tx, tier.eventId))) return { status: 'salesClosed' } as const;
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`holds:${userId}`}, 0))`;
        // The offers of one waitlist entry count as one hold: offer_waitlist splits what it
        // offers an entry into holds within the tier's limit per order, which the buyer did
        // not choose to make.
        const [{ active }] = await tx.$queryRaw<[{ active: number }]>`
          SELECT count(DISTINCT coalesce(waitlist_entry_id, id))::int AS active FROM holds
          WHERE user_id = ${userId}::uuid AND status = 'ACTIVE' AND expires_at > now()`;
        if (active >= request.maxActiveHolds) return { status: 'tooManyHolds' } as const;
        if (!(await this.#takeAllowance(tx, tier.eventId, userId, quantity, request.perUserCap)))
          throw new Rollback({ status: 'limitReached' });
        // The tier's window and limit per order, checked by the service on the tier as read,
        // are checked again on the row as it is written, by the rules every sale is judged
        // by (tier_refused): an organizer's change committed in between cannot let a hold
        // past them (a purchase from a hold checks neither). The hold keeps the price of the
        // row it reserved from: a purchase of it pays that. It ends `seconds` after now on
        // the database's clock, the one that every check of it and the sweeper read,
        // whatever this host's clock says. The window and the event's start are judged when
        // the stock is taken (clock_timestamp(), evaluated again on the row once a sale
        // writing it commits), not when the transaction began: a hold that waited for a
        // busy tier past the end of its sales or the event's start is refused, as a
        // purchase is.
        const reserve = () => tx.$queryRaw<
          { priceCents: number; currency: string; expiresAt: Date }[]
        >`
          UPDATE ticket_tiers t SET held = held + ${quantity}, updated_at = now()
          WHERE t.id = ${tier.id}::uuid AND t.sold + t.held + ${quantity} <= t.capacity
            AND (tier_refused(t, ${quantity}::int)).outcome IS NULL
          RETURNING price_cents AS "priceCents", currency,
                    (now() + make_interval(secs => ${request.seconds}::int))::timestamptz(3)
                      AS "expiresAt"`;
        let [reserved] = await reserve();
        if (!reserved) {
          const [refused] = await tx.$queryRaw<
            {
              outcome: string | null;
              maxPerOrder: number | null;
              salesStartAt: Date | null;
              salesEndAt: Date | null;
            }[]
          >`
            SELECT r.outcome, r.tier_max_per_order AS "maxPerOrder",
                   r.tier_sales_start_at AS "salesStartAt", r.tier_sales_end_at AS "salesEndAt"
            FROM ticket_tiers t, tier_refused(t, ${quantity}::int) r
            WHERE t.id = ${tier.id}::uuid`;
          switch (refused?.outcome) {
            case 'salesClosed':
              throw new Rollback({ status: 'salesClosed' });
            case 'windowClosed': {
              const { salesStartAt, salesEndAt } = refused;
              throw new Rollback({ status: 'windowClosed', salesStartAt, salesEndAt });
            }
            case 'orderLimitExceeded':
              throw new Rollback({
                status: 'orderLimitExceeded',
                maxPerOrder: refused.maxPerOrder as number,
              });
          }
          if (await this.expireHolds({ tierId: tier.id }, tx)) [reserved] = await reserve();
        }
        if (!reserved) throw new Rollback({ status: 'soldOut' });
        const hold = await tx.hold.create({
          data: {
            tierId: tier.id,
            userId,
            quantity,
            priceCents: reserved.priceCents,
            currency: reserved.currency,
            expiresAt: reserved.expiresAt,
            idempotencyKey,
          },
        });
        return { status: 'held', hold } as const;
      });
    } catch (error) {
      if (error instanceof Rollback) return error.outcome as HoldOutcome;
      if (isDuplicateKey(error)) return { status: 'keyInUse' };
      throw error;
    }
  }

  /**
   * Buys tickets, once per (buyer, idempotency key), in one statement: the database's
   * `purchase_tickets` function (migrations `purchase_in_one_statement` and
   * `purchase_checks_the_tier`) is the whole transaction, in the order and with the locks
   * described there and above, tier checks included. Concurrent requests with the same key
   * are told so at once; a replay finds the committed order. With group commit on, a
   * tier's concurrent purchases share one statement (PurchaseGroups), each with its own
   * outcome as here.
   */
  purchase(request: PurchaseRequest): Promise<PurchaseOutcome> {
    const { source } = request;
    if (this.#groups && source.kind === 'tier')
      return this.#groups.purchase({ ...request, source });
    return this.#purchaseAlone(request);
  }

  async #purchaseAlone(request: PurchaseRequest): Promise<PurchaseOutcome> {
    const { source } = request;
    const [tierId, quantity, holdId] =
      source.kind === 'tier' ? [source.tierId, source.quantity, null] : [null, null, source.holdId];
    // One statement, rolled back whole by a lock cycle (its expiry of lapsed holds makes
    // waitlist offers), and so safe to run again.
    const rows = await retryOnConflict(() =>
      this.#purchaseStatement<PurchaseRow>({
        name: 'purchase_tickets',
        text: `SELECT ${purchaseColumns.join(', ')} FROM purchase_tickets(
                 $1::uuid, $2, $3, $4::uuid, $5::int, $6::uuid, $7::int)`,
        values: [
          request.buyerId,
          request.idempotencyKey,
          request.requestHash,
          tierId,
          quantity,
          holdId,
          request.perUserCap,
        ],
      }),
    );
    return purchaseOutcome(request, rows);
  }

  /**
   * Cancels an active ticket not admitted yet (and, given `ownerId`, still theirs) and
   * restocks its tier, in one transaction.
   */
  async cancelTicket(id: string, ownerId?: string): Promise<Ticket | null> {
    const [cancelled] = await this.cancelTickets([id], ownerId);
    return cancelled ?? null;
  }

  /**
   * Cancels the active tickets among `ids` and restocks their tiers, in one transaction;
   * returns the ones it cancelled (a ticket cancelled already, or admitted, or, given
   * `ownerId`, no longer theirs, is left as it is).
   */
  cancelTickets(ids: readonly string[], ownerId?: string): Promise<Ticket[]> {
    return this.#transaction(async (tx) => {
      const cancelled = await this.cancelTicketsIn(tx, ids, ownerId);
      await settleOrders(tx, cancelled);
      return cancelled;
    });
  }

  /**
   * The cancellation of tickets, inside the caller's transaction (a refund's, or
   * cancelTickets'): every ticket returns to stock through here. Locks, in the order of
   * every transaction on stock: the events' snapshots `FOR SHARE` (so an event's
   * cancellation, which refunds instead, waits or is waited for), the tickets' orders,
   * the tickets, the owners' allowances, then the tiers. Tickets of a cancelled event
   * return no stock: its cancellation has emptied its tiers already. A ticket admitted at
   * the door is not cancelled (its seat is taken: back in stock it would be sold twice);
   * the condition is in the update, so a scan and a cancellation racing on one ticket
   * leave it either admitted or cancelled, never both. Given `ownerId`, only tickets that
   * account still holds are cancelled: whoever read a ticket as theirs before a transfer
   * committed cannot cancel it from its new owner.
   */
  async cancelTicketsIn(
    tx: Transaction,
    ids: readonly string[],
    ownerId?: string,
  ): Promise<Ticket[]> {
    const wanted = [...ids];
    const holder = ownerId ?? null;
    await tx.$queryRaw`
      SELECT 1 FROM event_snapshots
      WHERE event_id IN (SELECT event_id FROM tickets WHERE id = ANY(${wanted}::uuid[]))
      ORDER BY event_id FOR SHARE`;
    await tx.$queryRaw`
      SELECT 1 FROM orders
      WHERE id IN (SELECT order_id FROM tickets WHERE id = ANY(${wanted}::uuid[]))
      ORDER BY id FOR UPDATE`;
    const changed = await tx.$queryRaw<{ id: string; ownerId: string }[]>`
      UPDATE tickets SET status = 'CANCELLED', cancelled_at = now()
      WHERE id = ANY(${wanted}::uuid[]) AND status = 'ACTIVE' AND checked_in_at IS NULL
        AND (${holder}::uuid IS NULL OR owner_id = ${holder}::uuid)
      RETURNING id::text, owner_id::text AS "ownerId"`;
    if (changed.length === 0) return [];
    const cancelledIds = changed.map((ticket) => ticket.id);
    const live = Prisma.sql`
      SELECT t.event_id, t.owner_id, t.tier_id FROM tickets t
      WHERE t.id = ANY(${cancelledIds}::uuid[]) AND NOT EXISTS (
        SELECT 1 FROM event_snapshots s WHERE s.event_id = t.event_id AND s.status = 'CANCELLED')`;
    // The allowances before the tiers: the lock order of every transaction here. Several
    // owners' allowances (tickets given away) are locked in user-id order, as a transfer
    // locks its two.
    if (new Set(changed.map((ticket) => ticket.ownerId)).size > 1) {
      await tx.$queryRaw`
        SELECT 1 FROM event_allowances a
        WHERE (a.event_id, a.user_id) IN (SELECT event_id, owner_id FROM (${live}) l)
        ORDER BY a.event_id, a.user_id FOR UPDATE`;
    }
    await tx.$executeRaw`
      UPDATE event_allowances a SET tickets = greatest(a.tickets - c.n, 0)
      FROM (SELECT event_id, owner_id, count(*)::int AS n FROM (${live}) l GROUP BY 1, 2) c
      WHERE a.event_id = c.event_id AND a.user_id = c.owner_id`;
    const restocked = await tx.$queryRaw<{ id: string }[]>`
      UPDATE ticket_tiers t SET sold = t.sold - c.n, updated_at = now()
      FROM (SELECT tier_id, count(*)::int AS n FROM (${live}) l GROUP BY 1) c
      WHERE t.id = c.tier_id
      RETURNING t.id::text`;
    // Stock came back to these tiers: the waitlist is offered it first, in this transaction.
    for (const { id } of restocked.sort((a, b) => a.id.localeCompare(b.id))) {
      await offerToWaitlist(tx, id);
    }
    return tx.ticket.findMany({ where: { id: { in: cancelledIds } }, orderBy: { id: 'asc' } });
  }

  /**
   * Gives a live hold's stock back at once, as expiry would: the hold is marked expired now,
   * its quantity goes back to the buyer's allowance and leaves the tier's `held` (in that
   * order, as everywhere here), in one transaction. Only the holder's own. Answers with
   * the whole hold, its price and currency included, as `Hold` shows it.
   */
  async releaseHold(id: string, userId: string): Promise<HoldRelease> {
    return this.#transaction(async (tx) => {
      const [released] = await tx.$queryRaw<Hold[]>`
        UPDATE holds SET status = 'EXPIRED', expires_at = now()
        WHERE id = ${id}::uuid AND user_id = ${userId}::uuid
          AND status = 'ACTIVE' AND expires_at > now()
        RETURNING id::text, tier_id::text AS "tierId", user_id::text AS "userId", quantity,
                  price_cents AS "priceCents", currency, status::text,
                  expires_at AS "expiresAt", created_at AS "createdAt",
                  waitlist_entry_id::text AS "waitlistEntryId", order_id::text AS "orderId"`;
      if (!released) {
        const mine = await tx.hold.count({ where: { id, userId } });
        return { status: mine > 0 ? 'expired' : 'notFound' };
      }
      await tx.$executeRaw`
        UPDATE event_allowances a SET tickets = a.tickets - ${released.quantity}
        FROM ticket_tiers t
        WHERE t.id = ${released.tierId}::uuid AND a.event_id = t.event_id AND a.user_id = ${userId}::uuid`;
      await tx.$executeRaw`
        UPDATE ticket_tiers SET held = held - ${released.quantity}, updated_at = now()
        WHERE id = ${released.tierId}::uuid`;
      await offerToWaitlist(tx, released.tierId);
      return { status: 'released', hold: released };
    });
  }
}

/**
 * Offers a tier's free stock to its waitlist (the database's `offer_waitlist`, migration
 * `waitlist`): every transaction that returns stock calls it right after, so that nobody
 * outside the queue can take what came back.
 */
export async function offerToWaitlist(tx: Transaction, tierId: string): Promise<void> {
  await tx.$queryRaw`SELECT offer_waitlist(${tierId}::uuid)`;
}

export type HoldRelease =
  | { status: 'released'; hold: Hold }
  | { status: 'notFound' }
  | { status: 'expired' };

/**
 * Sets the status and refunded amount of the orders of `tickets` from their tickets and
 * refunds (the `settle_orders` function), after a cancellation or a refund.
 */
export async function settleOrders(tx: Transaction, tickets: readonly Ticket[]): Promise<void> {
  const orderIds = [...new Set(tickets.flatMap((ticket) => ticket.orderId ?? []))];
  if (orderIds.length > 0) await tx.$executeRaw`SELECT settle_orders(${orderIds}::uuid[])`;
}

/**
 * The purchase statements go by name straight to the pool under Prisma's adapter, prepared
 * once a connection: Prisma's handling of a raw query (its query plan, the parameters' and
 * rows' conversions) was a measurable part of a purchase's cost in the tickets process
 * (docs/BENCHMARKS.md, issue 15). On the embedded PGlite database, which has no such pool,
 * they go through the client.
 */
function purchaseStatement(prisma: PrismaClient): SendPrepared {
  const send = preparedStatements(prisma);
  return (query) => (send ? send(query) : prisma.$queryRawUnsafe(query.text, ...query.values));
}

/** A row of `purchase_tickets`: a ticket of the order, or a refusal with only `outcome`. */
export interface PurchaseRow {
  outcome:
    | 'created'
    | 'replayed'
    | 'retryAlone'
    | Exclude<PurchaseOutcome['status'], 'created' | 'replayed'>;
  order_id: string | null;
  order_total_cents: number | null;
  order_created_at: Date | null;
  order_currency: string | null;
  order_status: Order['status'] | null;
  order_refunded_cents: number | null;
  ticket_id: string;
  ticket_tier_id: string;
  ticket_event_id: string;
  ticket_status: Ticket['status'];
  ticket_code: string;
  ticket_purchased_at: Date;
  ticket_cancelled_at: Date | null;
  ticket_owner_id: string;
  ticket_token_version: number;
  ticket_checked_in_at: Date | null;
  ticket_checked_in_by: string | null;
  tier_sales_start_at: Date | null;
  tier_sales_end_at: Date | null;
  tier_max_per_order: number | null;
}

/**
 * The columns of `purchase_row` read here, named rather than `*`: a prepared statement keeps
 * the result type it was prepared with, so a later migration that adds an attribute to the
 * type must not change what a running replica's statements return.
 */
export const purchaseColumns: readonly (keyof PurchaseRow)[] = [
  'outcome',
  'order_id',
  'order_total_cents',
  'order_created_at',
  'order_currency',
  'order_status',
  'order_refunded_cents',
  'ticket_id',
  'ticket_tier_id',
  'ticket_event_id',
  'ticket_status',
  'ticket_code',
  'ticket_purchased_at',
  'ticket_cancelled_at',
  'ticket_owner_id',
  'ticket_token_version',
  'ticket_checked_in_at',
  'ticket_checked_in_by',
  'tier_sales_start_at',
  'tier_sales_end_at',
  'tier_max_per_order',
];

/** The outcome of one purchase from its rows (`retryAlone` is the group's, never one's). */
export function purchaseOutcome(request: PurchaseRequest, rows: PurchaseRow[]): PurchaseOutcome {
  const [first] = rows;
  if (!first) throw new Error('purchase_tickets returned no row');
  switch (first.outcome) {
    case 'created':
    case 'replayed':
      break;
    case 'windowClosed':
      return {
        status: first.outcome,
        salesStartAt: first.tier_sales_start_at,
        salesEndAt: first.tier_sales_end_at,
      };
    case 'orderLimitExceeded':
      return { status: first.outcome, maxPerOrder: first.tier_max_per_order as number };
    case 'retryAlone':
      throw new Error('purchase_tickets answered retryAlone, an outcome of groups only');
    default:
      return { status: first.outcome };
  }
  const order: Order = {
    id: first.order_id as string,
    buyerId: request.buyerId,
    idempotencyKey: request.idempotencyKey,
    requestHash: request.requestHash,
    totalCents: first.order_total_cents as number,
    createdAt: first.order_created_at as Date,
    currency: first.order_currency as string,
    status: first.order_status as Order['status'],
    refundedCents: first.order_refunded_cents as number,
  };
  const tickets: Ticket[] = rows.map((row) => ({
    id: row.ticket_id,
    tierId: row.ticket_tier_id,
    eventId: row.ticket_event_id,
    // As each ticket is now: a replay may find one transferred or checked in since.
    ownerId: row.ticket_owner_id,
    status: row.ticket_status,
    code: row.ticket_code,
    orderId: order.id,
    purchasedAt: row.ticket_purchased_at,
    cancelledAt: row.ticket_cancelled_at,
    tokenVersion: row.ticket_token_version,
    checkedInAt: row.ticket_checked_in_at,
    checkedInBy: row.ticket_checked_in_by,
  }));
  return { status: first.outcome, order, tickets };
}
