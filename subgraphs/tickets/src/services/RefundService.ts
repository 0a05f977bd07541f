import { type Identity, requireViewer } from '@ticketing/auth';
import { badUserInput, isUuid, notFound } from '@ticketing/platform';
import type {
  EventSnapshot,
  Order,
  PrismaClient,
  RefundReason,
  Ticket,
} from '@ticketing/prisma/tickets';
import { admitted, againWhileChanged, failure } from '../errors.ts';
import type { PaymentProvider } from '../payments/PaymentProvider.ts';
import type { PurchaseRepository } from '../repositories/PurchaseRepository.ts';
import { RefundRepository } from '../repositories/RefundRepository.ts';
import type { EventOwnership } from './EventOwnership.ts';

export interface RefundSettings {
  /** A buyer may refund their own tickets until this many hours before the event starts. */
  cutoffHours: number;
  /**
   * How long the payment provider has to accept one refund; past it the refund stays unsent,
   * for RefundSender's next round.
   * @default defaultProviderTimeoutMs
   */
  providerTimeoutMs?: number;
}

/**
 * The payment provider's deadline unless the settings say otherwise: a refund is answered
 * after the provider is asked, so this stays well below the gateway's 15 s subgraph deadline.
 */
export const defaultProviderTimeoutMs = 3_000;

/** The most tickets one refund may name: more than any order holds. */
const maxTicketIds = 100;

const notYours = (id: string) => notFound(`No order of yours has the id ${id}.`, 'orderId');
const windowClosed = (cutoffHours: number, refundableUntil: Date | null) =>
  failure(
    'REFUND_WINDOW_CLOSED',
    `Tickets can be refunded until ${cutoffHours} hours before the event starts; ask the organizer.`,
    { refundableUntil: refundableUntil?.toISOString() ?? null },
  );
const transferred = (ticketIds: string[]) =>
  failure(
    'TICKET_TRANSFERRED',
    'A ticket given to someone else can be refunded by the organizer only.',
    {
      ticketIds,
    },
  );

/**
 * Refunds: who may ask for one, of which tickets, and handing each recorded refund to the
 * payment provider. The rule, once: the buyer may refund tickets of their order that they
 * still hold until `cutoffHours` before the event starts; the event's organizer and admins
 * may refund any of its orders at any time; an event's cancellation refunds every order
 * (EventSnapshotRepository). A refund returns its tickets to stock.
 */
export class RefundService {
  readonly #refunds: RefundRepository;
  readonly #ownership: EventOwnership;
  readonly #provider: PaymentProvider;
  readonly #settings: RefundSettings;

  constructor(deps: {
    prisma: PrismaClient;
    purchases: PurchaseRepository;
    ownership: EventOwnership;
    provider: PaymentProvider;
    settings: RefundSettings;
  }) {
    this.#refunds = new RefundRepository(deps.prisma, deps.purchases);
    this.#ownership = deps.ownership;
    this.#provider = deps.provider;
    this.#settings = deps.settings;
  }

  get refunds(): RefundRepository {
    return this.#refunds;
  }

  /**
   * Refunds `ticketIds` of the order (all its active tickets when omitted), exactly once
   * however many ask at the same time, and returns the order as it is now.
   */
  async refundOrder(
    viewer: Identity | null,
    orderId: string,
    ticketIds: readonly string[] | null | undefined,
  ): Promise<Order> {
    const caller = requireViewer(viewer, 'Log in to refund an order.');
    if (ticketIds) assertTicketIds(ticketIds);
    // The tickets are judged as read, then by the refund's own update; a write between the
    // two that makes them refundable (an undone check-in) is met by reading them again.
    return againWhileChanged(() => this.#refundOnce(caller, orderId, ticketIds));
  }

  /** One attempt of refundOrder: the order as it is now, or undefined when its tickets changed meanwhile. */
  async #refundOnce(
    caller: Identity,
    orderId: string,
    ticketIds: readonly string[] | null | undefined,
  ): Promise<Order | undefined> {
    const found = isUuid(orderId) ? await this.#refunds.orderToRefund(orderId) : null;
    if (!found) throw notYours(orderId);
    const { order, snapshot } = found;
    const reason = await this.#reasonFor(caller, order, found.tickets[0] as Ticket, snapshot);
    const tickets = chosenTickets(found.tickets, ticketIds);
    // A buyer refunds only tickets they still hold: checked here against the tickets as read,
    // and again by the refund's own update, against a transfer that commits in between.
    const ownerId = reason === 'BUYER' ? caller.userId : undefined;
    if (ownerId) {
      const given = tickets.filter((ticket) => ticket.ownerId !== ownerId);
      if (given.length > 0) throw transferred(given.map((ticket) => ticket.id));
    }
    const outcome =
      tickets.length > 0
        ? await this.#refunds.refund({
            orderId: order.id,
            ticketIds: tickets.map((ticket) => ticket.id),
            reason,
            requestedBy: caller.userId,
            ...(ownerId ? { ownerId, cutoffHours: this.#settings.cutoffHours } : {}),
          })
        : await this.#refunds.whyNotRefundable(found.tickets.map((ticket) => ticket.id));
    switch (outcome.status) {
      case 'refunded':
        await this.send([outcome.refundId]);
        return this.#refunds.findOrder(order.id);
      case 'alreadyRefunded':
        throw failure('ALREADY_REFUNDED', 'These tickets are refunded already.', {
          ticketIds: outcome.ticketIds,
        });
      case 'checkedIn':
        throw admitted(outcome.ticketIds);
      case 'cancelled':
        throw failure('TICKET_CANCELLED', 'A cancelled ticket cannot be refunded.');
      case 'transferred':
        throw transferred(outcome.ticketIds);
      case 'windowClosed':
        throw windowClosed(this.#settings.cutoffHours, outcome.refundableUntil);
      case 'changed':
        return undefined;
    }
  }

  /**
   * Hands unsent refunds (these, or all) to the payment provider, with the refund's id as
   * the idempotency key, and marks each one the provider accepted (one of 0, at once). One that fails stays
   * unsent, for RefundSender's next round; sending one twice is harmless.
   */
  async send(ids?: readonly string[]): Promise<{ sent: number; failed: number }> {
    let [sent, failed] = [0, 0];
    for (const refund of await this.#refunds.unsent(ids)) {
      // A refund of nothing (a free ticket's) moves no money, and a provider refuses an
      // amount of 0: it is settled here, with no provider's reference.
      if (refund.amountCents === 0) {
        await this.#refunds.markSent(refund.id, null);
        sent += 1;
        continue;
      }
      try {
        // A provider that never answers must hold up neither the buyer's refund nor the
        // sender's later rounds: past the deadline, the refund stays unsent.
        const { reference } = await withinDeadline(
          (signal) =>
            this.#provider.refund(
              {
                idempotencyKey: refund.id,
                orderId: refund.orderId,
                amountCents: refund.amountCents,
                currency: refund.currency,
              },
              { signal },
            ),
          this.#settings.providerTimeoutMs ?? defaultProviderTimeoutMs,
        );
        await this.#refunds.markSent(refund.id, reference);
        sent += 1;
      } catch {
        // Stays unsent: RefundSender sends it again.
        failed += 1;
      }
    }
    return { sent, failed };
  }

  /** Why the caller may refund this order, or the refusal. */
  async #reasonFor(
    caller: Identity,
    order: Order,
    { eventId }: Ticket,
    snapshot: EventSnapshot | null,
  ): Promise<RefundReason> {
    if (caller.role === 'ADMIN') return 'ADMIN';
    const isBuyer = caller.userId === order.buyerId;
    const refundableUntil = snapshot
      ? new Date(snapshot.startsAt.getTime() - this.#settings.cutoffHours * 3_600_000)
      : null;
    if (isBuyer && refundableUntil && refundableUntil > new Date()) return 'BUYER';
    if (
      caller.role === 'ORGANIZER' &&
      (await this.#ownership.organizerOf(eventId, caller, 'orderId')) === caller.userId
    ) {
      return 'ORGANIZER';
    }
    if (!isBuyer) throw notYours(order.id);
    throw windowClosed(this.#settings.cutoffHours, refundableUntil);
  }
}

/**
 * What `work` resolves to, or a rejection once `ms` have passed; `work` is given the signal
 * that aborts then, so that a provider can stop its own request.
 */
async function withinDeadline<T>(
  work: (signal: AbortSignal) => Promise<T>,
  ms: number,
): Promise<T> {
  const signal = AbortSignal.timeout(ms);
  const { promise: expired, reject } = Promise.withResolvers<never>();
  const onAbort = () => reject(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await Promise.race([work(signal), expired]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** A non-empty list of distinct ids, or BAD_USER_INPUT naming `ticketIds`. */
function assertTicketIds(ticketIds: readonly string[]): void {
  if (ticketIds.length === 0)
    throw badUserInput('ticketIds must name at least one ticket.', 'ticketIds');
  if (ticketIds.length > maxTicketIds) {
    throw badUserInput(`ticketIds must name at most ${maxTicketIds} tickets.`, 'ticketIds');
  }
  if (new Set(ticketIds).size !== ticketIds.length) {
    throw badUserInput('ticketIds must not name a ticket twice.', 'ticketIds');
  }
}

/**
 * The tickets named, each of which must be of the order (BAD_USER_INPUT otherwise); or,
 * with none named, the order's active tickets not admitted at the door.
 */
function chosenTickets(
  ofOrder: readonly Ticket[],
  ticketIds: readonly string[] | null | undefined,
): Ticket[] {
  if (!ticketIds) {
    return ofOrder.filter((ticket) => ticket.status === 'ACTIVE' && !ticket.checkedInAt);
  }
  const byId = new Map(ofOrder.map((ticket) => [ticket.id, ticket]));
  const foreign = ticketIds.filter((id) => !byId.has(id));
  if (foreign.length > 0) {
    throw badUserInput(
      `ticketIds names tickets that are not of this order: ${foreign.join(', ')}.`,
      'ticketIds',
    );
  }
  return ticketIds.map((id) => byId.get(id) as Ticket);
}
