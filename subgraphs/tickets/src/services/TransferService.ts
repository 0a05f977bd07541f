import { type Identity, unauthenticated } from '@ticketing/auth';
import { isUuid, notFound, parseInput } from '@ticketing/platform';
import type { Ticket, TicketTransferOffer } from '@ticketing/prisma/tickets';
import { failure, unlessClosed } from '../errors.ts';
import type { TicketRepository } from '../repositories/TicketRepository.ts';
import type {
  OfferPage,
  TicketState,
  TransferRepository,
} from '../repositories/TransferRepository.ts';
import { emailSchema } from '../validation.ts';
import type { UserDirectory } from './UserDirectory.ts';

/** How long a transfer offer waits for its receiver unless TRANSFER_OFFER_HOURS says otherwise. */
export const defaultTransferOfferHours = 72;

const notYours = (id: string) => notFound(`No ticket of yours has the id ${id}.`, 'id');
const noOffer = (id: string) => notFound(`No transfer offer of yours has the id ${id}.`, 'id');
const notPending = (offer: TicketTransferOffer) =>
  failure('TRANSFER_NOT_PENDING', `This transfer offer is ${offer.status.toLowerCase()} already.`, {
    status: offer.status,
  });

/**
 * Tickets given by their owner to another account, named by email: the owner offers, and
 * nothing moves until the receiver accepts, so an offer nobody wanted costs its receiver
 * nothing (their per-person cap is untouched).
 */
export class TransferService {
  readonly #tickets: TicketRepository;
  readonly #transfers: TransferRepository;
  readonly #directory: UserDirectory;
  readonly #perUserCap: number;
  readonly #offerHours: number;

  constructor(deps: {
    tickets: TicketRepository;
    transfers: TransferRepository;
    directory: UserDirectory;
    perUserCap: number;
    offerHours?: number;
  }) {
    this.#tickets = deps.tickets;
    this.#transfers = deps.transfers;
    this.#directory = deps.directory;
    this.#perUserCap = deps.perUserCap;
    this.#offerHours = deps.offerHours ?? defaultTransferOfferHours;
  }

  /**
   * Offers the caller's ticket to the account with `toEmail`, and returns the ticket, still
   * the caller's. It expires after the offer hours or at the event's start.
   */
  async transfer(viewer: Identity | null, id: string, toEmail: string): Promise<Ticket> {
    if (!viewer) throw unauthenticated('Log in to transfer a ticket.', 'required');
    const email = parseInput(emailSchema, toEmail, 'toEmail');
    const [ticket] = isUuid(id) ? await this.#tickets.findTicketsByIds([id]) : [null];
    if (!ticket || ticket.ownerId !== viewer.userId) throw notYours(id);
    assertTransferable(ticket);
    const receiverId = await this.#directory.idByEmail(email, viewer);
    const noAccount = () =>
      failure('RECIPIENT_NOT_FOUND', 'No account has this email.', { field: 'toEmail' });
    if (!receiverId) throw noAccount();
    if (receiverId === viewer.userId) {
      throw failure('TRANSFER_TO_SELF', 'This ticket is yours already.', { field: 'toEmail' });
    }
    const outcome = await unlessClosed(
      this.#transfers.offer({
        ticketId: ticket.id,
        fromUserId: viewer.userId,
        toUserId: receiverId,
        hours: this.#offerHours,
      }),
      noAccount,
    );
    switch (outcome.status) {
      case 'offered':
        return ticket;
      case 'pending':
        throw failure(
          'TRANSFER_PENDING',
          'This ticket is offered to someone already: cancel that offer first.',
        );
      case 'eventStarted':
        throw failure(
          'EVENT_STARTED',
          'The event has started: its tickets can no longer be offered.',
        );
      case 'unavailable':
        // Another request changed the ticket since it was read: what the offer found it is.
        if (outcome.now?.ownerId !== viewer.userId) throw notYours(ticket.id);
        assertTransferable(outcome.now);
        throw notYours(ticket.id);
    }
  }

  /** The receiver takes the offered ticket: it becomes theirs, with a new code and QR token. */
  async accept(viewer: Identity | null, id: string): Promise<Ticket> {
    if (!viewer) throw unauthenticated('Log in to accept a ticket.', 'required');
    if (!isUuid(id)) throw noOffer(id);
    const outcome = await this.#transfers.accept({
      offerId: id,
      toUserId: viewer.userId,
      perUserCap: this.#perUserCap,
    });
    switch (outcome.status) {
      case 'transferred':
        return outcome.ticket;
      case 'notFound':
        throw noOffer(id);
      case 'expired':
        throw failure('TRANSFER_EXPIRED', 'This transfer offer expired before it was accepted.');
      case 'limitReached':
        throw failure(
          'PURCHASE_LIMIT_REACHED',
          `You have the most tickets one person may have for this event (${this.#perUserCap}); the offer stays open.`,
          { perUserCap: this.#perUserCap },
        );
      case 'notPending':
      case 'void': {
        // A void offer names what became of its ticket (cancelled, admitted), whichever
        // request found it void first.
        const ticket =
          outcome.status === 'void'
            ? outcome.ticket
            : outcome.offer.status === 'CANCELLED'
              ? (await this.#tickets.findTicketsByIds([outcome.offer.ticketId]))[0]
              : null;
        if (ticket) assertTransferable(ticket);
        if (outcome.status === 'notPending') throw notPending(outcome.offer);
        throw failure('TRANSFER_NOT_PENDING', 'The giver can no longer give this ticket.', {
          status: 'CANCELLED',
        });
      }
    }
  }

  /** The receiver refuses the offer; the ticket stays the giver's. */
  decline(viewer: Identity | null, id: string): Promise<TicketTransferOffer> {
    return this.#settle(viewer, id, 'DECLINED');
  }

  /** The giver withdraws the offer. */
  cancel(viewer: Identity | null, id: string): Promise<TicketTransferOffer> {
    return this.#settle(viewer, id, 'CANCELLED');
  }

  async #settle(
    viewer: Identity | null,
    id: string,
    as: 'DECLINED' | 'CANCELLED',
  ): Promise<TicketTransferOffer> {
    if (!viewer) throw unauthenticated('Log in to answer a transfer offer.', 'required');
    if (!isUuid(id)) throw noOffer(id);
    const outcome = await this.#transfers.settle({ offerId: id, userId: viewer.userId, as });
    if (outcome.status === 'notFound') throw noOffer(id);
    if (outcome.status === 'notPending') throw notPending(outcome.offer);
    return outcome.offer;
  }

  /** The caller's open offers, made to them and by them, newest first. */
  pending(
    viewer: Identity | null,
    first: number,
    after: { createdAt: Date; id: string } | undefined,
  ): Promise<OfferPage> {
    if (!viewer) throw unauthenticated('Log in to see your transfer offers.', 'required');
    return this.#transfers.pageByUser(viewer.userId, first, after);
  }

  /** Open offers of these tickets (for `Ticket.pendingTransfer`). */
  openByTicketIds(ticketIds: readonly string[]): Promise<(TicketTransferOffer | null)[]> {
    return this.#transfers.openByTicketIds(ticketIds);
  }
}

function assertTransferable(ticket: TicketState): void {
  if (ticket.status === 'CANCELLED') {
    throw failure('TICKET_CANCELLED', 'A cancelled ticket cannot be transferred.');
  }
  if (ticket.checkedInAt) {
    throw failure('TICKET_CHECKED_IN', 'A ticket admitted at the door cannot be transferred.');
  }
}
