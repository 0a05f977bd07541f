import { randomBytes } from 'node:crypto';
import {
  type Hold,
  type Order,
  Prisma,
  type PrismaClient,
  type Ticket,
  type TicketTier,
} from '@ticketing/prisma/tickets';

type Transaction = Prisma.TransactionClient;

/** 128 random bits: unguessable, so that a code proves possession of the ticket. */
export function newTicketCode(): string {
  return randomBytes(16).toString('base64url');
}

export type PurchaseOutcome =
  | { status: 'created'; order: Order; tickets: Ticket[] }
  | { status: 'replayed'; order: Order; tickets: Ticket[] }
  | { status: 'keyInUse' }
  | { status: 'keyReused' }
  | { status: 'soldOut' }
  | { status: 'limitReached' }
  | { status: 'holdNotFound' }
  | { status: 'holdExpired' };

/** What is being bought: from a tier directly, or by converting a hold. */
export type PurchaseSource =
  | { kind: 'tier'; tier: TicketTier; quantity: number }
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
 * The only code that changes stock. Every change is one transaction; stock moves only
 * through conditional updates (`WHERE sold + held + n <= capacity`), under a CHECK
 * constraint that makes overselling impossible even for a bug here.
 */
export class PurchaseRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  #transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    // Under a rush, transactions queue for a pooled connection: wait, rather than fail.
    return this.#prisma.$transaction(work, { maxWait: 20_000, timeout: 20_000 });
  }

  /** Returns expired holds' stock to their tiers: one statement, safe to run anywhere. */
  async expireHolds(
    tierId?: string,
    tx: Transaction | PrismaClient = this.#prisma,
  ): Promise<number> {
    const tierFilter = tierId ? Prisma.sql`AND tier_id = ${tierId}::uuid` : Prisma.empty;
    return tx.$executeRaw`
      WITH expired AS (
        UPDATE holds SET status = 'EXPIRED'
        WHERE status = 'ACTIVE' AND expires_at <= now() ${tierFilter}
        RETURNING tier_id, quantity
      ), released AS (
        SELECT tier_id, sum(quantity)::int AS quantity FROM expired GROUP BY tier_id
      )
      UPDATE ticket_tiers t SET held = t.held - r.quantity
      FROM released r WHERE t.id = r.tier_id`;
  }

  async hold(
    tier: TicketTier,
    userId: string,
    quantity: number,
    seconds: number,
  ): Promise<Hold | null> {
    return this.#transaction(async (tx) => {
      await this.expireHolds(tier.id, tx);
      const reserved = await tx.$executeRaw`
        UPDATE ticket_tiers SET held = held + ${quantity}, updated_at = now()
        WHERE id = ${tier.id}::uuid AND sold + held + ${quantity} <= capacity`;
      if (reserved === 0) return null;
      return tx.hold.create({
        data: {
          tierId: tier.id,
          userId,
          quantity,
          expiresAt: new Date(Date.now() + seconds * 1000),
        },
      });
    });
  }

  /**
   * Buys tickets, once per (buyer, idempotency key). Concurrent requests with the same key
   * are told so at once (an advisory lock); a replay finds the committed order. The stock
   * update comes last, so that the hot tier's row is locked only until commit.
   */
  async purchase(request: PurchaseRequest): Promise<PurchaseOutcome> {
    try {
      return await this.#transaction(async (tx) => {
        const [{ locked }] = await tx.$queryRaw<[{ locked: boolean }]>`
          SELECT pg_try_advisory_xact_lock(hashtextextended(${`${request.buyerId}:${request.idempotencyKey}`}, 0)) AS locked`;
        if (!locked) return { status: 'keyInUse' } as const;

        const existing = await tx.order.findUnique({
          where: {
            buyerId_idempotencyKey: {
              buyerId: request.buyerId,
              idempotencyKey: request.idempotencyKey,
            },
          },
          include: { tickets: { orderBy: { id: 'asc' } } },
        });
        if (existing) {
          return existing.requestHash === request.requestHash
            ? ({ status: 'replayed', order: existing, tickets: existing.tickets } as const)
            : ({ status: 'keyReused' } as const);
        }

        const { tier, quantity, fromHold } = await this.#resolveSource(tx, request);
        const order = await tx.order.create({
          data: {
            buyerId: request.buyerId,
            idempotencyKey: request.idempotencyKey,
            requestHash: request.requestHash,
            totalCents: tier.priceCents * quantity,
          },
        });
        const created = await tx.ticket.createManyAndReturn({
          data: Array.from({ length: quantity }, () => ({
            tierId: tier.id,
            eventId: tier.eventId,
            ownerId: request.buyerId,
            orderId: order.id,
            code: newTicketCode(),
          })),
        });
        const allowed = await tx.$executeRaw`
          INSERT INTO event_allowances AS a (event_id, user_id, tickets)
          VALUES (${tier.eventId}::uuid, ${request.buyerId}::uuid, ${quantity})
          ON CONFLICT (event_id, user_id) DO UPDATE SET tickets = a.tickets + EXCLUDED.tickets
          WHERE a.tickets + EXCLUDED.tickets <= ${request.perUserCap}`;
        if (allowed === 0 || quantity > request.perUserCap)
          throw new Rollback({ status: 'limitReached' });

        const take = () =>
          fromHold
            ? tx.$executeRaw`
              UPDATE ticket_tiers SET held = held - ${quantity}, sold = sold + ${quantity}, updated_at = now()
              WHERE id = ${tier.id}::uuid`
            : tx.$executeRaw`
              UPDATE ticket_tiers SET sold = sold + ${quantity}, updated_at = now()
              WHERE id = ${tier.id}::uuid AND sold + held + ${quantity} <= capacity`;
        // Expired holds the sweeper has not returned yet still count as held: only when
        // they are what stands between the buyer and the stock are they returned here, so
        // that the common purchase does not scan holds while it holds the tier's row.
        let stocked = await take();
        if (stocked === 0 && !fromHold && (await this.expireHolds(tier.id, tx)) > 0) {
          stocked = await take();
        }
        if (stocked === 0) throw new Rollback({ status: 'soldOut' });

        // The stock update is the last statement: the hot row is locked only until commit.
        const tickets = created.toSorted((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        return { status: 'created', order, tickets } as const;
      });
    } catch (error) {
      if (error instanceof Rollback) return error.outcome;
      throw error;
    }
  }

  async #resolveSource(tx: Transaction, request: PurchaseRequest) {
    if (request.source.kind === 'tier') {
      return { tier: request.source.tier, quantity: request.source.quantity, fromHold: false };
    }
    const { holdId } = request.source;
    const hold = await tx.hold.findFirst({
      where: { id: holdId, userId: request.buyerId },
      include: { tier: true },
    });
    if (!hold) throw new Rollback({ status: 'holdNotFound' });
    const claimed = await tx.hold.updateMany({
      where: { id: hold.id, status: 'ACTIVE', expiresAt: { gt: new Date() } },
      data: { status: 'PURCHASED' },
    });
    if (claimed.count === 0) throw new Rollback({ status: 'holdExpired' });
    return { tier: hold.tier, quantity: hold.quantity, fromHold: true };
  }

  /** Cancels an active ticket and restocks its tier, in one transaction. */
  async cancelTicket(id: string): Promise<Ticket | null> {
    return this.#transaction(async (tx) => {
      const [ticket] = await tx.$queryRaw<{ id: string }[]>`
        UPDATE tickets SET status = 'CANCELLED', cancelled_at = now()
        WHERE id = ${id}::uuid AND status = 'ACTIVE'
        RETURNING id::text`;
      if (!ticket) return null;
      const cancelled = await tx.ticket.findUniqueOrThrow({ where: { id } });
      await tx.$executeRaw`UPDATE ticket_tiers SET sold = sold - 1, updated_at = now() WHERE id = ${cancelled.tierId}::uuid`;
      await tx.$executeRaw`
        UPDATE event_allowances SET tickets = tickets - 1
        WHERE event_id = ${cancelled.eventId}::uuid AND user_id = ${cancelled.ownerId}::uuid AND tickets > 0`;
      return cancelled;
    });
  }

  /**
   * Gives a live hold's stock back at once, as expiry would: the hold is marked expired now
   * and its quantity leaves the tier's `held`, in one transaction. Only the holder's own.
   */
  async releaseHold(id: string, userId: string): Promise<HoldRelease> {
    return this.#transaction(async (tx) => {
      const [released] = await tx.$queryRaw<Hold[]>`
        UPDATE holds SET status = 'EXPIRED', expires_at = now()
        WHERE id = ${id}::uuid AND user_id = ${userId}::uuid
          AND status = 'ACTIVE' AND expires_at > now()
        RETURNING id::text, tier_id::text AS "tierId", user_id::text AS "userId", quantity,
                  status::text, expires_at AS "expiresAt", created_at AS "createdAt"`;
      if (!released) {
        const mine = await tx.hold.count({ where: { id, userId } });
        return { status: mine > 0 ? 'expired' : 'notFound' };
      }
      await tx.$executeRaw`
        UPDATE ticket_tiers SET held = held - ${released.quantity}, updated_at = now()
        WHERE id = ${released.tierId}::uuid`;
      return { status: 'released', hold: released };
    });
  }
}

export type HoldRelease =
  | { status: 'released'; hold: Hold }
  | { status: 'notFound' }
  | { status: 'expired' };
