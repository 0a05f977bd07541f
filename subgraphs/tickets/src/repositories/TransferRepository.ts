import { retryOnConflict } from '@ticketing/platform';
import type { PrismaClient, Ticket } from '@ticketing/prisma/tickets';
import { PurchaseRepository } from './PurchaseRepository.ts';

export type TransferOutcome =
  | { status: 'transferred'; ticket: Ticket }
  /** Not the giver's active, unadmitted ticket (any more): a racing transfer, a cancellation, a scan. */
  | { status: 'unavailable' }
  | { status: 'limitReached' };

/** Thrown inside the transaction to roll it back with an outcome. */
class Rollback extends Error {
  readonly outcome: TransferOutcome;

  constructor(outcome: TransferOutcome) {
    super(outcome.status);
    this.outcome = outcome;
  }
}

/**
 * Gives tickets from one account to another. A transfer is one transaction: the ticket
 * changes owner under a conditional update (still the giver's, active, not admitted), its
 * code and token version rotate, and the receiver's allowance takes it within the
 * per-person cap while the giver's gives it back.
 *
 * Locks: the ticket's row first, then the two allowance rows in user-id order, then (only
 * to return the receiver's expired holds) tier rows. A cancellation takes the ticket, then an allowance, then the tier; a purchase
 * an allowance, then the tier. So no transaction here waits in a circle with those, nor
 * with another transfer going the other way. Returning expired holds offers them to the
 * tier's waitlist, which locks waiters' allowances after the tier's row: a waiter's own
 * purchase at that moment can meet it in a lock cycle, and PostgreSQL rolls one side back
 * whole; this side then runs again (retryOnConflict), as every transaction on stock does.
 */
export class TransferRepository {
  readonly #prisma: PrismaClient;
  readonly #purchases: PurchaseRepository;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
    this.#purchases = new PurchaseRepository(prisma);
  }

  async transfer(request: {
    ticketId: string;
    fromUserId: string;
    toUserId: string;
    perUserCap: number;
  }): Promise<TransferOutcome> {
    const { ticketId, fromUserId, toUserId, perUserCap } = request;
    try {
      return await retryOnConflict(() =>
        this.#prisma.$transaction(
          async (tx) => {
            const [moved] = await tx.$queryRaw<{ eventId: string }[]>`
            UPDATE tickets
            SET owner_id = ${toUserId}::uuid, code = ticket_code(),
                token_version = token_version + 1
            WHERE id = ${ticketId}::uuid AND owner_id = ${fromUserId}::uuid
              AND status = 'ACTIVE' AND checked_in_at IS NULL
            RETURNING event_id::text AS "eventId"`;
            if (!moved) return { status: 'unavailable' } as const;
            const take = () => tx.$executeRaw`
            INSERT INTO event_allowances AS a (event_id, user_id, tickets)
            VALUES (${moved.eventId}::uuid, ${toUserId}::uuid, 1)
            ON CONFLICT (event_id, user_id) DO UPDATE SET tickets = a.tickets + 1
            WHERE a.tickets + 1 <= ${perUserCap}`;
            // As for a purchase: the receiver's expired holds that the sweeper has not returned
            // yet still count, so they are returned first when they are what stands in the way
            // (their allowance row, then their tiers: the lock order of every transaction).
            const receive = async () =>
              (await take()) > 0 ||
              ((await this.#purchases.expireHolds(
                { eventId: moved.eventId, userId: toUserId },
                tx,
              )) &&
                (await take()) > 0);
            const giveBack = () => tx.$executeRaw`
            UPDATE event_allowances SET tickets = tickets - 1
            WHERE event_id = ${moved.eventId}::uuid AND user_id = ${fromUserId}::uuid AND tickets > 0`;
            if (toUserId < fromUserId) {
              if (!(await receive())) throw new Rollback({ status: 'limitReached' });
              await giveBack();
            } else {
              await giveBack();
              if (!(await receive())) throw new Rollback({ status: 'limitReached' });
            }
            await tx.ticketTransfer.create({ data: { ticketId, fromUserId, toUserId } });
            const ticket = await tx.ticket.findUniqueOrThrow({ where: { id: ticketId } });
            return { status: 'transferred', ticket } as const;
          },
          { maxWait: 10_000, timeout: 12_000 },
        ),
      );
    } catch (error) {
      if (error instanceof Rollback) return error.outcome;
      throw error;
    }
  }
}
