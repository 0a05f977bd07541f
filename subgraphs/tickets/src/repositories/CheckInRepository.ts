import { queryableIds, whileAwaited } from '@ticketing/platform';
import { type DoorStaff, Prisma, type PrismaClient } from '@ticketing/prisma/tickets';
import { doorStaffLock, isDeleted } from './EventSnapshotRepository.ts';

/** Which ticket a scan names: its code, or its id and the token version a QR token carries. */
export type ScannedTicket = { code: string } | { ticketId: string; version: number };

/** What is known of a scanned ticket when its scan did not admit it. */
export interface TicketAtDoor {
  id: string;
  eventId: string;
  status: 'ACTIVE' | 'CANCELLED';
  tokenVersion: number;
  /** The token version at an offline scan's time; the current one for a scan online. */
  tokenVersionThen: number;
  checkedInAt: Date | null;
  /** When a postponement last undid the event's admissions, if one did. */
  admissionsResetAt: Date | null;
}

export interface Admission {
  ticketId: string;
  checkedInAt: Date;
}

/** What a scan did: its admission, or, when it made none, the admission it found, if any. */
export type ScanOutcome =
  | { admission: Admission }
  | { admission: null; foundAdmittedAt: Date | null };

export interface CheckInCounts {
  checkedIn: number;
  total: number;
}

/**
 * The token version a ticket had at `at`: each transfer raised it by one, and is recorded
 * with its time in `ticket_transfers`.
 */
const versionAt = (at: Date) => Prisma.sql`(1 + (
  SELECT count(*)::int FROM ticket_transfers tt
  WHERE tt.ticket_id = tickets.id AND tt.transferred_at <= ${at}::timestamptz))`;

/**
 * The scanned ticket: by its code, or by a token of its current version. An offline scan
 * (`scannedAt` given) also admits with the token the ticket had when it was scanned: a
 * transfer committed after the door admitted its holder does not undo that admission.
 */
const ticketCondition = (ticket: ScannedTicket, scannedAt?: Date) =>
  'code' in ticket
    ? Prisma.sql`code = ${ticket.code}`
    : scannedAt
      ? Prisma.sql`id = ${ticket.ticketId}::uuid AND (token_version = ${ticket.version}
          OR (token_version > ${ticket.version} AND ${versionAt(scannedAt)} = ${ticket.version}))`
      : Prisma.sql`id = ${ticket.ticketId}::uuid AND token_version = ${ticket.version}`;

/** Door staff and admissions: the code in this service that reads and writes check-ins. */
export class CheckInRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  /** Whether the user is door staff of each event, in the order asked: a DataLoader batch. */
  async staffOf(userId: string, eventIds: readonly string[]): Promise<boolean[]> {
    const staffed = await this.#prisma.doorStaff.findMany({
      where: { userId, eventId: { in: [...new Set(eventIds)] } },
      select: { eventId: true },
    });
    const events = new Set(staffed.map((row) => row.eventId));
    return eventIds.map((eventId) => events.has(eventId));
  }

  /**
   * Names a user door staff; naming them again changes nothing. `tooMany` when the event has
   * `maxStaff` door staff already, and `eventDeleted` when the events service reported it
   * deleted, and nothing is written: an event's namings take one lock of the event's, so
   * two of them at once are counted one after the other.
   */
  addDoorStaff(
    eventId: string,
    userId: string,
    addedBy: string,
    maxStaff: number,
  ): Promise<DoorStaff | 'tooMany' | 'eventDeleted'> {
    return this.#prisma.$transaction(
      whileAwaited(async (tx: Prisma.TransactionClient) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${doorStaffLock(eventId)}, 0))`;
        // A draft deleted since the events service was asked: its deletion took this lock.
        if (await isDeleted(tx, eventId)) return 'eventDeleted';
        const named = await tx.doorStaff.findUnique({
          where: { eventId_userId: { eventId, userId } },
        });
        if (named) return named;
        if ((await tx.doorStaff.count({ where: { eventId } })) >= maxStaff) return 'tooMany';
        return tx.doorStaff.create({ data: { eventId, userId, addedBy } });
      }),
    );
  }

  /**
   * Removes a user from the event's door staff; false when they were not. Rolled back when
   * the client stopped waiting (whileAwaited), so that its retry removes them, not `false`.
   */
  removeDoorStaff(eventId: string, userId: string): Promise<boolean> {
    return this.#awaited(
      async (tx) => (await tx.doorStaff.deleteMany({ where: { eventId, userId } })).count > 0,
    );
  }

  /** When the event's first tier was made: none of its tickets can be older. Null without tiers. */
  async salesOpenedAt(eventId: string): Promise<Date | null> {
    const first = await this.#prisma.ticketTier.aggregate({
      where: { eventId },
      _min: { createdAt: true },
    });
    return first._min.createdAt;
  }

  /** Each event's door staff, first named first: a DataLoader batch. */
  async staffByEventIds(eventIds: readonly string[]): Promise<DoorStaff[][]> {
    const staff = await this.#prisma.doorStaff.findMany({
      where: { eventId: { in: queryableIds(eventIds) } },
      orderBy: [{ addedAt: 'asc' }, { userId: 'asc' }],
    });
    const byEvent = Map.groupBy(staff, (member) => member.eventId);
    return eventIds.map((id) => byEvent.get(id) ?? []);
  }

  /**
   * Admits a ticket of `eventId` unless it is cancelled or admitted already, and records the
   * admission, in one statement. The condition is in the update, so of any number of doors
   * scanning one ticket at once exactly one is admitted: the others wait for its row lock,
   * then find it admitted. An offline scan (`scannedAt` given) also wins over an admission
   * scanned later than itself: the first scan by scan time is the one that stands. In a
   * transaction that is rolled back when the client stopped waiting (whileAwaited): a door
   * told SERVICE_UNAVAILABLE scans again, and is then admitted, not ALREADY_CHECKED_IN.
   * A scan that admits nothing also says when the ticket was admitted as the same statement
   * saw it: an undo committed since does not leave it refused with no time.
   */
  async admit(
    ticket: ScannedTicket,
    eventId: string,
    staffId: string,
    scannedAt?: Date,
  ): Promise<ScanOutcome> {
    const at = scannedAt ? Prisma.sql`${scannedAt}::timestamptz` : Prisma.sql`now()`;
    // An offline scan from before the event was postponed (to the millisecond the reset is
    // stored with) was for the old date.
    const free = scannedAt
      ? Prisma.sql`(checked_in_at IS NULL OR checked_in_at > ${scannedAt}::timestamptz)
          AND NOT EXISTS (SELECT 1 FROM event_snapshots s WHERE s.event_id = tickets.event_id
            AND s.admissions_reset_at >= ${scannedAt}::timestamptz)`
      : Prisma.sql`checked_in_at IS NULL`;
    const [row] = await this.#awaited(
      (tx) => tx.$queryRaw<(Admission & { admitted: boolean })[]>`
      WITH admitted AS (
        UPDATE tickets SET checked_in_at = ${at}, checked_in_by = ${staffId}::uuid
        WHERE ${ticketCondition(ticket, scannedAt)} AND event_id = ${eventId}::uuid
          AND status = 'ACTIVE' AND ${free}
        RETURNING id, event_id, checked_in_at
      ), recorded AS (
        INSERT INTO check_ins (id, ticket_id, event_id, action, staff_id, scanned_at, offline)
        SELECT gen_random_uuid(), id, event_id, 'ADMIT', ${staffId}::uuid, checked_in_at, ${scannedAt !== undefined}
        FROM admitted
      )
      SELECT id::text AS "ticketId", checked_in_at AS "checkedInAt", true AS admitted FROM admitted
      UNION ALL
      SELECT id::text, checked_in_at, false FROM tickets
      WHERE ${ticketCondition(ticket, scannedAt)} AND event_id = ${eventId}::uuid
        AND NOT EXISTS (SELECT 1 FROM admitted)`,
    );
    if (row?.admitted)
      return { admission: { ticketId: row.ticketId, checkedInAt: row.checkedInAt } };
    return { admission: null, foundAdmittedAt: row?.checkedInAt ?? null };
  }

  /**
   * Undoes a ticket's admission and records who undid it; null when it was not admitted.
   * Rolled back when the client stopped waiting, as an admission is.
   */
  async undo(ticketId: string, eventId: string, staffId: string): Promise<string | null> {
    const [undone] = await this.#awaited(
      (tx) => tx.$queryRaw<{ id: string }[]>`
      WITH undone AS (
        UPDATE tickets SET checked_in_at = NULL, checked_in_by = NULL
        WHERE id = ${ticketId}::uuid AND event_id = ${eventId}::uuid AND checked_in_at IS NOT NULL
        RETURNING id, event_id
      ), recorded AS (
        INSERT INTO check_ins (id, ticket_id, event_id, action, staff_id, scanned_at)
        SELECT gen_random_uuid(), id, event_id, 'UNDO', ${staffId}::uuid, now() FROM undone
      )
      SELECT id::text FROM undone`,
    );
    return undone?.id ?? null;
  }

  /**
   * One statement in a transaction of its own that ends with the check that the client is
   * still waiting: the statement's row locks are held until then, so its race guarantees
   * stand, and what it wrote (the check_ins row with it) is kept or rolled back whole.
   */
  #awaited<T>(statement: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
    return this.#prisma.$transaction(whileAwaited(statement));
  }

  /**
   * The state of a scanned ticket whatever its event, to say why it was not admitted. Given
   * an offline scan's time, `tokenVersionThen` is the version its token had then.
   */
  async find(
    ticket: { code: string } | { ticketId: string },
    scannedAt?: Date,
  ): Promise<TicketAtDoor | null> {
    const then = scannedAt ? versionAt(scannedAt) : Prisma.sql`token_version`;
    const [found] = await this.#prisma.$queryRaw<TicketAtDoor[]>`
      SELECT id::text, event_id::text AS "eventId", status::text, token_version AS "tokenVersion",
             ${then} AS "tokenVersionThen", checked_in_at AS "checkedInAt",
             (SELECT s.admissions_reset_at FROM event_snapshots s WHERE s.event_id = tickets.event_id)
               AS "admissionsResetAt"
      FROM tickets WHERE ${'code' in ticket ? Prisma.sql`code = ${ticket.code}` : Prisma.sql`id = ${ticket.ticketId}::uuid`}`;
    return found ?? null;
  }

  /** Each event's active tickets and how many of them are admitted: one statement a batch. */
  async countsByEventIds(eventIds: readonly string[]): Promise<CheckInCounts[]> {
    const rows = await this.#prisma.$queryRaw<
      { eventId: string; checkedIn: number; total: number }[]
    >`
      SELECT event_id::text AS "eventId",
             (count(*) FILTER (WHERE checked_in_at IS NOT NULL))::int AS "checkedIn",
             count(*)::int AS total
      FROM tickets
      WHERE event_id = ANY(${queryableIds(eventIds)}::uuid[]) AND status = 'ACTIVE'
      GROUP BY event_id`;
    const byEvent = new Map(rows.map((row) => [row.eventId, row]));
    return eventIds.map((id) => {
      const row = byEvent.get(id);
      return { checkedIn: row?.checkedIn ?? 0, total: row?.total ?? 0 };
    });
  }
}
