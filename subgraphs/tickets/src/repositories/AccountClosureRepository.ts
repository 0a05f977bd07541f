import { retryOnConflict, serviceUnavailable } from '@ticketing/platform';
import type { PrismaClient } from '@ticketing/prisma/tickets';
import type { PurchaseRepository } from './PurchaseRepository.ts';

/** The statements that close an account (services/AccountClosure.ts says why, and in what order). */
export class AccountClosureRepository {
  readonly #prisma: PrismaClient;
  readonly #purchases: PurchaseRepository;

  constructor(prisma: PrismaClient, purchases: PurchaseRepository) {
    this.#prisma = prisma;
    this.#purchases = purchases;
  }

  /**
   * Under the account's advisory lock, held exclusively (the `refuse_closed_account` trigger
   * takes it shared): the number of its active tickets for events not over, and, when there
   * are none, its `closed_accounts` row, written, and its pending transfer offers voided. Nothing is written otherwise, nor when
   * `abandoned` says, once the row is written, that the caller stopped waiting (its
   * transaction is rolled back, SERVICE_UNAVAILABLE): a closing the users service gave up
   * on, answering that nothing was deleted, must not commit later.
   */
  close(userId: string, abandoned: () => boolean = () => false): Promise<number> {
    return this.#prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT lock_account(${userId}::uuid, false)`;
      const [{ count }] = await tx.$queryRaw<[{ count: number }]>`
        SELECT count(*)::int AS count
        FROM tickets t JOIN event_snapshots s ON s.event_id = t.event_id
        WHERE t.owner_id = ${userId}::uuid AND t.status = 'ACTIVE'
          AND coalesce(s.ends_at, s.starts_at) > now()`;
      if (count === 0) {
        await tx.$executeRaw`
          INSERT INTO closed_accounts (user_id) VALUES (${userId}::uuid)
          ON CONFLICT (user_id) DO NOTHING`;
        // Its pending transfer offers, made to it or by it, are void (CANCELLED, the status
        // of every voided offer): one to it could never be accepted, and would keep its
        // giver from offering the ticket to anyone else until it expired. Under the lock,
        // after the row: an offer to it is refused from here on, and an acceptance, which
        // takes the lock shared before the offer's row, either committed first (the count
        // above saw its ticket) or finds its offer cancelled. A reopening leaves them so.
        await tx.$executeRaw`
          UPDATE ticket_transfer_offers SET status = 'CANCELLED', resolved_at = now()
          WHERE status = 'PENDING'
            AND (to_user_id = ${userId}::uuid OR from_user_id = ${userId}::uuid)`;
        if (abandoned()) throw serviceUnavailable();
      }
      return count;
    });
  }

  /** Deletes the account's `closed_accounts` row: it may buy again. */
  async reopen(userId: string): Promise<void> {
    await this.#prisma.closedAccount.deleteMany({ where: { userId } });
  }

  /**
   * Releases what a closed account left, in one transaction: its waitlist entries leave their
   * queues (first, so that the stock its holds give back is offered to others), its holds
   * expire now (their stock and allowance return, and the stock is offered to those in line,
   * as any expired hold's), and its door-staff grants are revoked.
   */
  release(userId: string): Promise<void> {
    return retryOnConflict(() =>
      this.#prisma.$transaction(async (tx) => {
        await tx.$executeRaw`
          UPDATE waitlist_entries SET status = 'LEFT', waiting = 0, updated_at = now()
          WHERE user_id = ${userId}::uuid AND status IN ('WAITING', 'OFFERED')`;
        // Cut to the column's milliseconds: now() rounded up would not be expired yet.
        await tx.$executeRaw`
          UPDATE holds SET expires_at = date_trunc('milliseconds', now())
          WHERE user_id = ${userId}::uuid AND status = 'ACTIVE' AND expires_at > now()`;
        await this.#purchases.expireHolds({ userId }, tx);
        await tx.$executeRaw`DELETE FROM door_staff WHERE user_id = ${userId}::uuid`;
      }),
    );
  }
}
