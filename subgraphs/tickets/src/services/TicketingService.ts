import { type Identity, requireOwnerOrAdmin, requireRole, requireViewer } from '@ticketing/auth';
import {
  badUserInput,
  endOf,
  hasEnded,
  idempotencyKeySchema,
  isUuid,
  notFound,
  parseInput,
  requestHash,
} from '@ticketing/platform';
import type {
  EventSnapshot,
  Hold,
  Order,
  PrismaClient,
  Ticket,
  TicketTier,
} from '@ticketing/prisma/tickets';
import { admitted, againWhileChanged, failure } from '../errors.ts';
import type { PurchaseGroupSettings } from '../repositories/PurchaseGroups.ts';
import {
  type PurchaseOutcome,
  PurchaseRepository,
  type PurchaseSource,
} from '../repositories/PurchaseRepository.ts';
import type { TicketRepository, TierCreation } from '../repositories/TicketRepository.ts';
import {
  brokenTierRule,
  createTierSchema,
  orderTotalMessage,
  payableIn,
  quantitySchema,
  salesEndMessage,
  salesStartMessage,
  type TierChanges,
  type TierRule,
  unpayableMessage,
  updateTierSchema,
} from '../validation.ts';
import { type EventOwnership, eventNotFound, type ManagedEvent } from './EventOwnership.ts';

export interface TicketingSettings {
  /** How long a hold reserves stock. */
  holdSeconds: number;
  /** The most tickets one user may have for one event, active tickets and holds together. */
  perUserCap: number;
  /** The most active holds one user may keep at once, across all events. */
  maxActiveHolds: number;
  /**
   * The most tiers one event may have (defaultMaxTiersPerEvent when left out): an event's
   * tiers are read whole wherever it is shown, so an organizer may not make them endless.
   */
  maxTiersPerEvent?: number;
  /** The most door staff one event may have (defaultMaxDoorStaffPerEvent when left out). */
  maxDoorStaffPerEvent?: number;
  /** The most tiers one user may wait for at once (defaultMaxWaitlistEntries when left out). */
  maxWaitlistEntries?: number;
  /** Group commit of a tier's concurrent purchases (PurchaseGroups); off when left out. */
  groupCommit?: PurchaseGroupSettings;
}

/**
 * Tiers an event may have unless MAX_TIERS_PER_EVENT says fewer, and the most it may say.
 * `Event.ticketTiers` is a list no page bounds, and a tier's `event` lists them again:
 * nested three times within the depth limit, an anonymous query answers this number cubed.
 */
export const defaultMaxTiersPerEvent = 20;

export interface PurchaseInput {
  tierId?: string | null;
  quantity?: number | null;
  holdId?: string | null;
  idempotencyKey: string;
}

export interface PlacedOrder {
  order: Order;
  tickets: Ticket[];
}

/** The event is published and has not started (as the outbox last said). */
function eventOnSale(snapshot: EventSnapshot | null | undefined, now: Date): boolean {
  return snapshot?.status === 'PUBLISHED' && snapshot.startsAt > now;
}

/** The tier's own sales window is open (no bound is open on that side). */
export function windowOpen(tier: TicketTier, now: Date): boolean {
  return (
    !(tier.salesStartAt && tier.salesStartAt > now) && !(tier.salesEndAt && tier.salesEndAt <= now)
  );
}

/** Whether a tier can be bought at `now`: what holds and purchases check, as one flag. */
export function isOnSale(
  snapshot: EventSnapshot | null | undefined,
  tier: TicketTier,
  now: Date,
): boolean {
  return eventOnSale(snapshot, now) && windowOpen(tier, now);
}

/** NOT_FOUND for a tier, naming `field`, the argument that gave its id. */
const tierNotFound = (id: string, field: string) =>
  notFound(`No ticket tier has the id ${id}.`, field);

/** SALES_CLOSED for the tier's own window, naming the argument that gave the tier. */
const windowClosed = (
  window: { salesStartAt: Date | null; salesEndAt: Date | null },
  field: string,
) =>
  failure('SALES_CLOSED', 'This tier is not on sale now.', {
    field,
    salesStartAt: window.salesStartAt?.toISOString(),
    salesEndAt: window.salesEndAt?.toISOString(),
  });
const orderLimitExceeded = (maxPerOrder: number, field: string) =>
  failure('ORDER_LIMIT_EXCEEDED', `At most ${maxPerOrder} tickets per order.`, {
    field,
    maxPerOrder,
  });
/**
 * A creation's key refused: IDEMPOTENCY_KEY_IN_USE while `what` ("purchase") with it is being
 * made (retry it), IDEMPOTENCY_KEY_REUSED when it made a different one, naming `field`.
 */
const keyRefused = (status: 'keyInUse' | 'keyReused', what: string, field: string) =>
  status === 'keyInUse'
    ? failure(
        'IDEMPOTENCY_KEY_IN_USE',
        `A ${what} with this idempotency key is in progress; retry it shortly.`,
      )
    : failure('IDEMPOTENCY_KEY_REUSED', `This idempotency key was used for a different ${what}.`, {
        field,
      });
/** A purchase's hold that is not the buyer's: named as releaseHold names its `id`. */
const holdNotFound = () =>
  failure('HOLD_NOT_FOUND', 'No hold of yours has this id.', { field: 'input.holdId' });
/** SOLD_OUT, naming the argument that gave the tier (`tierId`, `input.tierId`, `input.holdId`). */
const soldOut = (field: string) =>
  failure('SOLD_OUT', 'Not enough tickets are left in this tier.', { field });
/** SALES_CLOSED for the tier's event, naming the argument that gave the tier. */
const salesClosed = (field: string) =>
  failure('SALES_CLOSED', 'This event is not on sale.', { field });
/** The buyer's cap for the event, naming the argument whose quantity went past it. */
const limitReached = (perUserCap: number, field: string) =>
  failure(
    'PURCHASE_LIMIT_REACHED',
    `At most ${perUserCap} tickets per person for one event, holds included.`,
    { field, perUserCap },
  );

/**
 * BAD_USER_INPUT for a tier update whose row would break `rule`, naming the field the update
 * changed (of the two the rule relates), as parseInput names a field of the input alone.
 */
function tierRuleBroken(rule: TierRule, changes: TierChanges) {
  const [field, reason] =
    rule === 'orderTotal'
      ? changes.maxPerOrder === undefined
        ? ['input.priceCents', orderTotalMessage]
        : ['input.maxPerOrder', orderTotalMessage]
      : changes.salesEndAt === undefined
        ? ['input.salesStartAt', salesStartMessage]
        : ['input.salesEndAt', salesEndMessage];
  return badUserInput(`${field} ${reason}.`, field);
}

/** Tiers, holds, purchases and cancellations: the tickets service's rules. */
export class TicketingService {
  readonly #tickets: TicketRepository;
  readonly #purchases: PurchaseRepository;
  readonly #ownership: EventOwnership;
  readonly #settings: TicketingSettings;

  constructor(deps: {
    prisma: PrismaClient;
    tickets: TicketRepository;
    ownership: EventOwnership;
    settings: TicketingSettings;
  }) {
    this.#tickets = deps.tickets;
    this.#purchases = new PurchaseRepository(deps.prisma, deps.settings.groupCommit);
    this.#ownership = deps.ownership;
    this.#settings = deps.settings;
  }

  get purchases(): PurchaseRepository {
    return this.#purchases;
  }

  async createTier(
    viewer: Identity | null,
    eventId: string,
    input: { idempotencyKey?: string | null },
  ): Promise<TicketTier> {
    const caller = this.#manager(viewer);
    if (!isUuid(eventId)) throw eventNotFound(eventId, 'eventId');
    const { idempotencyKey, ...fields } = input;
    const keyed =
      idempotencyKey == null
        ? undefined
        : {
            createdBy: caller.userId,
            idempotencyKey: parseInput(
              idempotencyKeySchema,
              idempotencyKey,
              'input.idempotencyKey',
            ),
            // What was asked for, as sent: a replay is told apart before the input's rules,
            // which may refuse it by now (a salesEndAt since passed).
            requestHash: requestHash([eventId.toLowerCase(), fields]),
          };
    // A retry is answered before the checks, as a purchase's is: the tier its key made
    // stands, whatever became of its event since.
    const made =
      keyed &&
      (await this.#tickets.tierWithKey(keyed.createdBy, keyed.idempotencyKey, keyed.requestHash));
    const maxTiersPerEvent = this.#settings.maxTiersPerEvent ?? defaultMaxTiersPerEvent;
    const outcome = made ?? (await this.#newTier(caller, eventId, fields, keyed, maxTiersPerEvent));
    switch (outcome.status) {
      case 'created':
      case 'replayed':
        return outcome.tier;
      case 'keyInUse':
      case 'keyReused':
        throw keyRefused(outcome.status, 'ticket tier', 'input.idempotencyKey');
      case 'eventDeleted':
        // Deleted, a draft, after the events service was asked.
        throw eventNotFound(eventId, 'eventId');
      case 'eventCancelled':
        // Cancelled after the events service was asked.
        throw cancelled('CANCELLED', 'createTicketTier');
      case 'tooManyTiers':
        throw failure(
          'TOO_MANY_TIERS',
          `An event has at most ${maxTiersPerEvent} ticket tiers; change one instead.`,
          { maxTiersPerEvent },
        );
    }
  }

  async #newTier(
    caller: Identity,
    eventId: string,
    fields: unknown,
    keyed: { createdBy: string; idempotencyKey: string; requestHash: string } | undefined,
    maxTiersPerEvent: number,
  ): Promise<TierCreation> {
    const tier = parseInput(createTierSchema, fields, 'input');
    assertGoingAhead(
      await this.#managed(caller, eventId, () => eventNotFound(eventId, 'eventId')),
      'createTicketTier',
    );
    return this.#tickets.createTier({ ...tier, ...keyed, eventId }, maxTiersPerEvent);
  }

  async updateTier(viewer: Identity | null, id: string, input: unknown) {
    const caller = this.#manager(viewer);
    const tier = await this.#existingTier(id, 'id');
    // Who may change it first: a tier of an event the caller cannot see (another organizer's
    // draft) reads as one that does not exist, whatever the input, and names no event.
    const event = await this.#managed(caller, tier.eventId, () => tierNotFound(id, 'id'));
    const changes = parseInput(updateTierSchema, input, 'input');
    // A tier's currency never changes: its new price is checked against the one stored.
    if (changes.priceCents !== undefined && !payableIn(changes.priceCents, tier.currency)) {
      throw badUserInput(
        `input.priceCents ${unpayableMessage(tier.currency)}.`,
        'input.priceCents',
      );
    }
    // Checked against the row as read, for a clear answer; the database checks it again
    // against the row as it is when written (TierUpdate).
    const broken = brokenTierRule({
      priceCents: changes.priceCents ?? tier.priceCents,
      maxPerOrder: changes.maxPerOrder ?? tier.maxPerOrder,
      salesStartAt: changes.salesStartAt === undefined ? tier.salesStartAt : changes.salesStartAt,
      salesEndAt: changes.salesEndAt === undefined ? tier.salesEndAt : changes.salesEndAt,
    });
    if (broken) throw tierRuleBroken(broken, changes);
    assertGoingAhead(event, 'updateTicketTier');
    const outcome = await this.#tickets.updateTier(tier.id, changes);
    switch (outcome.status) {
      case 'updated':
        return outcome.tier;
      case 'ruleBroken':
        throw tierRuleBroken(outcome.rule, changes);
      case 'capacityBelowSold':
        throw failure('CAPACITY_BELOW_SOLD', 'Capacity cannot go below what is sold and held.', {
          field: 'input.capacity',
        });
      case 'notFound':
        // Deleted by another request meanwhile.
        throw tierNotFound(id, 'id');
    }
  }

  async hold(
    viewer: Identity | null,
    tierId: string,
    quantity: number,
    idempotencyKey?: string | null,
  ): Promise<Hold> {
    const buyer = this.#buyer(viewer);
    const key =
      idempotencyKey == null
        ? undefined
        : parseInput(idempotencyKeySchema, idempotencyKey, 'idempotencyKey');
    // A retry is answered before the tier's checks, as a purchase's is: the hold its key
    // made stands, whatever became of the tier or its sales window since.
    const made =
      key === undefined
        ? undefined
        : await this.#purchases.heldWithKey(buyer.userId, key, { tierId, quantity });
    const outcome = made ?? (await this.#newHold(buyer, tierId, quantity, key));
    switch (outcome.status) {
      case 'held':
      case 'replayed':
        return outcome.hold;
      case 'keyInUse':
      case 'keyReused':
        throw keyRefused(outcome.status, 'hold', 'idempotencyKey');
      case 'windowClosed':
        throw windowClosed(outcome, 'tierId');
      case 'orderLimitExceeded':
        throw orderLimitExceeded(outcome.maxPerOrder, 'quantity');
      case 'soldOut':
        throw soldOut('tierId');
      case 'limitReached':
        throw limitReached(this.#settings.perUserCap, 'quantity');
      case 'salesClosed':
        throw salesClosed('tierId');
      case 'tooManyHolds':
        throw failure(
          'TOO_MANY_HOLDS',
          `At most ${this.#settings.maxActiveHolds} holds at a time; buy or wait for one to expire.`,
          { maxActiveHolds: this.#settings.maxActiveHolds },
        );
    }
  }

  async #newHold(buyer: Identity, tierId: string, quantity: number, idempotencyKey?: string) {
    const tier = await this.#existingTier(tierId, 'tierId');
    const count = parseInput(quantitySchema, quantity, 'quantity');
    this.#assertOnSale(tier, count);
    return this.#purchases.hold({
      tier,
      userId: buyer.userId,
      quantity: count,
      idempotencyKey,
      seconds: this.#settings.holdSeconds,
      perUserCap: this.#settings.perUserCap,
      maxActiveHolds: this.#settings.maxActiveHolds,
    });
  }

  async purchase(viewer: Identity | null, input: PurchaseInput): Promise<PlacedOrder> {
    const buyer = this.#buyer(viewer);
    const idempotencyKey = parseInput(
      idempotencyKeySchema,
      input.idempotencyKey,
      'input.idempotencyKey',
    );
    const source = this.#source(input);
    const outcome = await this.#purchases.purchase({
      buyerId: buyer.userId,
      idempotencyKey,
      requestHash: requestHash(
        source.kind === 'tier' ? ['tier', source.tierId, source.quantity] : ['hold', source.holdId],
      ),
      source,
      perUserCap: this.#settings.perUserCap,
    });
    return placed(outcome, source, this.#settings.perUserCap);
  }

  async cancelTicket(viewer: Identity | null, id: string): Promise<Ticket> {
    const caller = this.#buyer(viewer);
    const [ticket] = isUuid(id) ? await this.#tickets.findTicketsByIds([id]) : [null];
    if (!ticket || (ticket.ownerId !== caller.userId && caller.role !== 'ADMIN')) {
      throw notFound(`No ticket of yours has the id ${id}.`, 'id');
    }
    const owner = caller.role === 'ADMIN' ? undefined : caller.userId;
    return againWhileChanged(async () => {
      const cancelled = await this.#purchases.cancelTicket(ticket.id, owner);
      if (cancelled) return cancelled;
      // Nothing changed: the ticket was cancelled, admitted at the door or given away, before
      // or meanwhile; or it was admitted, and its check-in was undone since (then again).
      const [now] = await this.#tickets.findTicketsByIds([ticket.id]);
      if (owner && now?.ownerId !== owner)
        throw notFound(`No ticket of yours has the id ${id}.`, 'id');
      if (now?.status === 'ACTIVE' && now.checkedInAt) throw admitted([ticket.id]);
      if (now?.status === 'ACTIVE') return undefined;
      throw failure('TICKET_ALREADY_CANCELLED', 'This ticket is cancelled already.');
    });
  }

  /** Gives the caller's hold back to stock before it expires. */
  async releaseHold(viewer: Identity | null, id: string): Promise<Hold> {
    const holder = this.#buyer(viewer);
    const outcome = isUuid(id)
      ? await this.#purchases.releaseHold(id, holder.userId)
      : ({ status: 'notFound' } as const);
    switch (outcome.status) {
      case 'released':
        return outcome.hold;
      case 'notFound':
        throw failure('HOLD_NOT_FOUND', 'No hold of yours has this id.', { field: 'id' });
      case 'expired':
        throw failure('HOLD_EXPIRED', 'This hold has expired, was bought or was released.', {
          field: 'id',
        });
    }
  }

  /** What the purchase is of, as far as the request alone tells; the database checks the rest. */
  #source(input: PurchaseInput): PurchaseSource {
    const byHold = input.holdId != null;
    const byTier = input.tierId != null || input.quantity != null;
    if (byHold === byTier) {
      throw badUserInput(
        'Give either holdId, or tierId and quantity.',
        byHold ? 'input.holdId' : 'input.tierId',
      );
    }
    if (byHold) {
      if (!isUuid(input.holdId as string)) throw holdNotFound();
      return { kind: 'hold', holdId: input.holdId as string };
    }
    if (input.tierId == null)
      throw badUserInput('tierId is required with quantity.', 'input.tierId');
    const quantity = parseInput(quantitySchema, input.quantity, 'input.quantity');
    if (!isUuid(input.tierId)) throw tierNotFound(input.tierId, 'input.tierId');
    return { kind: 'tier', tierId: input.tierId, quantity };
  }

  /**
   * A hold needs the tier's sales window open and an order size within the tier's limit.
   * (It also needs the event published and not started, as the events service last told
   * this one through the outbox: the hold's own transaction checks that, under a lock that a
   * cancellation waits for, in PurchaseRepository. A purchase makes all of these checks in
   * its one statement, `purchase_tickets`, with the same errors as here.)
   */
  #assertOnSale(tier: TicketTier, quantity: number): void {
    if (!windowOpen(tier, new Date())) throw windowClosed(tier, 'tierId');
    if (quantity > tier.maxPerOrder) throw orderLimitExceeded(tier.maxPerOrder, 'quantity');
  }

  async deleteTier(viewer: Identity | null, id: string): Promise<string> {
    const caller = this.#manager(viewer);
    const tier = await this.#existingTier(id, 'id');
    const event = await this.#managed(caller, tier.eventId, () => tierNotFound(id, 'id'));
    assertGoingAhead(event, 'deleteTicketTier');
    switch (await this.#tickets.deleteTier(tier.id)) {
      case 'deleted':
        return tier.id;
      case 'notFound':
        // Deleted by another request meanwhile.
        throw tierNotFound(id, 'id');
      case 'inUse':
        throw failure(
          'TIER_IN_USE',
          'Tickets were sold or held from this tier, or buyers queued for it: end its sales instead.',
          { field: 'id' },
        );
    }
  }

  /** The tier with this id; NOT_FOUND naming `field`, the argument that gave it, if none. */
  async #existingTier(id: string, field: string): Promise<TicketTier> {
    const [tier] = isUuid(id) ? await this.#tickets.findTiersByIds([id]) : [null];
    if (!tier) throw tierNotFound(id, field);
    return tier;
  }

  /**
   * The event, if the caller manages its tiers: FORBIDDEN for another organizer's, and
   * `missing` (NOT_FOUND) for one the caller cannot see.
   */
  async #managed(caller: Identity, eventId: string, missing: () => Error): Promise<ManagedEvent> {
    const event = await this.#ownership.managedEvent(eventId, caller, missing);
    requireOwnerOrAdmin(
      caller,
      event.organizerId,
      'Only the event’s organizer or an admin manages its tiers.',
    );
    return event;
  }

  #buyer(viewer: Identity | null): Identity {
    return requireViewer(viewer, 'Log in to buy tickets.');
  }

  #manager(viewer: Identity | null): Identity {
    return requireRole(viewer, ['ORGANIZER', 'ADMIN'], {
      unauthenticated: 'Log in to buy tickets.',
      forbidden: 'Only organizers and admins manage ticket tiers.',
    });
  }
}

function placed(outcome: PurchaseOutcome, source: PurchaseSource, perUserCap: number): PlacedOrder {
  switch (outcome.status) {
    case 'created':
    case 'replayed':
      return { order: outcome.order, tickets: outcome.tickets };
    case 'tierNotFound':
      throw tierNotFound(source.kind === 'tier' ? source.tierId : '', sourceField(source));
    case 'windowClosed':
      throw windowClosed(outcome, sourceField(source));
    case 'orderLimitExceeded':
      // From a hold: its quantity no longer fits the tier's limit (the price went up since).
      throw orderLimitExceeded(
        outcome.maxPerOrder,
        source.kind === 'tier' ? 'input.quantity' : 'input.holdId',
      );
    case 'soldOut':
      throw soldOut(sourceField(source));
    case 'keyInUse':
    case 'keyReused':
      throw keyRefused(outcome.status, 'purchase', 'input.idempotencyKey');
    case 'limitReached':
      throw limitReached(perUserCap, source.kind === 'tier' ? 'input.quantity' : 'input.holdId');
    case 'salesClosed':
      throw salesClosed(sourceField(source));
    case 'holdNotFound':
      throw holdNotFound();
    case 'holdExpired':
      throw failure('HOLD_EXPIRED', 'This hold has expired or was used already.', {
        field: 'input.holdId',
      });
  }
}

/** The argument of a purchase that names its tier: the tier's own id, or the hold of it. */
const sourceField = (source: PurchaseSource) =>
  source.kind === 'tier' ? 'input.tierId' : 'input.holdId';

/** The refusal of `action` on a tier of a cancelled event. */
const cancelled = (status: ManagedEvent['status'], action: string) =>
  failure(
    'INVALID_STATE_TRANSITION',
    'The event is cancelled: its tiers cannot be created or changed.',
    { status, action },
  );

/** The event is still going to happen: its tiers can be created or changed. */
function assertGoingAhead(event: ManagedEvent, action: string): void {
  if (event.status === 'CANCELLED') throw cancelled(event.status, action);
  if (hasEnded(event)) {
    throw failure('EVENT_ENDED', 'The event is over: its tiers cannot be created or changed.', {
      endedAt: endOf(event).toISOString(),
    });
  }
}
