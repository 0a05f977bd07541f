import { type Identity, unauthenticated } from '@ticketing/auth';
import { isUuid, notFound, parseInput } from '@ticketing/platform';
import type { Ticket } from '@ticketing/prisma/tickets';
import { failure, unlessClosed } from '../errors.ts';
import type { TicketRepository } from '../repositories/TicketRepository.ts';
import type { TransferRepository } from '../repositories/TransferRepository.ts';
import { emailSchema } from '../validation.ts';
import type { UserDirectory } from './UserDirectory.ts';

const notYours = (id: string) => notFound(`No ticket of yours has the id ${id}.`);

/** Tickets given by their owner to another account, named by email. */
export class TransferService {
  readonly #tickets: TicketRepository;
  readonly #transfers: TransferRepository;
  readonly #directory: UserDirectory;
  readonly #perUserCap: number;

  constructor(deps: {
    tickets: TicketRepository;
    transfers: TransferRepository;
    directory: UserDirectory;
    perUserCap: number;
  }) {
    this.#tickets = deps.tickets;
    this.#transfers = deps.transfers;
    this.#directory = deps.directory;
    this.#perUserCap = deps.perUserCap;
  }

  /**
   * Gives the caller's ticket to the account with `toEmail`. Its code and QR token change,
   * so the old ones no longer admit; the receiver's per-person cap applies.
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
      this.#transfers.transfer({
        ticketId: ticket.id,
        fromUserId: viewer.userId,
        toUserId: receiverId,
        perUserCap: this.#perUserCap,
      }),
      noAccount,
    );
    switch (outcome.status) {
      case 'transferred':
        return outcome.ticket;
      case 'limitReached':
        throw failure(
          'PURCHASE_LIMIT_REACHED',
          `The receiver has the most tickets one person may have for this event (${this.#perUserCap}).`,
          { perUserCap: this.#perUserCap, field: 'toEmail' },
        );
      case 'unavailable': {
        // Another request changed it since it was read: say what it is now.
        const [now] = await this.#tickets.findTicketsByIds([ticket.id]);
        if (!now || now.ownerId !== viewer.userId) throw notYours(id);
        assertTransferable(now);
        throw notYours(id);
      }
    }
  }
}

function assertTransferable(ticket: Ticket): void {
  if (ticket.status === 'CANCELLED') {
    throw failure('TICKET_CANCELLED', 'A cancelled ticket cannot be transferred.');
  }
  if (ticket.checkedInAt) {
    throw failure('TICKET_CHECKED_IN', 'A ticket admitted at the door cannot be transferred.');
  }
}
