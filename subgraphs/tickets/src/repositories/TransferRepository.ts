import { retryOnConflict, whileAwaited } from '@ticketing/platform';
import {
  Prisma,
  type PrismaClient,
  type Ticket,
  type TicketTransferOffer,
  type TransferOfferStatus,
} from '@ticketing/prisma/tickets';
import { type OrderPosition, olderThan } from './OrderRepository.ts';
import { PurchaseRepository } from './PurchaseRepository.ts';

export type OfferOutcome =
  | { status: 'offered'; offer: TicketTransferOffer }
  /**
   * Not the giver's active, unadmitted ticket (any more): a racing accept, a cancellation, a
   * scan. `now` is the ticket as the offer found it, locked (null when there is none).
   */
  | { status: 'unavailable'; now: TicketState | null }
  /** The ticket has an unexpired offer pending already. */
  | { status: 'pending' }
  /** The event has started: an offer would expire as it is made. */
  | { status: 'eventStarted' };

/** What decides whether a ticket can be offered. */
export type TicketState = Pick<Ticket, 'ownerId' | 'status' | 'checkedInAt'>;

export type AcceptOutcome =
  | { status: 'transferred'; ticket: Ticket }
  /** No offer with this id to this receiver. */
  | { status: 'notFound' }
  | { status: 'expired' }
  /** Settled already: declined, cancelled (by the giver, or voided) or accepted. */
  | { status: 'notPending'; offer: TicketTransferOffer }
  /** The ticket is no longer the giver's to give (cancelled, admitted, moved, giver closed): the offer is void now. */
  | { status: 'void'; ticket: Ticket | null }
  | { status: 'limitReached' };

export type SettleOutcome =
  | { status: 'settled'; offer: TicketTransferOffer }
  | { status: 'notFound' }
  | { status: 'notPending'; offer: TicketTransferOffer };

/** A page of a user's pending offers, newest first. */
export interface OfferPage {
  offers: TicketTransferOffer[];
  hasNextPage: boolean;
  totalCount: number;
}

/** Thrown inside the transaction to roll it back with an outcome. */
class Rollback extends Error {
  readonly outcome: AcceptOutcome;

  constructor(outcome: AcceptOutcome) {
    super(outcome.status);
    this.outcome = outcome;
  }
}

/** An offer's columns under the names of its model, from `ticket_transfer_offers o`. */
const offerColumns = Prisma.raw(`o.id, o.ticket_id AS "ticketId", o.from_user_id AS "fromUserId",
  o.to_user_id AS "toUserId", o.status, o.created_at AS "createdAt", o.expires_at AS "expiresAt",
  o.lifetime_ends_at AS "lifetimeEndsAt", o.resolved_at AS "resolvedAt"`);

/** An offer still open: pending and not past its expiry. */
const open = (now = new Date()) =>
  ({ status: 'PENDING', expiresAt: { gt: now } }) satisfies Prisma.TicketTransferOfferWhereInput;

/**
 * Gives tickets from one account to another, in two steps: the owner offers the ticket
 * (nothing moves, nobody's allowance changes), and the receiver accepts it.
 *
 * An accept is one transaction: the ticket's row is locked first, then the offer is marked
 * ACCEPTED under a conditional update (still pending, not expired), then the ticket changes
 * owner under a conditional update (still the giver's, active, not admitted), its code and
 * token version rotate, and the receiver's allowance takes it within the per-person cap
 * while the giver's gives it back.
 *
 * Locks: the receiver's account lock (shared) first, then the ticket's row, then the
 * offer's, then the two allowance rows in user-id order, then (only to return the
 * receiver's expired holds) tier rows. A closing of the receiver's account holds that lock
 * exclusively, then the offers made to it. A cancellation,
 * refund or admission takes the ticket, then (through the `tickets_void_transfer_offers`
 * statement trigger, after every ticket row of its statement) its offer, then an allowance, then the tier; a purchase an allowance, then the
 * tier; an offer the ticket (shared), then the offer; a decline or an offer's cancellation
 * the offer alone. So no transaction here waits in a circle with those, nor with another
 * transfer going the other way. Returning expired holds offers them to the tier's waitlist,
 * which locks waiters' allowances after the tier's row: a waiter's own purchase at that
 * moment can meet it in a lock cycle, and PostgreSQL rolls one side back whole; this side
 * then runs again (retryOnConflict), as every transaction on stock does.
 */
export class TransferRepository {
  readonly #prisma: PrismaClient;
  readonly #purchases: PurchaseRepository;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
    this.#purchases = new PurchaseRepository(prisma);
  }

  /**
   * Offers the giver's ticket to the receiver, expiring `hours` from now (its lifetime, kept
   * as `lifetimeEndsAt`) or at the event's start, whichever is first. The ticket's row is read `FOR SHARE`: a cancellation, refund,
   * scan or accept of it waits for the offer, and its trigger then voids it.
   */
  offer(request: {
    ticketId: string;
    fromUserId: string;
    toUserId: string;
    hours: number;
  }): Promise<OfferOutcome> {
    const { ticketId, fromUserId, toUserId, hours } = request;
    return this.#prisma.$transaction(
      whileAwaited(async (tx: Prisma.TransactionClient) => {
        // The event's snapshot first, shared, as a purchase takes it: a change of the event's
        // start (which pulls pending offers in to it) waits for this offer, or this offer
        // reads the new start. Never the start it had before a change that missed the offer.
        await tx.$queryRaw`
        SELECT 1 FROM event_snapshots
        WHERE event_id = (SELECT event_id FROM tickets WHERE id = ${ticketId}::uuid)
        FOR SHARE`;
        // The ticket locked whatever its state, and judged as locked: the refusal is explained
        // by the row that refused it, not by a read after this transaction, when a scan and
        // its undo may both have come and gone (the owner's own ticket read as not theirs).
        const [held] = await tx.$queryRaw<(TicketState & { eventId: string })[]>`
        SELECT t.event_id::text AS "eventId", t.owner_id::text AS "ownerId", t.status::text AS status,
               t.checked_in_at AS "checkedInAt"
        FROM tickets t WHERE t.id = ${ticketId}::uuid
        FOR SHARE OF t`;
        if (
          !held ||
          held.ownerId !== fromUserId ||
          held.status !== 'ACTIVE' ||
          held.checkedInAt !== null
        ) {
          return { status: 'unavailable', now: held ?? null } as const;
        }
        // Then the time, by the database's clock once the ticket is held: not at the
        // transaction's start (now()), which may be before a wait for the ticket past the
        // event's start, when an offer would be made expired.
        // Its own lifetime is kept beside the expiry: a postponement moves the expiry back to it.
        const [ticket] = await tx.$queryRaw<
          { lifetimeEndsAt: Date; expiresAt: Date; started: boolean }[]
        >`
        SELECT lifetime AS "lifetimeEndsAt", least(lifetime, s.starts_at) AS "expiresAt",
               coalesce(s.starts_at <= clock_timestamp(), false) AS started
        FROM (SELECT clock_timestamp() + make_interval(secs => ${hours * 3600}::float8)
                AS lifetime) AS one
        LEFT JOIN event_snapshots s ON s.event_id = ${held.eventId}::uuid`;
        if (!ticket || ticket.started) return { status: 'eventStarted' } as const;
        // An offer past its expiry that nobody settled still holds the one pending place.
        await tx.$executeRaw`
        UPDATE ticket_transfer_offers SET status = 'EXPIRED', resolved_at = clock_timestamp()
        WHERE ticket_id = ${ticketId}::uuid AND status = 'PENDING'
          AND expires_at <= clock_timestamp()`;
        const [offer] = await tx.$queryRaw<TicketTransferOffer[]>`
        INSERT INTO ticket_transfer_offers AS o
          (id, ticket_id, from_user_id, to_user_id, expires_at, lifetime_ends_at)
        VALUES (uuid_v7(), ${ticketId}::uuid, ${fromUserId}::uuid, ${toUserId}::uuid,
                ${ticket.expiresAt}, ${ticket.lifetimeEndsAt})
        ON CONFLICT (ticket_id) WHERE status = 'PENDING' DO NOTHING
        RETURNING ${offerColumns}`;
        if (offer) return { status: 'offered', offer } as const;
        // The same offer again (a retry after a lost answer, a second press): answered with
        // the one pending, unchanged. To anyone else, the ticket is pending.
        const [same] = await tx.$queryRaw<TicketTransferOffer[]>`
        SELECT ${offerColumns}
        FROM ticket_transfer_offers o
        WHERE o.ticket_id = ${ticketId}::uuid AND o.status = 'PENDING'
          AND o.from_user_id = ${fromUserId}::uuid AND o.to_user_id = ${toUserId}::uuid`;
        return same
          ? ({ status: 'offered', offer: same } as const)
          : ({ status: 'pending' } as const);
      }),
    );
  }

  async accept(request: {
    offerId: string;
    toUserId: string;
    perUserCap: number;
  }): Promise<AcceptOutcome> {
    const { offerId, toUserId, perUserCap } = request;
    try {
      return await retryOnConflict(() =>
        this.#prisma.$transaction(
          whileAwaited(async (tx: Prisma.TransactionClient) => {
            const found = await tx.ticketTransferOffer.findFirst({
              where: { id: offerId, toUserId },
            });
            if (!found) return { status: 'notFound' } as const;
            const { ticketId, fromUserId } = found;
            // The receiver's account lock first, shared, as the `tickets_refuse_closed_account`
            // trigger takes it later: a closing of the account, which holds it exclusively
            // while it voids the account's offers, then waits for this acceptance or has
            // already cancelled the offer; never each waiting for the other's row.
            await tx.$executeRaw`SELECT lock_account(${toUserId}::uuid, true)`;
            // Then the ticket's row, as every statement that changes the ticket takes it.
            await tx.$queryRaw`SELECT 1 FROM tickets WHERE id = ${ticketId}::uuid FOR UPDATE`;
            // Unexpired now, by the database's clock once the ticket is this transaction's:
            // not at the transaction's start (now()), which may be before a wait for the
            // ticket past the offer's expiry (the event's start at the latest).
            const taken = await tx.$executeRaw`
              UPDATE ticket_transfer_offers
              SET status = 'ACCEPTED', resolved_at = clock_timestamp()
              WHERE id = ${offerId}::uuid AND status = 'PENDING'
                AND expires_at > clock_timestamp()`;
            if (taken === 0) return this.#unaccepted(tx, offerId);
            const [moved] = await tx.$queryRaw<{ eventId: string }[]>`
              UPDATE tickets
              SET owner_id = ${toUserId}::uuid, code = ticket_code(),
                  token_version = token_version + 1
              WHERE id = ${ticketId}::uuid AND owner_id = ${fromUserId}::uuid
                AND status = 'ACTIVE' AND checked_in_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM closed_accounts WHERE user_id = ${fromUserId}::uuid)
              RETURNING event_id::text AS "eventId"`;
            if (!moved) {
              // Its giver can give it no more: the offer is void, and stays so.
              await tx.ticketTransferOffer.update({
                where: { id: offerId },
                data: { status: 'CANCELLED' },
              });
              const ticket = await tx.ticket.findUnique({ where: { id: ticketId } });
              return { status: 'void', ticket } as const;
            }
            const take = () => tx.$executeRaw`
            INSERT INTO event_allowances AS a (event_id, user_id, tickets)
            VALUES (${moved.eventId}::uuid, ${toUserId}::uuid, 1)
            ON CONFLICT (event_id, user_id) DO UPDATE SET tickets = a.tickets + 1
            WHERE a.tickets + 1 <= ${perUserCap}`;
            // As for a purchase: the receiver's expired holds that the sweeper has not returned
            // yet still count, so they are returned first when they are what stands in the way
            // (their allowance row, then their tiers: the lock order of every transaction).
            const receive = async () =>
              (await take()) > 0 ||
              ((await this.#purchases.expireHolds(
                { eventId: moved.eventId, userId: toUserId },
                tx,
              )) &&
                (await take()) > 0);
            const giveBack = () => tx.$executeRaw`
            UPDATE event_allowances SET tickets = tickets - 1
            WHERE event_id = ${moved.eventId}::uuid AND user_id = ${fromUserId}::uuid AND tickets > 0`;
            // Over the cap, all of it rolls back: the offer stays pending, to accept once
            // the receiver has room.
            if (toUserId < fromUserId) {
              if (!(await receive())) throw new Rollback({ status: 'limitReached' });
              await giveBack();
            } else {
              await giveBack();
              if (!(await receive())) throw new Rollback({ status: 'limitReached' });
            }
            await tx.ticketTransfer.create({ data: { ticketId, fromUserId, toUserId } });
            const ticket = await tx.ticket.findUniqueOrThrow({ where: { id: ticketId } });
            return { status: 'transferred', ticket } as const;
          }),
          { maxWait: 10_000, timeout: 12_000 },
        ),
      );
    } catch (error) {
      if (error instanceof Rollback) return error.outcome;
      throw error;
    }
  }

  /** Why an offer could not be accepted: expired (recorded as such), or settled already. */
  async #unaccepted(tx: Prisma.TransactionClient, offerId: string): Promise<AcceptOutcome> {
    const offer = await this.#expireIfDue(tx, offerId);
    return offer.status === 'EXPIRED'
      ? { status: 'expired' }
      : { status: 'notPending', offer: offer };
  }

  /**
   * The offer as it stands, marked EXPIRED first when it is pending past its expiry, by the
   * database's clock, as an acceptance judges it.
   */
  async #expireIfDue(tx: Prisma.TransactionClient, offerId: string): Promise<TicketTransferOffer> {
    await tx.$executeRaw`
      UPDATE ticket_transfer_offers SET status = 'EXPIRED', resolved_at = clock_timestamp()
      WHERE id = ${offerId}::uuid AND status = 'PENDING' AND expires_at <= clock_timestamp()`;
    return tx.ticketTransferOffer.findUniqueOrThrow({ where: { id: offerId } });
  }

  /**
   * Settles an open offer as DECLINED by its receiver or CANCELLED by its giver. Settling it
   * the same way again answers with it as it is.
   */
  settle(request: {
    offerId: string;
    userId: string;
    as: Extract<TransferOfferStatus, 'DECLINED' | 'CANCELLED'>;
  }): Promise<SettleOutcome> {
    const { offerId, userId, as } = request;
    const party = as === 'DECLINED' ? { toUserId: userId } : { fromUserId: userId };
    return this.#prisma.$transaction(
      whileAwaited(async (tx: Prisma.TransactionClient) => {
        const found = await tx.ticketTransferOffer.findFirst({ where: { id: offerId, ...party } });
        if (!found) return { status: 'notFound' } as const;
        // The offer's row first, then whether it is unexpired, by the database's clock once
        // the row is this transaction's, as an acceptance judges it: not by this process's
        // clock before a wait for the row (an acceptance, a postponement, an account's
        // closing) past the expiry, which would settle an offer that had expired.
        await tx.$queryRaw`SELECT 1 FROM ticket_transfer_offers WHERE id = ${offerId}::uuid FOR UPDATE`;
        const settled = await tx.$executeRaw`
          UPDATE ticket_transfer_offers
          SET status = ${as}::"TransferOfferStatus", resolved_at = clock_timestamp()
          WHERE id = ${offerId}::uuid AND status = 'PENDING' AND expires_at > clock_timestamp()`;
        const offer =
          settled > 0
            ? await tx.ticketTransferOffer.findUniqueOrThrow({ where: { id: offerId } })
            : await this.#expireIfDue(tx, offerId);
        return offer.status === as
          ? ({ status: 'settled', offer } as const)
          : ({ status: 'notPending', offer } as const);
      }),
    );
  }

  /** The open offers of these tickets, one per ticket at most (the partial unique index). */
  async openByTicketIds(ticketIds: readonly string[]): Promise<(TicketTransferOffer | null)[]> {
    const rows = await this.#prisma.ticketTransferOffer.findMany({
      where: { ticketId: { in: [...ticketIds] }, ...open() },
    });
    const byTicket = new Map(rows.map((row) => [row.ticketId, row]));
    return ticketIds.map((id) => byTicket.get(id) ?? null);
  }

  /** A user's open offers, made to them and by them, newest first. */
  async pageByUser(
    userId: string,
    first: number,
    after: OrderPosition | undefined,
  ): Promise<OfferPage> {
    const where = { OR: [{ fromUserId: userId }, { toUserId: userId }], ...open() };
    const [rows, totalCount] = await Promise.all([
      this.#prisma.ticketTransferOffer.findMany({
        where: after ? { AND: [where, olderThan(after)] } : where,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: first + 1,
      }),
      this.#prisma.ticketTransferOffer.count({ where }),
    ]);
    return { offers: rows.slice(0, first), hasNextPage: rows.length > first, totalCount };
  }
}
