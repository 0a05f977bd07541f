import { queryableIds, retryOnConflict, whileAwaited } from '@ticketing/platform';
import type {
  EventSnapshot,
  Order,
  Prisma,
  PrismaClient,
  Refund,
  RefundReason,
  Ticket,
} from '@ticketing/prisma/tickets';
import { type PurchaseRepository, settleOrders } from './PurchaseRepository.ts';

export interface RefundRequest {
  orderId: string;
  /** Tickets of the order, each once. */
  ticketIds: readonly string[];
  reason: RefundReason;
  requestedBy: string;
  /** The account that must still hold every ticket (the buyer, refunding their own); any when left out. */
  ownerId?: string;
  /**
   * For a buyer's refund: how many hours before the event's start their window closes. Judged
   * by the database's clock under the event's snapshot lock, as the refund commits, not when
   * it was asked: a refund that waited for a lock past the cutoff is refused.
   */
  cutoffHours?: number;
}

export type RefundOutcome =
  | { status: 'refunded'; refundId: string; tickets: Ticket[] }
  /** Some of the tickets were refunded already (these): nothing was written. */
  | { status: 'alreadyRefunded'; ticketIds: string[] }
  /** Some of the tickets were admitted at the door (these): nothing was written. */
  | { status: 'checkedIn'; ticketIds: string[] }
  /** Some of the tickets were cancelled without a refund: nothing was written. */
  | { status: 'cancelled' }
  /** Some of the tickets are no longer the owner's (these), given away meanwhile: nothing was written. */
  | { status: 'transferred'; ticketIds: string[] }
  /** A buyer's refund past the cutoff before the event's start: nothing was written. */
  | { status: 'windowClosed'; refundableUntil: Date | null }
  /**
   * None of the tickets is cancelled, admitted or given away any more: a write that
   * committed after the refund's own update (an undone check-in) made them refundable.
   * Nothing was written; the refund may be asked again.
   */
  | { status: 'changed' };

/** Thrown inside a refund's transaction to roll it back. */
class NotAllActive extends Error {}

/** Thrown inside a buyer's refund's transaction, past the cutoff, to roll it back. */
class WindowClosed extends Error {
  readonly refundableUntil: Date | null;

  constructor(refundableUntil: Date | null) {
    super('windowClosed');
    this.refundableUntil = refundableUntil;
  }
}

/**
 * Refunds, each written in the transaction that cancels its tickets, so that a ticket is
 * refunded exactly once: the cancellation is a conditional update (`status = 'ACTIVE'`)
 * under the order's row lock, and `refund_tickets` is keyed by the ticket as well.
 */
export class RefundRepository {
  readonly #prisma: PrismaClient;
  readonly #purchases: PurchaseRepository;

  constructor(prisma: PrismaClient, purchases: PurchaseRepository) {
    this.#prisma = prisma;
    this.#purchases = purchases;
  }

  /**
   * Cancels the tickets (restocking them, through PurchaseRepository.cancelTicketsIn),
   * records one refund of their share of the order's total, and settles the order's status,
   * in one transaction; or writes nothing when any of them is no longer active.
   */
  async refund(request: RefundRequest): Promise<RefundOutcome> {
    try {
      return await retryOnConflict(() =>
        this.#prisma.$transaction(
          whileAwaited(async (tx: Prisma.TransactionClient) => {
            const cancelled = await this.#purchases.cancelTicketsIn(
              tx,
              request.ticketIds,
              request.ownerId,
            );
            if (cancelled.length < request.ticketIds.length) throw new NotAllActive();
            if (request.cutoffHours !== undefined) {
              // The snapshot is locked (cancelTicketsIn's first statement), so the start
              // cannot move before this commits; the time is now, after any wait for a lock.
              const [window] = await tx.$queryRaw<{ refundableUntil: Date; open: boolean }[]>`
              SELECT s.starts_at - make_interval(secs => ${request.cutoffHours * 3600}::float8)
                       AS "refundableUntil",
                     s.starts_at - make_interval(secs => ${request.cutoffHours * 3600}::float8)
                       > clock_timestamp() AS open
              FROM tickets t JOIN event_snapshots s ON s.event_id = t.event_id
              WHERE t.id = ${request.ticketIds[0]}::uuid`;
              if (!window?.open) throw new WindowClosed(window?.refundableUntil ?? null);
            }
            const [{ id }] = await tx.$queryRaw<[{ id: string }]>`
            SELECT record_refund(${request.orderId}::uuid, ${[...request.ticketIds]}::uuid[],
                                 ${request.reason}::"RefundReason", ${request.requestedBy}::uuid)::text AS id`;
            await settleOrders(tx, cancelled);
            return { status: 'refunded', refundId: id, tickets: cancelled } as const;
          }),
          { maxWait: 10_000, timeout: 12_000 },
        ),
      );
    } catch (error) {
      if (error instanceof WindowClosed) {
        return { status: 'windowClosed', refundableUntil: error.refundableUntil };
      }
      if (!(error instanceof NotAllActive)) throw error;
      return this.whyNotRefundable(request.ticketIds, request.ownerId);
    }
  }

  /**
   * Why these tickets, not all of which were active and not admitted (and, given `ownerId`,
   * held by that account) when a refund's update ran, cannot be refunded; read afterwards,
   * so `changed` when none is in the way any more.
   */
  async whyNotRefundable(
    ticketIds: readonly string[],
    ownerId?: string,
  ): Promise<Exclude<RefundOutcome, { status: 'refunded' | 'windowClosed' }>> {
    if (ownerId) {
      const given = await this.#prisma.ticket.findMany({
        where: { id: { in: queryableIds(ticketIds) }, status: 'ACTIVE', ownerId: { not: ownerId } },
        select: { id: true },
        orderBy: { id: 'asc' },
      });
      if (given.length > 0) {
        return { status: 'transferred', ticketIds: given.map((ticket) => ticket.id) };
      }
    }
    // Admitted first: undoing a check-in is what would make the refund possible.
    const admitted = await this.#prisma.ticket.findMany({
      where: { id: { in: queryableIds(ticketIds) }, status: 'ACTIVE', checkedInAt: { not: null } },
      select: { id: true },
      orderBy: { id: 'asc' },
    });
    if (admitted.length > 0) {
      return { status: 'checkedIn', ticketIds: admitted.map((ticket) => ticket.id) };
    }
    const refunded = await this.refundedTicketIds(ticketIds);
    if (refunded.size > 0) return { status: 'alreadyRefunded', ticketIds: [...refunded].sort() };
    const cancelled = await this.#prisma.ticket.count({
      where: { id: { in: queryableIds(ticketIds) }, status: 'CANCELLED' },
    });
    return cancelled > 0 ? { status: 'cancelled' } : { status: 'changed' };
  }

  /** An order with its tickets, by id, and the snapshot of their event; null for none. */
  async orderToRefund(
    id: string,
  ): Promise<{ order: Order; tickets: Ticket[]; snapshot: EventSnapshot | null } | null> {
    const found = await this.#prisma.order.findUnique({
      where: { id },
      include: { tickets: true },
    });
    const eventId = found?.tickets[0]?.eventId;
    if (!found || !eventId) return null;
    const { tickets, ...order } = found;
    const snapshot = await this.#prisma.eventSnapshot.findUnique({ where: { eventId } });
    return { order, tickets, snapshot };
  }

  findOrder(id: string): Promise<Order> {
    return this.#prisma.order.findUniqueOrThrow({ where: { id } });
  }

  /** Which of these tickets were refunded. */
  async refundedTicketIds(ticketIds: readonly string[]): Promise<Set<string>> {
    const rows = await this.#prisma.refundedTicket.findMany({
      where: { ticketId: { in: queryableIds(ticketIds) } },
      select: { ticketId: true },
    });
    return new Set(rows.map((row) => row.ticketId));
  }

  /** Each order's refunds, oldest first. */
  async findByOrderIds(orderIds: readonly string[]): Promise<Refund[][]> {
    const refunds = await this.#prisma.refund.findMany({
      where: { orderId: { in: queryableIds(orderIds) } },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    const byOrder = Map.groupBy(refunds, (refund) => refund.orderId);
    return orderIds.map((id) => byOrder.get(id) ?? []);
  }

  /** The tickets each refund paid back. */
  async ticketIdsByRefundIds(refundIds: readonly string[]): Promise<string[][]> {
    const rows = await this.#prisma.refundedTicket.findMany({
      where: { refundId: { in: queryableIds(refundIds) } },
      orderBy: { ticketId: 'asc' },
    });
    const byRefund = Map.groupBy(rows, (row) => row.refundId);
    return refundIds.map((id) => (byRefund.get(id) ?? []).map((row) => row.ticketId));
  }

  /** Refunds the payment provider has not accepted yet (all, or these), oldest first. */
  unsent(ids?: readonly string[]): Promise<Refund[]> {
    return this.#prisma.refund.findMany({
      where: { sentAt: null, ...(ids ? { id: { in: [...ids] } } : {}) },
      orderBy: { id: 'asc' },
      take: 500,
    });
  }

  async markSent(id: string, reference: string | null): Promise<void> {
    await this.#prisma.refund.updateMany({
      where: { id, sentAt: null },
      data: { sentAt: new Date(), providerReference: reference },
    });
  }
}
