import { type Identity, requireOwnerOrAdmin, requireRole, unauthenticated } from '@ticketing/auth';
import {
  badUserInput,
  endOf,
  hasEnded,
  idempotencyKeySchema,
  isUuid,
  notFound,
  parseInput,
  requestHash,
  violatedCheck,
} from '@ticketing/platform';
import type { Event, EventStatus, Prisma } from '@ticketing/prisma/events';
import type { EventOrder, EventPosition } from '../cursor.ts';
import { failure } from '../errors.ts';
import { type EventFilter, eventsWhere } from '../filters.ts';
import type {
  EventCreation,
  EventPage,
  EventRepository,
  EventWrite,
} from '../repositories/EventRepository.ts';
import {
  cancellationReasonSchema,
  cityKey,
  createEventSchema,
  durationMessage,
  lastsTooLong,
  maxDurationDays,
  updateEventSchema,
} from '../validation.ts';

/** A change the state machine does not allow: the event's status stays as it was. */
function invalidTransition(event: Event, action: string, message: string) {
  return failure('INVALID_STATE_TRANSITION', message, { status: event.status, action });
}

/**
 * A rule on an event's times, checked on the row read (`assert`) and again in the write's
 * condition (`where`), so that a change of the times committed in between cannot slip past.
 * The write's `now` is the database's clock once the event's row is locked for the write,
 * not the moment the request was read: a write that waited for the row past a boundary (the
 * start, the end) is judged after it. `where` is false when the write must not be made.
 */
interface TimeRule {
  where: (now: Date) => Prisma.EventWhereInput | false;
  assert: (event: Event, now?: Date) => void;
}

/** Only an event that starts in the future is published. */
const startsInFuture: TimeRule = {
  where: (now) => ({ startsAt: { gt: now } }),
  assert(event, now = new Date()) {
    if (event.startsAt <= now) {
      throw failure('EVENT_IN_PAST', 'Only an event that starts in the future can be published.', {
        field: 'startsAt',
      });
    }
  },
};

/** An event that is over is not cancelled: that would refund every ticket of one that took place. */
const notEnded: TimeRule = {
  where: (now) => ({ OR: [{ endsAt: { gt: now } }, { endsAt: null, startsAt: { gt: now } }] }),
  assert(event, now = new Date()) {
    if (hasEnded(event, now)) {
      throw failure('EVENT_ENDED', 'The event is over: it cannot be cancelled.', {
        endedAt: endOf(event).toISOString(),
      });
    }
  },
};

/**
 * A published event's times, changed: it is not over (moved out of the past it would be on
 * sale again, and could be cancelled), and the change does not make it over (a start or an
 * end moved into the past, an end cleared once it has started).
 */
function timesChanged(
  changes: { startsAt?: Date; endsAt?: Date | null },
  moved: 'startsAt' | 'endsAt',
): TimeRule {
  const refusal = (event: Event, now: Date) => {
    if (hasEnded(event, now)) {
      return failure('EVENT_ENDED', 'The event is over: its times cannot be changed.', {
        endedAt: endOf(event).toISOString(),
        field: `input.${moved}`,
      });
    }
    if (changes.startsAt && changes.startsAt <= now) {
      return failure('EVENT_IN_PAST', 'A published event cannot be moved into the past.', {
        field: 'input.startsAt',
      });
    }
    const startsAt = changes.startsAt ?? event.startsAt;
    const endsAt = changes.endsAt === undefined ? event.endsAt : changes.endsAt;
    if (changes.endsAt !== undefined && hasEnded({ startsAt, endsAt }, now)) {
      // Its end moved into the past, or cleared once it has started: an event under way would
      // be over at once, and could no longer be cancelled (and its tickets refunded) nor its
      // times put right.
      return failure('EVENT_IN_PAST', 'A published event cannot be made to end in the past.', {
        field: 'input.endsAt',
      });
    }
    return null;
  };
  return {
    where(now) {
      // What the change sets is judged here; the times it keeps, in the write's condition.
      if (changes.startsAt && changes.startsAt <= now) return false;
      if (changes.endsAt !== undefined && changes.endsAt !== null && changes.endsAt <= now) {
        return false;
      }
      const keptStart = changes.startsAt ? {} : { startsAt: { gt: now } };
      return {
        AND: [
          notEnded.where(now) as Prisma.EventWhereInput,
          // An end cleared leaves the start to end the event.
          changes.endsAt === null ? keptStart : {},
        ],
      };
    },
    assert(event, now = new Date()) {
      const refused = refusal(event, now);
      if (refused) throw refused;
    },
  };
}

/** Drafts and events not over an organizer may have unless MAX_UPCOMING_EVENTS_PER_ORGANIZER says otherwise. */
export const defaultMaxUpcomingEventsPerOrganizer = 1_000;

/** Called on every committed change that queued an outbox message. */
export type OutboxListener = () => void;

/**
 * Called on every committed change to an event others may see (not a draft's edit), before
 * the mutation answers: the gateways' cached responses that hold events are invalidated by then.
 */
export type ChangeListener = (eventId: string) => Promise<void>;

/**
 * The events service's rules: who may do what, and the lifecycle
 * DRAFT → PUBLISHED → CANCELLED, with DRAFT → deleted. Every transition is a conditional
 * write on the current status, so concurrent requests cannot both pass a check.
 */
export class EventService {
  readonly #events: EventRepository;
  readonly #onOutbox: OutboxListener;
  readonly #onChange: ChangeListener;
  readonly #maxUpcoming: number;

  constructor(
    events: EventRepository,
    onOutbox: OutboxListener = () => {},
    onChange: ChangeListener = async () => {},
    /** Drafts and events not over one organizer may have. */
    maxUpcomingEventsPerOrganizer = defaultMaxUpcomingEventsPerOrganizer,
  ) {
    this.#maxUpcoming = maxUpcomingEventsPerOrganizer;
    this.#events = events;
    this.#onOutbox = onOutbox;
    this.#onChange = onChange;
  }

  /** How many published events `viewer` organizes that are not over; 0 when anonymous. */
  publishedEventsNotOver(viewer: Identity | null): Promise<number> {
    return viewer ? this.#events.countPublishedNotOver(viewer.userId) : Promise.resolve(0);
  }

  /**
   * Closes `viewer` as an organizer before their account is deleted: how many published
   * events they organize that are not over, and when none, from now on none of theirs can
   * be published (EventRepository.closeOrganizer).
   */
  closeOrganizer(viewer: Identity | null): Promise<number> {
    if (!viewer) throw unauthenticated('Log in to close your account.', 'required');
    return this.#events.closeOrganizer(viewer.userId);
  }

  /** Undoes closeOrganizer: `viewer`'s account was not deleted after all. */
  async reopenOrganizer(viewer: Identity | null): Promise<boolean> {
    if (!viewer) throw unauthenticated('Log in to reopen your account.', 'required');
    await this.#events.reopenOrganizer(viewer.userId);
    return true;
  }

  /**
   * A page of the events `viewer` may see that match `filter` (validated here): the listing
   * behind `Query.events`.
   */
  list(
    viewer: Identity | null,
    filter: EventFilter | null | undefined,
    order: EventOrder,
    first: number,
    after: EventPosition | undefined,
  ): Promise<EventPage> {
    return this.#events.list(eventsWhere(viewer, filter), order, first, after);
  }

  async create(viewer: Identity | null, input: { idempotencyKey?: string | null }): Promise<Event> {
    const organizer = this.#organizer(viewer);
    const { idempotencyKey, ...fields } = input;
    const keyed =
      idempotencyKey == null
        ? undefined
        : {
            idempotencyKey: parseInput(
              idempotencyKeySchema,
              idempotencyKey,
              'input.idempotencyKey',
            ),
            // What was asked for, as sent: a replay is told apart before the input's rules.
            requestHash: requestHash(fields),
          };
    // A retry is answered first, as a purchase's is: the event its key made stands,
    // whatever became of it since.
    const outcome =
      (keyed &&
        (await this.#events.eventWithKey(
          organizer.userId,
          keyed.idempotencyKey,
          keyed.requestHash,
        ))) ??
      (await this.#newEvent(organizer, fields, keyed));
    switch (outcome.status) {
      case 'created':
      case 'replayed':
        return outcome.event;
      case 'keyInUse':
        throw failure(
          'IDEMPOTENCY_KEY_IN_USE',
          'An event with this idempotency key is in progress; retry it shortly.',
        );
      case 'keyReused':
        throw failure(
          'IDEMPOTENCY_KEY_REUSED',
          'This idempotency key was used for a different event.',
          { field: 'input.idempotencyKey' },
        );
      case 'tooManyEvents':
        throw failure(
          'TOO_MANY_EVENTS',
          `An organizer has at most ${this.#maxUpcoming} events that are drafts or not over; delete a draft first.`,
          { maxUpcomingEventsPerOrganizer: this.#maxUpcoming },
        );
    }
  }

  #newEvent(
    organizer: Identity,
    fields: unknown,
    keyed: { idempotencyKey: string; requestHash: string } | undefined,
  ): Promise<EventCreation> {
    const event = parseInput(createEventSchema, fields, 'input');
    return this.#events.createWithin(
      {
        ...event,
        ...keyed,
        cityKey: cityKey(event.city),
        organizerId: organizer.userId,
        status: 'DRAFT',
      },
      this.#maxUpcoming,
    );
  }

  async update(viewer: Identity | null, id: string, input: unknown): Promise<Event> {
    const event = await this.#editable(viewer, id);
    if (event.status === 'CANCELLED') {
      throw invalidTransition(event, 'update', 'A cancelled event cannot be edited.');
    }
    const changes = parseInput(updateEventSchema, input, 'input');
    const moved =
      changes.startsAt !== undefined ? 'startsAt' : changes.endsAt !== undefined ? 'endsAt' : null;
    // Moved out of the past, an event that took place would be on sale again, and could be
    // cancelled, refunding every ticket of it: its times stay as they were. Checked on the
    // event as read, and again as the change is written.
    const rule = event.status === 'PUBLISHED' && moved ? timesChanged(changes, moved) : undefined;
    if (rule && hasEnded(event)) rule.assert(event);
    const startsAt = changes.startsAt ?? event.startsAt;
    const endsAt = changes.endsAt === undefined ? event.endsAt : changes.endsAt;
    if (endsAt && endsAt <= startsAt) {
      throw badUserInput('input.endsAt must be after startsAt.', 'input.endsAt');
    }
    if (endsAt && lastsTooLong(startsAt, endsAt)) {
      // The field this edit set: an end set too far on, or a start moved too far before it.
      const field = changes.endsAt !== undefined ? 'input.endsAt' : 'input.startsAt';
      throw badUserInput(
        field === 'input.endsAt'
          ? `input.endsAt ${durationMessage}.`
          : `input.startsAt must be at most ${maxDurationDays} days before endsAt.`,
        field,
      );
    }
    rule?.assert(event);
    const write: EventWrite = {
      ...changes,
      ...(changes.city ? { cityKey: cityKey(changes.city) } : {}),
    };
    try {
      return await this.#transition(
        event,
        event.status,
        write,
        'update',
        (updated) => (updated.status === 'PUBLISHED' ? 'event.updated' : undefined),
        rule,
      );
    } catch (error) {
      // Another change of its times committed since the event was read (one moving the start
      // later while this moves the end earlier, or earlier while this moves the end later):
      // the database's check refused the pair, and this change wrote nothing.
      const check = violatedCheck(error);
      const field = changes.endsAt !== undefined ? 'input.endsAt' : 'input.startsAt';
      if (check === 'events_ends_after_start') {
        throw badUserInput(
          `${field} would have the event end before it starts, as its times are now.`,
          field,
        );
      }
      if (check === 'events_last_at_most_366_days') {
        throw badUserInput(
          `${field} would have the event last more than ${maxDurationDays} days, as its times are now.`,
          field,
        );
      }
      throw error;
    }
  }

  async publish(viewer: Identity | null, id: string): Promise<Event> {
    const event = await this.#editable(viewer, id);
    if (event.status !== 'DRAFT') {
      throw invalidTransition(
        event,
        'publish',
        `A ${event.status.toLowerCase()} event cannot be published.`,
      );
    }
    startsInFuture.assert(event);
    return this.#transition(
      event,
      'DRAFT',
      { status: 'PUBLISHED', publishedAt: new Date() },
      'publish',
      () => 'event.published',
      startsInFuture,
    );
  }

  async cancel(viewer: Identity | null, id: string, rawReason: unknown): Promise<Event> {
    const reason = parseInput(cancellationReasonSchema, rawReason, 'reason');
    const event = await this.#editable(viewer, id);
    if (event.status === 'PUBLISHED') notEnded.assert(event);
    if (event.status !== 'PUBLISHED') {
      throw invalidTransition(
        event,
        'cancel',
        event.status === 'DRAFT'
          ? 'A draft is deleted, not cancelled.'
          : 'The event is cancelled already.',
      );
    }
    return this.#transition(
      event,
      'PUBLISHED',
      { status: 'CANCELLED', cancelledAt: new Date(), cancellationReason: reason || null },
      'cancel',
      () => 'event.cancelled',
      notEnded,
    );
  }

  async delete(viewer: Identity | null, id: string): Promise<boolean> {
    const event = await this.#editable(viewer, id);
    if (event.status !== 'DRAFT' || !(await this.#events.deleteDraft(event.id))) {
      const current = await this.#current(event);
      throw invalidTransition(
        current,
        'delete',
        'Only a draft can be deleted; cancel a published event.',
      );
    }
    this.#onOutbox();
    return true;
  }

  async #transition(
    event: Event,
    from: EventStatus,
    changes: EventWrite & { status?: EventStatus },
    action: string,
    topic: (updated: Event) => string | undefined,
    rule?: TimeRule,
  ): Promise<Event> {
    const { updated, now } = await this.#events.updateIfStatus(
      event.id,
      from,
      changes,
      topic,
      rule?.where,
    );
    if (!updated) {
      // Another request changed the status, or the times `rule` is about, between our read
      // and our write, or the time passed a boundary of `rule` while the write waited.
      const current = await this.#current(event);
      if (rule && current.status === from) rule.assert(current, now);
      throw invalidTransition(current, action, `The event is ${current.status.toLowerCase()} now.`);
    }
    if (topic(updated)) this.#onOutbox();
    // A draft, before and after, is in no cached answer: only anonymous ones are cached.
    if (from !== 'DRAFT' || updated.status !== 'DRAFT') await this.#onChange(updated.id);
    return updated;
  }

  /**
   * The event as it is now, after a conditional write found it changed: a draft deleted
   * meanwhile is not found, rather than reported in the status it was read in.
   */
  async #current(event: Event): Promise<Event> {
    const current = await this.#events.findById(event.id);
    if (!current) throw notFound(`No event has the id ${event.id}.`, 'id');
    return current;
  }

  #organizer(viewer: Identity | null): Identity {
    return requireRole(viewer, ['ORGANIZER', 'ADMIN'], {
      unauthenticated: 'Log in to manage events.',
      forbidden: 'Only organizers and admins manage events.',
    });
  }

  /** The event, if the caller may change it. Hidden events read as not found. */
  async #editable(viewer: Identity | null, id: string): Promise<Event> {
    const caller = this.#organizer(viewer);
    const [event] = isUuid(id) ? await this.#events.findVisibleByIds([id], caller) : [null];
    if (!event) throw notFound(`No event has the id ${id}.`, 'id');
    requireOwnerOrAdmin(
      caller,
      event.organizerId,
      'Only its organizer or an admin can change this event.',
    );
    return event;
  }
}
