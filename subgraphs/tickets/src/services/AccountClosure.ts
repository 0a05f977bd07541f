import { type Identity, unauthenticated } from '@ticketing/auth';
import { currentRequestAbandoned } from '@ticketing/platform';
import { failure } from '../errors.ts';
import type { AccountClosureRepository } from '../repositories/AccountClosureRepository.ts';
import type { EventOwnership } from './EventOwnership.ts';

/**
 * Closes an account the users service is about to delete: its `deleteAccount` calls
 * `closeAccount` first, as the account, and deletes nothing unless it succeeds. Two steps,
 * each safe to run again (a deletion retried after a failure finishes the job):
 *
 * 0. Closes the account as an organizer in the events service (its `closeOrganizer`), which
 *    refuses with ACCOUNT_HAS_EVENTS while it organizes published events that are not over:
 *    their buyers would be left with no one to run, cancel or refund them. The organizer
 *    cancels them first (their tickets are refunded) or deletes the account once they are
 *    over. Otherwise none of its events can be published from then on (a publication racing
 *    it committed first, and is counted, or is refused).
 * 1. Refuses with ACCOUNT_HAS_TICKETS while the account holds a ticket for an event that is
 *    not over (a ticket would stay valid for no one, and its seat be lost); otherwise marks
 *    it closed, after which the database refuses an order, a hold, a transfer to it, a
 *    waitlist entry or a door-staff grant for it (migration `closed_accounts`), and voids
 *    its pending transfer offers, to it and from it, in the same transaction. A purchase
 *    racing the deletion either committed before the check, which then sees its tickets, or
 *    is refused whole; a hold either committed before it, and step 2 releases it, or is
 *    refused whole.
 *    Refused, or failing, step 0 is undone (the organizer reopened), and a closing whose
 *    caller stopped waiting for it (the users service past its deadline) is not committed.
 * 2. Releases what it left, which nothing can add to any more: waitlist entries, holds
 *    (their stock returns) and door-staff grants.
 *
 * `reopen` undoes steps 0 and 1 for an account the users service did not delete after all
 * (what step 2 released stays released, and the offers step 1 voided stay void).
 */
export class AccountClosure {
  readonly #accounts: AccountClosureRepository;
  readonly #ownership: Pick<EventOwnership, 'closeOrganizer' | 'reopenOrganizer'>;

  constructor(
    accounts: AccountClosureRepository,
    ownership: Pick<EventOwnership, 'closeOrganizer' | 'reopenOrganizer'>,
  ) {
    this.#accounts = accounts;
    this.#ownership = ownership;
  }

  async close(viewer: Identity | null): Promise<boolean> {
    if (!viewer) throw unauthenticated('Log in to close your account.', 'required');
    const events = await this.#ownership.closeOrganizer(viewer);
    if (events > 0) {
      throw failure(
        'ACCOUNT_HAS_EVENTS',
        'The account organizes published events that are not over: cancel them (their tickets are refunded), or wait until they are over, before deleting it.',
        { events },
      );
    }
    let tickets: number;
    try {
      tickets = await this.#accounts.close(viewer.userId, currentRequestAbandoned);
    } catch (error) {
      await this.#ownership.reopenOrganizer(viewer);
      throw error;
    }
    if (tickets > 0) {
      await this.#ownership.reopenOrganizer(viewer);
      throw failure(
        'ACCOUNT_HAS_TICKETS',
        'The account holds tickets for events that are not over: refund or transfer them, or wait until the events are over, before deleting it.',
        { tickets },
      );
    }
    await this.#accounts.release(viewer.userId);
    return true;
  }

  /** Undoes `close`: the users service did not delete the account. Safe to repeat. */
  async reopen(viewer: Identity | null): Promise<boolean> {
    if (!viewer) throw unauthenticated('Log in to reopen your account.', 'required');
    await this.#accounts.reopen(viewer.userId);
    await this.#ownership.reopenOrganizer(viewer);
    return true;
  }
}
