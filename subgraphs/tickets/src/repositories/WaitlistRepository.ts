import { retryOnConflict, whileAwaited } from '@ticketing/platform';
import {
  type Hold,
  Prisma,
  type PrismaClient,
  type WaitlistEntry,
} from '@ticketing/prisma/tickets';

/** A waitlist entry with the buyer's place (null unless WAITING) and open offers. */
export interface QueuedEntry extends WaitlistEntry {
  place: number | null;
  openOffers: Hold[];
}

export type JoinOutcome =
  | { status: 'joined'; entry: QueuedEntry }
  | { status: 'salesClosed' }
  /** The tier's own sales window is closed as the join is made. */
  | { status: 'windowClosed'; salesStartAt: Date | null; salesEndAt: Date | null }
  | { status: 'notSoldOut'; available: number }
  | { status: 'alreadyWaiting' }
  | { status: 'tooManyEntries' }
  | { status: 'limitReached' }
  /** The tier was deleted after the caller read it. */
  | { status: 'notFound' };

export interface JoinRequest {
  tierId: string;
  eventId: string;
  userId: string;
  quantity: number;
  perUserCap: number;
  offerSeconds: number;
  /** Live entries (waiting, or with an offer open) the buyer may have, this one included. */
  maxEntries: number;
}

/** How many of a buyer's entries `myWaitlist` shows, newest first. */
const entriesShown = 100;

/**
 * The waitlist. Offers are made by the database function `offer_waitlist` (migration
 * `waitlist`), which every transaction that returns stock calls right after, under the
 * tier's row lock: so after any commit, a tier with someone waiting has no free stock, and
 * nobody outside the queue can buy or hold what comes back.
 *
 * Joining keeps that true: it takes the purchases' lock order (the event's snapshot
 * `FOR SHARE`, expired holds returned through `expire_holds`, which offers them to the
 * queue, then the tier's row `FOR SHARE`) and queues only when the tier has no free stock,
 * so a return of stock in flight either commits first (and the join sees the stock) or
 * waits for the join (and offers to it). The expired holds it returns are offered to the
 * queue (the tier's row, then waiters' allowances), which a waiter's own purchase can meet
 * in a lock cycle: a join rolled back by it runs again (retryOnConflict).
 */
export class WaitlistRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  async join(request: JoinRequest): Promise<JoinOutcome> {
    const { tierId, eventId, userId, quantity } = request;
    return retryOnConflict(() =>
      this.#prisma.$transaction(
        whileAwaited(async (tx: Prisma.TransactionClient): Promise<JoinOutcome> => {
          // One buyer's joins one at a time, so that those at once are counted one by one.
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`waitlist:${userId}`}, 0))`;
          const [snapshot] = await tx.$queryRaw<{ onSale: boolean }[]>`
        SELECT status = 'PUBLISHED' AND starts_at > now() AS "onSale"
        FROM event_snapshots WHERE event_id = ${eventId}::uuid
        FOR SHARE`;
          if (snapshot?.onSale !== true) return { status: 'salesClosed' } as const;
          await tx.$queryRaw`SELECT expire_holds(${tierId}::uuid, NULL, NULL)`;
          const [tier] = await tx.$queryRaw<{ available: number; allowance: number }[]>`
        SELECT t.capacity - t.sold - t.held AS available,
               coalesce((SELECT a.tickets FROM event_allowances a
                         WHERE a.event_id = t.event_id AND a.user_id = ${userId}::uuid), 0) AS allowance
        FROM ticket_tiers t WHERE t.id = ${tierId}::uuid
        FOR SHARE OF t`;
          // Deleted since the caller read it (the deletion locks the row, and only a tier
          // nothing was sold from, which is never sold out, can go).
          if (!tier) return { status: 'notFound' } as const;
          const { available, allowance } = tier;
          // With the tier's row locked, the time: the event not started and the tier's window
          // open by the database's clock now, not at the transaction's start (now()), which
          // may be before a wait for the row past the end of its sales or the event's start.
          const [window] = await tx.$queryRaw<
            {
              onSale: boolean;
              open: boolean;
              salesStartAt: Date | null;
              salesEndAt: Date | null;
            }[]
          >`
        SELECT s.starts_at > clock_timestamp() AS "onSale",
               (t.sales_start_at IS NULL OR t.sales_start_at <= clock_timestamp())
                 AND (t.sales_end_at IS NULL OR t.sales_end_at > clock_timestamp()) AS open,
               t.sales_start_at AS "salesStartAt", t.sales_end_at AS "salesEndAt"
        FROM ticket_tiers t JOIN event_snapshots s ON s.event_id = t.event_id
        WHERE t.id = ${tierId}::uuid`;
          if (window?.onSale !== true) return { status: 'salesClosed' } as const;
          if (!window.open) {
            const { salesStartAt, salesEndAt } = window;
            return { status: 'windowClosed', salesStartAt, salesEndAt } as const;
          }
          if (available > 0) return { status: 'notSoldOut', available } as const;
          if (allowance + quantity > request.perUserCap) return { status: 'limitReached' } as const;
          // One live entry (WAITING or OFFERED) per buyer and tier: the partial unique index
          // of migration `waitlist`, which the previous release's join infers by this same
          // ON CONFLICT clause while its pods still serve. An OFFERED entry whose offers were
          // all bought is served, and stands in nobody's way: it is closed first (LEFT, and
          // `requeued`, so that it shows as OFFERED still), under the tier's row lock, which
          // every offer, purchase, release and expiry of an offer takes. One with an offer
          // open, or lapsed, stays, and the insert below finds it: ALREADY_ON_WAITLIST.
          await tx.$executeRaw`
        UPDATE waitlist_entries e SET status = 'LEFT', requeued = true, updated_at = now()
        WHERE e.tier_id = ${tierId}::uuid AND e.user_id = ${userId}::uuid AND e.status = 'OFFERED'
          AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.waitlist_entry_id = e.id AND h.status <> 'PURCHASED')`;
          // Entries of other tiers that still wait, or have an offer open: a served one (every
          // offer bought) or one that ended stands in no one's way, and so does one of an event
          // that is over (its end, or its start when it has none, has passed): it is offered
          // nothing again, and an event over is never moved back on sale.
          const [{ live }] = await tx.$queryRaw<[{ live: number }]>`
        SELECT count(*)::int AS live FROM waitlist_entries e
        WHERE e.user_id = ${userId}::uuid AND e.tier_id <> ${tierId}::uuid
          AND (e.status = 'WAITING'
               OR (e.status = 'OFFERED' AND EXISTS (
                     SELECT 1 FROM holds h WHERE h.waitlist_entry_id = e.id AND h.status = 'ACTIVE')))
          AND NOT EXISTS (
                SELECT 1 FROM event_snapshots s
                WHERE s.event_id = e.event_id AND coalesce(s.ends_at, s.starts_at) <= now())`;
          if (live >= request.maxEntries) return { status: 'tooManyEntries' } as const;
          const [entry] = await tx.$queryRaw<(WaitlistEntry & { place: number })[]>`
        INSERT INTO waitlist_entries AS e
          (id, tier_id, event_id, user_id, quantity, waiting, per_user_cap, offer_seconds, updated_at)
        VALUES (uuid_v7(), ${tierId}::uuid, ${eventId}::uuid, ${userId}::uuid, ${quantity},
                ${quantity}, ${request.perUserCap}, ${request.offerSeconds}, now())
        ON CONFLICT (tier_id, user_id) WHERE status IN ('WAITING', 'OFFERED') DO NOTHING
        RETURNING ${entryColumns}, ${placeInLine} AS place`;
          if (!entry) return { status: 'alreadyWaiting' } as const;
          return { status: 'joined', entry: { ...entry, openOffers: [] } } as const;
        }),
      ),
    );
  }

  /**
   * Ends the buyer's live entry for the tier. Offers already made stay theirs (they are
   * holds), and the answer shows them, as `entriesOf` does; the units not yet offered go to
   * the others in line. Rolled back when the client stopped waiting (whileAwaited), so that
   * its retry leaves, not NOT_ON_WAITLIST.
   */
  async leave(tierId: string, userId: string): Promise<QueuedEntry | null> {
    const [entry] = await this.#prisma.$transaction(
      whileAwaited(
        (tx: Prisma.TransactionClient) => tx.$queryRaw<WaitlistEntry[]>`
      UPDATE waitlist_entries AS e SET status = 'LEFT', waiting = 0, updated_at = now()
      WHERE tier_id = ${tierId}::uuid AND user_id = ${userId}::uuid
        AND status IN ('WAITING', 'OFFERED')
      RETURNING ${entryColumns}`,
      ),
    );
    if (!entry) return null;
    const [openOffers] = await this.#openOffers([entry.id]);
    return { ...entry, place: null, openOffers: openOffers ?? [] };
  }

  /** The buyer's entries, newest first, each with its place and open offers: two statements. */
  async entriesOf(userId: string): Promise<QueuedEntry[]> {
    const entries = await this.#prisma.$queryRaw<(WaitlistEntry & { place: number | null })[]>`
      SELECT ${entryColumns}, CASE WHEN e.status = 'WAITING' THEN ${placeInLine} END AS place
      FROM waitlist_entries e
      WHERE e.user_id = ${userId}::uuid
      ORDER BY e.position DESC
      LIMIT ${entriesShown}`;
    const offers = await this.#openOffers(entries.map((entry) => entry.id));
    return entries.map((entry, index) => ({ ...entry, openOffers: offers[index] ?? [] }));
  }

  /** Each entry's offers still open (not bought, released or expired), soonest to end first. */
  async #openOffers(entryIds: readonly string[]): Promise<Hold[][]> {
    const offers = await this.#prisma.hold.findMany({
      where: {
        waitlistEntryId: { in: [...entryIds] },
        status: 'ACTIVE',
        expiresAt: { gt: new Date() },
      },
      orderBy: [{ expiresAt: 'asc' }, { id: 'asc' }],
    });
    const byEntry = Map.groupBy(offers, (offer) => offer.waitlistEntryId);
    return entryIds.map((id) => byEntry.get(id) ?? []);
  }
}

/** A waiting entry's place (alias `e`): 1 + the entries waiting ahead of it. */
const placeInLine = Prisma.raw(`(
  SELECT count(*)::int + 1 FROM waitlist_entries w
  WHERE w.tier_id = e.tier_id AND w.status = 'WAITING' AND w.position < e.position)`);

/** A waitlist row as Prisma's model names it (alias `e`). */
const entryColumns = Prisma.raw(`
  e.id::text, e.position, e.tier_id::text AS "tierId", e.event_id::text AS "eventId",
  e.user_id::text AS "userId", e.quantity, e.waiting, e.status::text, e.requeued,
  e.per_user_cap AS "perUserCap", e.offer_seconds AS "offerSeconds",
  e.created_at AS "createdAt", e.updated_at AS "updatedAt"`);
