import { type Identity, requireViewer } from '@ticketing/auth';
import { isUuid, notFound, parseInput } from '@ticketing/platform';
import type { TicketTier } from '@ticketing/prisma/tickets';
import { failure } from '../errors.ts';
import type { TicketRepository } from '../repositories/TicketRepository.ts';
import type { QueuedEntry, WaitlistRepository } from '../repositories/WaitlistRepository.ts';
import { quantitySchema } from '../validation.ts';
import { windowOpen } from './TicketingService.ts';

export interface WaitlistSettings {
  /** The most tickets one user may have for one event: offers count toward it, as holds do. */
  perUserCap: number;
  /** How long an offer is reserved for its buyer before it passes to the next in line. */
  offerSeconds: number;
  /**
   * The most tiers one user may wait for at once, across all events: each entry can become
   * offers, holds of up to the cap, which no one else can buy while they are open.
   * @default defaultMaxWaitlistEntries
   */
  maxEntries?: number;
}

/** Live waitlist entries a buyer may have unless MAX_WAITLIST_ENTRIES says otherwise. */
export const defaultMaxWaitlistEntries = 10;

/** NOT_FOUND for the tier a waitlist is asked of, naming the argument that gave it. */
const tierNotFound = (id: string) => notFound(`No ticket tier has the id ${id}.`, 'tierId');

/** The tier's own sales window is closed: as read, or as the join is made. */
const tierClosed = (window: { salesStartAt: Date | null; salesEndAt: Date | null }) =>
  failure('SALES_CLOSED', 'This tier is not on sale now.', {
    field: 'tierId',
    salesStartAt: window.salesStartAt?.toISOString(),
    salesEndAt: window.salesEndAt?.toISOString(),
  });

/** Joining, leaving and reading the queue of a sold-out tier; offers are the database's. */
export class WaitlistService {
  readonly #tickets: TicketRepository;
  readonly #waitlist: WaitlistRepository;
  readonly #settings: WaitlistSettings;

  constructor(deps: {
    tickets: TicketRepository;
    waitlist: WaitlistRepository;
    settings: WaitlistSettings;
  }) {
    this.#tickets = deps.tickets;
    this.#waitlist = deps.waitlist;
    this.#settings = deps.settings;
  }

  async join(viewer: Identity | null, tierId: string, quantity: number): Promise<QueuedEntry> {
    const buyer = requireViewer(viewer, 'Log in to join a waitlist.');
    const count = parseInput(quantitySchema, quantity, 'quantity');
    const tier = await this.#existingTier(tierId);
    if (count > tier.maxPerOrder) {
      throw failure('ORDER_LIMIT_EXCEEDED', `At most ${tier.maxPerOrder} tickets per order.`, {
        field: 'quantity',
        maxPerOrder: tier.maxPerOrder,
      });
    }
    const { perUserCap, offerSeconds, maxEntries = defaultMaxWaitlistEntries } = this.#settings;
    const outcome = await this.#waitlist.join({
      tierId: tier.id,
      eventId: tier.eventId,
      userId: buyer.userId,
      quantity: count,
      perUserCap,
      offerSeconds,
      maxEntries,
    });
    switch (outcome.status) {
      case 'joined':
        return outcome.entry;
      case 'salesClosed':
        throw failure('SALES_CLOSED', 'This event is not on sale.', { field: 'tierId' });
      case 'windowClosed':
        throw tierClosed(outcome);
      case 'notSoldOut':
        throw failure('TIER_NOT_SOLD_OUT', 'This tier can still be bought: buy or hold it.', {
          field: 'tierId',
          available: outcome.available,
        });
      case 'tooManyEntries':
        throw failure(
          'TOO_MANY_WAITLIST_ENTRIES',
          `At most ${maxEntries} waitlists at a time; leave one, or buy an offer, first.`,
          { field: 'tierId', maxWaitlistEntries: maxEntries },
        );
      case 'alreadyWaiting':
        throw failure('ALREADY_ON_WAITLIST', 'You are on this tier’s waitlist already.', {
          field: 'tierId',
        });
      case 'limitReached':
        throw failure(
          'PURCHASE_LIMIT_REACHED',
          `At most ${perUserCap} tickets per person for one event, holds included.`,
          { field: 'quantity', perUserCap },
        );
      case 'notFound':
        throw tierNotFound(tierId);
    }
  }

  async leave(viewer: Identity | null, tierId: string): Promise<QueuedEntry> {
    const buyer = requireViewer(viewer, 'Log in to leave a waitlist.');
    const entry = isUuid(tierId) ? await this.#waitlist.leave(tierId, buyer.userId) : null;
    if (!entry) {
      throw failure('NOT_ON_WAITLIST', 'You are not waiting for this tier.', { field: 'tierId' });
    }
    return entry;
  }

  mine(viewer: Identity | null): Promise<QueuedEntry[]> {
    return this.#waitlist.entriesOf(requireViewer(viewer, 'Log in to see your waitlist.').userId);
  }

  /** A tier that exists, and whose own sales window is open. */
  async #existingTier(id: string): Promise<TicketTier> {
    const [tier] = isUuid(id) ? await this.#tickets.findTiersByIds([id]) : [null];
    if (!tier) throw tierNotFound(id);
    // The event's status is checked in the join's transaction, under its lock.
    if (!windowOpen(tier, new Date())) throw tierClosed(tier);
    return tier;
  }
}
