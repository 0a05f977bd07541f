import { forbidden, type Identity, unauthenticated } from '@ticketing/auth';
import { badUserInput, isUuid, parseInput } from '@ticketing/platform';
import type { DoorStaff } from '@ticketing/prisma/tickets';
import DataLoader from 'dataloader';
import type { JWK } from 'jose';
import { againWhileChanged, failure, unlessClosed } from '../errors.ts';
import type {
  CheckInRepository,
  ScannedTicket,
  TicketAtDoor,
} from '../repositories/CheckInRepository.ts';
import { emailSchema, offlineScansSchema, scannedCodeSchema } from '../validation.ts';
import { type EventOwnership, eventNotFound } from './EventOwnership.ts';
import type { TicketTokens } from './TicketTokens.ts';
import type { UserDirectory } from './UserDirectory.ts';

/** Why a scan did not admit, as `extensions.code` online and as `outcome` in an upload. */
export type Refusal =
  | 'ALREADY_CHECKED_IN'
  | 'TICKET_NOT_FOUND'
  | 'WRONG_EVENT'
  | 'TICKET_CANCELLED'
  | 'TOKEN_REVOKED'
  | 'INVALID_TOKEN';

/**
 * An offline scan's refusals: those of a scan online, and one made before the event was
 * postponed (an admission for the old date), which only an upload can be.
 */
export type OfflineRefusal = Refusal | 'EVENT_POSTPONED';

export interface OfflineScanResult {
  index: number;
  outcome: 'ADMITTED' | OfflineRefusal;
  ticketId: string | null;
  /** The admission that stands for the ticket: the first scan by scan time. */
  checkedInAt: Date | null;
}

const refusalMessages: Record<Refusal, string> = {
  ALREADY_CHECKED_IN: 'This ticket was admitted already.',
  TICKET_NOT_FOUND: 'No ticket has this code.',
  WRONG_EVENT: 'This ticket is for another event.',
  TICKET_CANCELLED: 'This ticket is cancelled.',
  TOKEN_REVOKED: 'This QR code was replaced (the ticket was transferred); scan the new one.',
  INVALID_TOKEN: 'This QR code is not a ticket of this event.',
};

/** Door staff an event may have unless MAX_DOOR_STAFF_PER_EVENT says otherwise. */
export const defaultMaxDoorStaffPerEvent = 200;

/** A QR token is a compact JWS: three base64url parts. A code is one. */
const looksLikeToken = (scanned: string) => scanned.split('.').length === 3;

/**
 * The door: who may scan an event's tickets, admissions online and from offline devices,
 * their undoing, and what the event shows of them.
 */
export class CheckInService {
  readonly #checkIns: CheckInRepository;
  readonly #tokens: TicketTokens;
  readonly #ownership: EventOwnership;
  readonly #directory: UserDirectory;
  readonly #staffBatches = new WeakMap<Identity, DataLoader<string, boolean>>();
  readonly #maxDoorStaff: number;

  constructor(deps: {
    checkIns: CheckInRepository;
    tokens: TicketTokens;
    ownership: EventOwnership;
    directory: UserDirectory;
    /**
     * The most door staff one event may have.
     * @default defaultMaxDoorStaffPerEvent
     */
    maxDoorStaffPerEvent?: number;
  }) {
    this.#maxDoorStaff = deps.maxDoorStaffPerEvent ?? defaultMaxDoorStaffPerEvent;
    this.#checkIns = deps.checkIns;
    this.#tokens = deps.tokens;
    this.#ownership = deps.ownership;
    this.#directory = deps.directory;
  }

  get tokens(): TicketTokens {
    return this.#tokens;
  }

  async addDoorStaff(viewer: Identity | null, eventId: string, email: string): Promise<DoorStaff> {
    const organizer = await this.assertOrganizer(viewer, eventId, 'eventId');
    const address = parseInput(emailSchema, email, 'email');
    const userId = await this.#directory.idByEmail(address, organizer);
    const noAccount = () =>
      failure('USER_NOT_FOUND', 'No account has this email.', { field: 'email' });
    if (!userId) throw noAccount();
    const staff = await unlessClosed(
      this.#checkIns.addDoorStaff(eventId, userId, organizer.userId, this.#maxDoorStaff),
      noAccount,
    );
    if (staff === 'eventDeleted') throw eventNotFound(eventId, 'eventId');
    if (staff === 'tooMany') {
      throw failure(
        'TOO_MANY_DOOR_STAFF',
        `An event has at most ${this.#maxDoorStaff} door staff; remove one first.`,
        { maxDoorStaffPerEvent: this.#maxDoorStaff },
      );
    }
    return staff;
  }

  async removeDoorStaff(viewer: Identity | null, eventId: string, userId: string) {
    await this.assertOrganizer(viewer, eventId, 'eventId');
    return isUuid(userId) && (await this.#checkIns.removeDoorStaff(eventId, userId));
  }

  /** Admits the ticket with this code or QR token, once; anything else is a refusal. */
  async checkIn(viewer: Identity | null, scanned: string, eventId: string) {
    const staff = await this.assertDoor(viewer, eventId, 'eventId');
    const code = parseInput(scannedCodeSchema, scanned, 'code');
    const ticket = await this.#scannedTicket(code, eventId);
    if ('refusal' in ticket) throw refused(ticket.refusal);
    return againWhileChanged(async () => {
      const scanned = await this.#checkIns.admit(ticket, eventId, staff.userId);
      if (scanned.admission) return scanned.admission;
      const found = await this.#checkIns.find(ticket);
      const { refusal, checkedInAt } = refusalOf(found, ticket, eventId);
      if (refusal !== 'ALREADY_CHECKED_IN') throw refused(refusal, checkedInAt);
      // Admitted when the scan's update ran, and its check-in undone since: the admission
      // that update found. None seen (one admitted and undone in that moment): again.
      const admittedAt = checkedInAt ?? scanned.foundAdmittedAt;
      if (!admittedAt) return undefined;
      throw refused(refusal, admittedAt);
    });
  }

  async undoCheckIn(viewer: Identity | null, ticketId: string, eventId: string) {
    const staff = await this.assertDoor(viewer, eventId, 'eventId');
    const undone = isUuid(ticketId) && (await this.#checkIns.undo(ticketId, eventId, staff.userId));
    if (undone) return undone;
    const found = isUuid(ticketId) ? await this.#checkIns.find({ ticketId }) : null;
    if (!found || found.eventId !== eventId) throw refused('TICKET_NOT_FOUND', null, 'ticketId');
    throw failure('NOT_CHECKED_IN', 'This ticket is not admitted.');
  }

  /**
   * Applies an offline door's scans in scan-time order: the first scan of a ticket admits
   * it (even over an admission made online later than that scan), and every other is
   * reported with the reason. A token is judged as it was at its scan: one scanned before
   * its ticket was transferred admits, since its holder was let in while it was theirs.
   * Results come back in the order of the upload.
   */
  async uploadCheckIns(
    viewer: Identity | null,
    eventId: string,
    scans: unknown,
  ): Promise<OfflineScanResult[]> {
    const staff = await this.assertDoor(viewer, eventId, 'eventId');
    const parsed = parseInput(offlineScansSchema, scans, 'scans');
    // A door's clock may run a little ahead of the server's, and be an hour behind (a time
    // zone or daylight-saving slip), but no ticket can be scanned before its event's
    // tickets went on sale (its first tier), nor in the future.
    const now = Date.now();
    const latest = now + 5 * 60_000;
    const opened = (await this.#checkIns.salesOpenedAt(eventId))?.getTime() ?? now;
    const earliest = opened - 60 * 60_000;
    for (const [index, scan] of parsed.entries()) {
      const at = scan.scannedAt.getTime();
      if (at > latest) {
        throw badUserInput('A scan cannot be in the future.', `scans[${index}].scannedAt`);
      }
      if (at < earliest) {
        throw badUserInput(
          `scans[${index}].scannedAt cannot be before the event's tickets went on sale (${new Date(opened).toISOString()}).`,
          `scans[${index}].scannedAt`,
        );
      }
    }
    const order = [...parsed.keys()].sort(
      (a, b) =>
        (parsed[a]?.scannedAt.getTime() ?? 0) - (parsed[b]?.scannedAt.getTime() ?? 0) || a - b,
    );
    const results: OfflineScanResult[] = [];
    // One at a time, first scan first: a later scan of the same ticket sees the earlier one.
    for (const index of order) {
      const scan = parsed[index] as (typeof parsed)[number];
      const ticket = await this.#scannedTicket(scan.token, eventId, true);
      if ('refusal' in ticket) {
        results.push({ index, outcome: ticket.refusal, ticketId: null, checkedInAt: null });
        continue;
      }
      const { admission } = await this.#checkIns.admit(
        ticket,
        eventId,
        staff.userId,
        scan.scannedAt,
      );
      if (admission) {
        results.push({ index, outcome: 'ADMITTED', ...admission });
        continue;
      }
      const found = await this.#checkIns.find(ticket, scan.scannedAt);
      const { refusal, checkedInAt } = offlineRefusalOf(found, ticket, eventId, scan.scannedAt);
      results.push({ index, outcome: refusal, ticketId: found?.id ?? null, checkedInAt });
    }
    return results.sort((a, b) => a.index - b.index);
  }

  /** The event's public keys for its QR tokens: for its door staff, organizer and admins. */
  async ticketKeys(viewer: Identity | null, eventId: string): Promise<JWK[]> {
    await this.assertDoor(viewer, eventId);
    return this.#tokens.publicKeys(eventId);
  }

  /**
   * Its door staff, organizer or an admin; anyone else is refused. Returns the caller. An
   * event not found names `field`, when the client gave its id as that argument.
   */
  async assertDoor(viewer: Identity | null, eventId: string, field?: string): Promise<Identity> {
    const caller = signedIn(viewer, 'Log in to scan tickets.');
    if (!isUuid(eventId)) throw eventNotFound(eventId, field);
    if (caller.role === 'ADMIN') return caller;
    // An organizer's question to the events service is asked at once, beside the door staff
    // lookup, so that a page of events asks it in one call (EventOwnership) rather than one
    // an event as each lookup returns. Door staff pass without its answer: they scan while
    // the events service is away.
    const organizer =
      caller.role === 'ORGANIZER' ? this.#ownership.organizerOf(eventId, caller, field) : undefined;
    organizer?.catch(() => undefined);
    if (await this.#staffBatchOf(caller).load(eventId)) return caller;
    if (organizer && (await organizer) === caller.userId) return caller;
    throw forbidden('Only the event’s door staff, its organizer and admins scan its tickets.');
  }

  /**
   * Whether the caller is door staff of the events one request asks about in one tick, as
   * one statement. A request's caller is its own object (the subgraph reads it from the
   * request's assertion), so a batch never mixes two requests. Nothing is cached.
   */
  #staffBatchOf(caller: Identity): DataLoader<string, boolean> {
    let batch = this.#staffBatches.get(caller);
    if (!batch) {
      batch = new DataLoader((eventIds) => this.#checkIns.staffOf(caller.userId, eventIds), {
        cache: false,
        maxBatchSize: 500,
      });
      this.#staffBatches.set(caller, batch);
    }
    return batch;
  }

  /**
   * The event's organizer or an admin; anyone else is refused. Returns the caller. An event
   * not found names `field`, when the client gave its id as that argument.
   */
  assertOrganizer(viewer: Identity | null, eventId: string, field?: string): Promise<Identity> {
    signedIn(viewer, 'Log in to see or name an event’s door staff.');
    return this.#ownership.requireOrganizer(
      viewer,
      eventId,
      'Only the event’s organizer and admins name its door staff.',
      field,
    );
  }

  /** The ticket a scan names, or why it names none. A token must be one. */
  async #scannedTicket(
    scanned: string,
    eventId: string,
    tokenOnly = false,
  ): Promise<ScannedTicket | { refusal: Refusal }> {
    if (!tokenOnly && !looksLikeToken(scanned)) return { code: scanned };
    const verified = await this.#tokens.verify(scanned, eventId);
    if ('problem' in verified) {
      return { refusal: verified.problem === 'otherEvent' ? 'WRONG_EVENT' : 'INVALID_TOKEN' };
    }
    return { ticketId: verified.claims.ticketId, version: verified.claims.version };
  }
}

/** The caller, or UNAUTHENTICATED saying what logging in is for. */
function signedIn(viewer: Identity | null, message: string): Identity {
  if (!viewer) throw unauthenticated(message, 'required');
  return viewer;
}

/** Why a ticket that was found (or not) was not admitted. */
function refusalOf(
  found: TicketAtDoor | null,
  scanned: ScannedTicket,
  eventId: string,
): { refusal: Refusal; checkedInAt: Date | null } {
  const refusal: Refusal = !found
    ? 'TICKET_NOT_FOUND'
    : found.eventId !== eventId
      ? 'WRONG_EVENT'
      : found.status === 'CANCELLED'
        ? 'TICKET_CANCELLED'
        : 'version' in scanned &&
            scanned.version !== found.tokenVersion &&
            scanned.version !== found.tokenVersionThen
          ? 'TOKEN_REVOKED'
          : 'ALREADY_CHECKED_IN';
  return {
    refusal,
    checkedInAt: refusal === 'ALREADY_CHECKED_IN' ? (found?.checkedInAt ?? null) : null,
  };
}

/**
 * Why an offline scan did not admit: as online, except that a scan of a ticket of the event
 * made before the event was postponed was for the old date (`checkedInAt` is then the
 * admission that stands, at the new date, if any).
 */
function offlineRefusalOf(
  found: TicketAtDoor | null,
  scanned: ScannedTicket,
  eventId: string,
  scannedAt: Date,
): { refusal: OfflineRefusal; checkedInAt: Date | null } {
  const judged = refusalOf(found, scanned, eventId);
  const resetAt = found?.admissionsResetAt;
  return judged.refusal === 'ALREADY_CHECKED_IN' && resetAt && scannedAt <= resetAt
    ? { refusal: 'EVENT_POSTPONED', checkedInAt: judged.checkedInAt }
    : judged;
}

/**
 * The refusals that say the scanned value itself is at fault (it names no ticket, is no
 * ticket's token of this event, or is a token since replaced), rather than what became of
 * the ticket it names: they name the argument, as an email that names no account does.
 */
const aboutTheScan = new Set<Refusal>(['TICKET_NOT_FOUND', 'INVALID_TOKEN', 'TOKEN_REVOKED']);

function refused(refusal: Refusal, checkedInAt?: Date | null, field = 'code') {
  return failure(refusal, refusalMessages[refusal], {
    ...(aboutTheScan.has(refusal) ? { field } : {}),
    ...(checkedInAt ? { checkedInAt: checkedInAt.toISOString() } : {}),
  });
}
