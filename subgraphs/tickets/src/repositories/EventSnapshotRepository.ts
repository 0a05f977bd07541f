import { inRequestedOrder, queryableIds } from '@ticketing/platform';
import type { EventSnapshot, Prisma, PrismaClient } from '@ticketing/prisma/tickets';

/** A change the events service's outbox carries: an event's snapshot, or a draft's deletion. */
export type EventChange = EventSnapshotChange | DraftDeletion;

/** An event's status and times at a version of it. */
export interface EventSnapshotChange {
  eventId: string;
  status: 'PUBLISHED' | 'CANCELLED';
  startsAt: Date;
  endsAt: Date | null;
  version: number;
}

/** A draft the events service deleted: it was never on sale, so it has no snapshot. */
export interface DraftDeletion {
  eventId: string;
  deleted: true;
}

/**
 * The locks that naming a tier or door staff of an event takes (TicketRepository's
 * `createTier`, CheckInRepository's `addDoorStaff`), in the order a deletion takes both.
 */
export const tiersLock = (eventId: string) => `tiers:${eventId}`;
export const doorStaffLock = (eventId: string) => `door-staff:${eventId}`;

/**
 * Whether the events service reported the event deleted; asked under one of the locks
 * above, after which no tier or door staff of it can be named.
 */
export async function isDeleted(tx: Prisma.TransactionClient, eventId: string): Promise<boolean> {
  const [row] = await tx.$queryRaw<{ deleted: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM deleted_events WHERE event_id = ${eventId}::uuid) AS deleted`;
  return row?.deleted === true;
}

/** What this service knows of events, as the events service reported them. */
/**
 * How long a showing without an end is taken to last, when judging whether a later start
 * moves the event to a new date or only delays the one under way.
 */
const showingWithoutEndMs = 12 * 60 * 60 * 1000;

/**
 * Whether a change moves the event to a new date: its start at or after the old showing's
 * end (12 hours after the old start when it had none). A start delayed within the showing
 * (doors open, the act late) keeps the admissions: those people are inside, and undoing
 * their admissions would let their codes in a second time.
 */
function isPostponement(
  previous: { startsAt: Date; endsAt: Date | null },
  change: { startsAt: Date },
): boolean {
  const oldEnd = previous.endsAt ?? new Date(previous.startsAt.getTime() + showingWithoutEndMs);
  return change.startsAt > previous.startsAt && change.startsAt >= oldEnd;
}

export class EventSnapshotRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  async findByEventIds(eventIds: readonly string[]): Promise<(EventSnapshot | null)[]> {
    const snapshots = await this.#prisma.eventSnapshot.findMany({
      where: { eventId: { in: queryableIds(eventIds) } },
    });
    return inRequestedOrder(eventIds, snapshots, (snapshot) => snapshot.eventId);
  }

  /**
   * Applies changes in one transaction. Each is an upsert that only ever moves an event's
   * snapshot to a higher version: a repeated or late delivery changes nothing. The change
   * that cancels an event also cancels its active tickets and holds, refunds its orders
   * (the `refund_event_orders` function), and empties its tiers and allowances, in the
   * same transaction, so that happens exactly once.
   *
   * The upsert waits for every purchase and hold in flight that locked the snapshot
   * (PurchaseRepository's `FOR SHARE`), and the cascade's statements come after it, so
   * they see those sales; a sale that comes later finds the event cancelled. The cascade
   * takes its locks in the purchases' order (tickets, holds, allowances, then tiers). A
   * change that leaves the event published offers its tiers' free stock to their waitlists,
   * as every return of stock does: an event postponed while under way is on sale again, and
   * what came back while it was not goes to the queue before anyone else can buy it.
   *
   * A change that moves a published event to a new date (a postponement: see
   * `isPostponement`) undoes every admission of its tickets first, in the same transaction
   * (tickets are locked before the tiers, as everywhere): they were for the old date. A
   * redelivery resets nothing again.
   *
   * A draft's deletion (`deleteDraft`) is recorded, and takes what was named for the draft
   * with it, in the same transaction.
   */
  async apply(changes: EventChange[]): Promise<void> {
    await this.#prisma.$transaction(async (tx) => {
      for (const change of changes) {
        if ('deleted' in change) {
          await deleteDraft(tx, change.eventId);
          continue;
        }
        // The snapshot as it was, locked until the change commits: whether the change moves
        // the start later is judged against the one it replaces.
        const [previous] = await tx.$queryRaw<{ startsAt: Date; endsAt: Date | null }[]>`
          SELECT starts_at AS "startsAt", ends_at AS "endsAt" FROM event_snapshots
          WHERE event_id = ${change.eventId}::uuid FOR UPDATE`;
        const applied = await tx.$queryRaw<{ status: string }[]>`
          INSERT INTO event_snapshots (event_id, status, starts_at, ends_at, version, updated_at)
          VALUES (${change.eventId}::uuid, ${change.status}::"EventStatus", ${change.startsAt},
                  ${change.endsAt}, ${change.version}, now())
          ON CONFLICT (event_id) DO UPDATE SET
            status = EXCLUDED.status, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
            version = EXCLUDED.version, updated_at = now()
          WHERE event_snapshots.version < EXCLUDED.version
          RETURNING status::text`;
        if (applied[0]) {
          // An offer to transfer a ticket ends at the earlier of its own lifetime's end and
          // the event's start, which moves either way: brought forward, an offer ends at the
          // new start; postponed, one that ended at the old start runs to its own end or the
          // new start. Only an open offer moves (by the database's clock): one the old start
          // already expired stays over. One whose lifetime is not known (made before it was
          // kept) is only ever brought forward. An offer being made waits for this change (it
          // reads the snapshot `FOR SHARE`), so it is either here to be moved or reads the
          // new start; an acceptance waits for the offer's row, then judges the new expiry.
          await tx.$executeRaw`
            UPDATE ticket_transfer_offers o
            SET expires_at = least(coalesce(o.lifetime_ends_at, o.expires_at), ${change.startsAt})
            FROM tickets t
            WHERE t.id = o.ticket_id AND t.event_id = ${change.eventId}::uuid
              AND o.status = 'PENDING' AND o.expires_at > clock_timestamp()
              AND o.expires_at <> least(coalesce(o.lifetime_ends_at, o.expires_at), ${change.startsAt})`;
        }
        if (applied[0]?.status === 'PUBLISHED' && previous && isPostponement(previous, change)) {
          // Postponed: the admissions made for the old date no longer count. Each is undone
          // and recorded as the system's (no staff member, the reason) in the same statement;
          // a scan racing it either committed first and is undone here, or admits after it.
          await tx.$executeRaw`
            WITH reset AS (
              UPDATE tickets SET checked_in_at = NULL, checked_in_by = NULL
              WHERE event_id = ${change.eventId}::uuid AND checked_in_at IS NOT NULL
              RETURNING id, event_id
            )
            INSERT INTO check_ins (id, ticket_id, event_id, action, staff_id, reason, scanned_at)
            SELECT gen_random_uuid(), id, event_id, 'UNDO', NULL, 'EVENT_POSTPONED', now() FROM reset`;
          // An offline door's scans from before now, uploaded later, admit nothing either.
          await tx.$executeRaw`
            UPDATE event_snapshots SET admissions_reset_at = now()
            WHERE event_id = ${change.eventId}::uuid`;
        }
        if (applied[0]?.status === 'PUBLISHED') {
          // An event moved back on sale (postponed while under way) may have stock that came
          // back while it was not, which nobody was offered: its queues are served first.
          await tx.$queryRaw`
            SELECT offer_waitlist(t.id) FROM ticket_tiers t
            WHERE t.event_id = ${change.eventId}::uuid AND EXISTS (
              SELECT 1 FROM waitlist_entries e WHERE e.tier_id = t.id AND e.status = 'WAITING')
            ORDER BY t.id`;
        }
        if (applied[0]?.status === 'CANCELLED') {
          // Cancels its active tickets and refunds every order of them, once: a redelivery
          // applies nothing (the version above), and no ticket is refunded twice.
          await tx.$executeRaw`SELECT refund_event_orders(${change.eventId}::uuid)`;
          await tx.$executeRaw`
            UPDATE holds SET status = 'EXPIRED'
            WHERE status = 'ACTIVE' AND tier_id IN (SELECT id FROM ticket_tiers WHERE event_id = ${change.eventId}::uuid)`;
          await tx.$executeRaw`DELETE FROM event_allowances WHERE event_id = ${change.eventId}::uuid`;
          await tx.$executeRaw`
            UPDATE ticket_tiers SET sold = 0, held = 0, updated_at = now()
            WHERE event_id = ${change.eventId}::uuid`;
          // The waitlist ends with the event. A return of stock that locked a tier before
          // this transaction reached it has committed by now, its offers included: they are
          // withdrawn here (their stock is already counted out above). A served entry closed
          // when its buyer queued again (`requeued`, shown as OFFERED) ends as an open one.
          await tx.$executeRaw`
            UPDATE waitlist_entries SET status = 'CANCELLED', waiting = 0, updated_at = now()
            WHERE event_id = ${change.eventId}::uuid
              AND (status IN ('WAITING', 'OFFERED') OR (status = 'LEFT' AND requeued))`;
          await tx.$executeRaw`
            UPDATE holds SET status = 'EXPIRED'
            WHERE status = 'ACTIVE' AND tier_id IN (SELECT id FROM ticket_tiers WHERE event_id = ${change.eventId}::uuid)`;
          await tx.$executeRaw`DELETE FROM event_allowances WHERE event_id = ${change.eventId}::uuid`;
        }
      }
    });
  }
}

/**
 * Records a draft's deletion and removes what was named for it: its tiers and door staff.
 * A draft was never on sale, so no ticket, hold or waitlist entry names its tiers. Taken
 * under the locks that naming them takes: one that came first is removed here, and one that
 * comes after finds the deletion and is refused. A redelivery finds nothing more to remove.
 */
async function deleteDraft(tx: Prisma.TransactionClient, eventId: string): Promise<void> {
  for (const lock of [tiersLock(eventId), doorStaffLock(eventId)]) {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${lock}, 0))`;
  }
  await tx.$executeRaw`
    INSERT INTO deleted_events (event_id) VALUES (${eventId}::uuid) ON CONFLICT DO NOTHING`;
  await tx.$executeRaw`DELETE FROM ticket_tiers WHERE event_id = ${eventId}::uuid`;
  await tx.$executeRaw`DELETE FROM door_staff WHERE event_id = ${eventId}::uuid`;
}
