// Two writes on one ticket, order, tier or waitlist entry at once, through the gateway, with
// what the database holds checked after each race, not only the answers: a ticket refunded
// once, stock and allowances equal to the tickets and holds behind them, no offer of stock
// that is not there, and a refusal that names what the ticket is. (Purchases against
// purchases, holds and cancellations of the event, scans against scans and transfers, and
// transfers against transfers have their own tests: tickets, check-in, transfers, waitlist,
// account-deletion and cancellation-race.)
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptTransfer, buyTickets, offerTicket, scan } from './door.ts';
import { queuedBehindLock, type Supergraph, startSupergraph, waitsForLock } from './harness.ts';
import {
  type AuthPayload,
  codeOf,
  eventOnSale,
  signUp,
  snapshotReaches,
  strongPassword,
} from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph({
    env: {
      WAITLIST_OFFER_SECONDS: '600',
      // A few accounts race many orders, holds and queues, and the organizer sends hundreds
      // of writes in seconds: the caps and the write budget are not what is tested here.
      MAX_TICKETS_PER_EVENT: '1000',
      MAX_ACTIVE_HOLDS: '1000',
      MAX_WAITLIST_ENTRIES: '1000',
      ACCOUNT_WRITES_PER_SECOND: '1000',
      ACCOUNT_WRITE_BURST: '100000',
      // The sweeper every 20 ms: a hold is bought as the sweeper returns it, not a second later.
      HOLD_SWEEP_INTERVAL_MS: '20',
    },
  });
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
});
afterAll(async () => {
  await supergraph?.stop();
});

const cancelTicket = (buyer: AuthPayload, id: string) =>
  supergraph.request<{ cancelTicket: { status: string } }>(
    'mutation ($id: ID!) { cancelTicket(id: $id) { status } }',
    { id },
    { token: buyer.accessToken },
  );

const joinWaitlist = (buyer: AuthPayload, tierId: string) =>
  supergraph.request<{ joinWaitlist: { status: string } }>(
    'mutation ($tierId: ID!) { joinWaitlist(tierId: $tierId, quantity: 1) { status } }',
    { tierId },
    { token: buyer.accessToken },
  );

const leaveWaitlist = (buyer: AuthPayload, tierId: string) =>
  supergraph.request<{ leaveWaitlist: { status: string; offers: { id: string }[] } }>(
    'mutation ($tierId: ID!) { leaveWaitlist(tierId: $tierId) { status offers { id } } }',
    { tierId },
    { token: buyer.accessToken },
  );

/** The tier's stock as stored, and its holds still active. */
async function stockOf(tierId: string) {
  const tickets = supergraph.databases.tickets;
  const tier = await tickets.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
  const holds = await tickets.hold.aggregate({
    where: { tierId, status: 'ACTIVE' },
    _sum: { quantity: true },
  });
  const sold = await tickets.ticket.count({ where: { tierId, status: 'ACTIVE' } });
  return {
    capacity: tier.capacity,
    sold: tier.sold,
    held: tier.held,
    activeTickets: sold,
    activeHolds: holds._sum.quantity ?? 0,
  };
}

/**
 * Resolves once `request` has answered, or its statement starting with `statement` waits
 * for a lock (seen from `observer`, a connection of the test's).
 */
async function settledOrWaiting(
  observer: pg.Client,
  request: Promise<unknown>,
  statement: string,
): Promise<void> {
  let settled = false;
  const settle = () => {
    settled = true;
  };
  request.then(settle, settle);
  for (const deadline = Date.now() + 10_000; !settled; ) {
    if (await waitsForLock(observer, statement)) return;
    if (Date.now() > deadline) throw new Error(`"${statement}" neither answered nor waited`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A tier of one seat (`front`) bought by `holder`, and `waiter` queued for it, whose allowance
 * row for the event exists (a ticket of another tier, given back when `ticketless`, so that
 * their account may be deleted), for the test to lock.
 */
async function waiterForOneSeat(ticketless: boolean) {
  const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
    { name: 'Front', priceCents: 2000, currency: 'EUR', capacity: 1 },
    { name: 'Back', priceCents: 1000, currency: 'EUR', capacity: 10 },
  ]);
  const [front = '', back = ''] = tierIds;
  const holder = await signUp(supergraph);
  const waiter = await signUp(supergraph);
  const [ticket] = await buyTickets(supergraph, holder.accessToken, front);
  const [own] = await buyTickets(supergraph, waiter.accessToken, back);
  if (ticketless) expect((await cancelTicket(waiter, own?.id as string)).errors).toBeUndefined();
  expect((await joinWaitlist(waiter, front)).data?.joinWaitlist.status).toBe('WAITING');
  return { eventId, front, holder, waiter, ticketId: ticket?.id as string };
}

/**
 * The holder cancels their ticket: its return of stock reaches the waiter's entry, then
 * waits to take the waiter's allowance, which the test holds until `act` has answered or
 * waits for the entry itself.
 */
async function cancelledWhile<T>(
  queue: Awaited<ReturnType<typeof waiterForOneSeat>>,
  act: () => Promise<T>,
) {
  let acting: Promise<T> | undefined;
  const [cancelled] = await queuedBehindLock(
    supergraph,
    'tickets',
    {
      sql: 'SELECT 1 FROM event_allowances WHERE event_id = $1::uuid AND user_id = $2::uuid FOR UPDATE',
      params: [queue.eventId, queue.waiter.user.id],
    },
    [{ send: () => cancelTicket(queue.holder, queue.ticketId), waitsAt: 'offer_waitlist' }],
    async (observer) => {
      acting = act();
      await settledOrWaiting(observer, acting, 'UPDATE waitlist_entries');
    },
  );
  return [cancelled, await (acting as Promise<T>)] as const;
}

describe('leaving the waitlist while stock comes back', () => {
  it('either offers the stock before the buyer leaves, and the leaving shows it, or not at all; the return succeeds', async () => {
    const queue = await waiterForOneSeat(false);
    const { eventId, front, waiter } = queue;

    // The waiter leaves meanwhile: before the offer (nothing offered) or after it (the offer
    // is theirs, and the answer shows it), never half-way.
    const [cancelled, left] = await cancelledWhile(queue, () => leaveWaitlist(waiter, front));

    expect(cancelled.errors).toBeUndefined();
    expect(cancelled.data?.cancelTicket.status).toBe('CANCELLED');
    expect(left?.errors).toBeUndefined();
    expect(left?.data?.leaveWaitlist.status).toBe('LEFT');
    const tickets = supergraph.databases.tickets;
    const entry = await tickets.waitlistEntry.findFirstOrThrow({
      where: { tierId: front, userId: waiter.user.id },
    });
    expect([entry.status, entry.waiting]).toEqual(['LEFT', 0]);
    const offers = await tickets.hold.findMany({
      where: { userId: waiter.user.id, status: 'ACTIVE' },
      select: { id: true },
    });
    expect(left?.data?.leaveWaitlist.offers).toEqual(offers);
    const offered = offers.length;
    expect(await stockOf(front)).toEqual({
      capacity: 1,
      sold: 0,
      held: offered,
      activeTickets: 0,
      activeHolds: offered,
    });
    const allowance = await tickets.eventAllowance.findFirstOrThrow({
      where: { eventId, userId: waiter.user.id },
    });
    expect(allowance.tickets).toBe(1 + offered);
  });
});

const deleteAccount = (account: AuthPayload) =>
  supergraph.request<{ deleteAccount: boolean }>(
    'mutation ($p: String!) { deleteAccount(password: $p) }',
    { p: strongPassword },
    { token: account.accessToken },
  );

describe('deleting a waiter’s account while stock comes back', () => {
  it('releases what is offered to the closed account, and the return of stock succeeds', async () => {
    const queue = await waiterForOneSeat(true);
    const { front, waiter } = queue;

    // Their account is closed meanwhile.
    const [cancelled, deleted] = await cancelledWhile(queue, () => deleteAccount(waiter));

    expect(cancelled.errors).toBeUndefined();
    expect(cancelled.data?.cancelTicket.status).toBe('CANCELLED');
    expect(deleted?.data).toEqual({ deleteAccount: true });
    const tickets = supergraph.databases.tickets;
    expect(await tickets.hold.count({ where: { userId: waiter.user.id, status: 'ACTIVE' } })).toBe(
      0,
    );
    expect(await stockOf(front)).toEqual({
      capacity: 1,
      sold: 0,
      held: 0,
      activeTickets: 0,
      activeHolds: 0,
    });
  });
});

const rounds = 20;

const refundOrder = (token: string, orderId: string, ticketIds?: string[]) =>
  supergraph.request<{ refundOrder: { status: string } }>(
    'mutation ($orderId: ID!, $ticketIds: [ID!]) { refundOrder(orderId: $orderId, ticketIds: $ticketIds) { status } }',
    { orderId, ...(ticketIds ? { ticketIds } : {}) },
    { token },
  );

const undoCheckIn = (token: string, ticketId: string, eventId: string) =>
  supergraph.request<{ undoCheckIn: { id: string } }>(
    'mutation ($ticketId: ID!, $eventId: ID!) { undoCheckIn(ticketId: $ticketId, eventId: $eventId) { id } }',
    { ticketId, eventId },
    { token },
  );

/** Sends both at once, the first of them first on even rounds and the second on odd ones. */
async function race<A, B>(round: number, a: () => Promise<A>, b: () => Promise<B>) {
  if (round % 2 === 0) return Promise.all([a(), b()]);
  const [second, first] = await Promise.all([b(), a()]);
  return [first, second] as const;
}

/**
 * What must hold of an event's tickets whatever raced: each tier's sold and held are its
 * active tickets and holds; each buyer's allowance, their active tickets and holds; a
 * refunded ticket is cancelled and was not admitted; an order's refunded amount is its
 * refunds' sum, within its total.
 */
async function expectConsistent(eventId: string) {
  const tickets = supergraph.databases.tickets;
  const tiers = await tickets.$queryRaw<
    { sold: number; held: number; active: number; holds: number }[]
  >`
    SELECT t.sold, t.held,
      (SELECT count(*)::int FROM tickets k WHERE k.tier_id = t.id AND k.status = 'ACTIVE') AS active,
      (SELECT coalesce(sum(h.quantity), 0)::int FROM holds h
       WHERE h.tier_id = t.id AND h.status = 'ACTIVE') AS holds
    FROM ticket_tiers t WHERE t.event_id = ${eventId}::uuid`;
  for (const tier of tiers) expect([tier.sold, tier.held]).toEqual([tier.active, tier.holds]);
  const allowances = await tickets.$queryRaw<{ allowance: number; owned: number }[]>`
    SELECT a.tickets AS allowance,
      (SELECT count(*)::int FROM tickets k
       WHERE k.event_id = a.event_id AND k.owner_id = a.user_id AND k.status = 'ACTIVE')
      + (SELECT coalesce(sum(h.quantity), 0)::int FROM holds h JOIN ticket_tiers t ON t.id = h.tier_id
         WHERE t.event_id = a.event_id AND h.user_id = a.user_id AND h.status = 'ACTIVE') AS owned
    FROM event_allowances a WHERE a.event_id = ${eventId}::uuid`;
  for (const row of allowances) expect(row.allowance).toBe(row.owned);
  const [refunded] = await tickets.$queryRaw<[{ wrong: number }]>`
    SELECT count(*)::int AS wrong FROM refund_tickets r JOIN tickets k ON k.id = r.ticket_id
    WHERE k.event_id = ${eventId}::uuid AND (k.status <> 'CANCELLED' OR k.checked_in_at IS NOT NULL)`;
  expect(refunded.wrong, 'refunded tickets still active or admitted').toBe(0);
  const [orders] = await tickets.$queryRaw<[{ wrong: number }]>`
    SELECT count(*)::int AS wrong FROM orders o
    WHERE o.id IN (SELECT order_id FROM tickets WHERE event_id = ${eventId}::uuid)
      AND (o.refunded_cents <> (SELECT coalesce(sum(amount_cents), 0) FROM refunds r WHERE r.order_id = o.id)
           OR o.refunded_cents > o.total_cents)`;
  expect(orders.wrong, 'orders whose refunded amount is not their refunds').toBe(0);
}

describe('refunds racing other writes on the same tickets', () => {
  let eventId: string;
  let tierId: string;
  let buyer: AuthPayload;
  let receiver: AuthPayload;

  beforeAll(async () => {
    ({
      eventId,
      tierIds: [tierId = ''],
    } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Floor', priceCents: 3000, currency: 'EUR', capacity: 1000, maxPerOrder: 10 },
    ]));
    buyer = await signUp(supergraph);
    receiver = await signUp(supergraph);
  });

  /** An order of two tickets of the buyer's. */
  async function order() {
    const bought = await buyTickets(supergraph, buyer.accessToken, tierId, 2);
    const row = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: bought[0]?.id as string },
    });
    return { id: row.orderId as string, tickets: bought };
  }

  const refundsOf = (orderId: string) =>
    supergraph.databases.tickets.refundedTicket.count({ where: { orderId } });

  it('refunds an order once when its buyer asks twice, or its buyer and organizer at once', async () => {
    for (let round = 0; round < rounds; round++) {
      const bought = await order();
      const other = round < rounds / 2 ? buyer : organizer;
      const answers = await race(
        round,
        () => refundOrder(buyer.accessToken, bought.id),
        () => refundOrder(other.accessToken, bought.id),
      );

      expect(
        answers.map((answer) => answer.data?.refundOrder.status ?? codeOf(answer)).sort(),
      ).toEqual(['ALREADY_REFUNDED', 'REFUNDED']);
      expect(await refundsOf(bought.id)).toBe(2);
      expect(
        await supergraph.databases.tickets.refund.count({ where: { orderId: bought.id } }),
      ).toBe(1);
      await expectConsistent(eventId);
    }
  });

  it('either refunds a ticket or admits it at the door, never both', async () => {
    for (let round = 0; round < rounds; round++) {
      const bought = await order();
      const [ticket] = bought.tickets;
      const [refunded, scanned] = await race(
        round,
        () => refundOrder(buyer.accessToken, bought.id, [ticket?.id as string]),
        () => scan(supergraph, organizer.accessToken, ticket?.code as string, eventId),
      );

      const outcome = `${refunded.data?.refundOrder.status ?? codeOf(refunded)} ${scanned.data ? 'ADMITTED' : codeOf(scanned)}`;
      expect(['PARTIALLY_REFUNDED TICKET_CANCELLED', 'TICKET_CHECKED_IN ADMITTED']).toContain(
        outcome,
      );
      await expectConsistent(eventId);
    }
  });

  it('either refunds an admitted ticket after its check-in is undone, or refuses it and undoes the check-in', async () => {
    for (let round = 0; round < rounds; round++) {
      const bought = await order();
      const [ticket] = bought.tickets;
      const ticketId = ticket?.id as string;
      expect(
        (await scan(supergraph, organizer.accessToken, ticket?.code as string, eventId)).errors,
      ).toBeUndefined();
      const [refunded, undone] = await race(
        round,
        () => refundOrder(organizer.accessToken, bought.id, [ticketId]),
        () => undoCheckIn(organizer.accessToken, ticketId, eventId),
      );

      expect(undone.errors).toBeUndefined();
      expect(['PARTIALLY_REFUNDED', 'TICKET_CHECKED_IN']).toContain(
        refunded.data?.refundOrder.status ?? codeOf(refunded),
      );
      await expectConsistent(eventId);
    }
  });

  it('either refunds a ticket offered to another, voiding the offer, or lets them accept it and refuses the refund', async () => {
    for (let round = 0; round < rounds; round++) {
      const bought = await order();
      const ticketId = bought.tickets[0]?.id as string;
      const offerId = await offerTicket(
        supergraph,
        buyer.accessToken,
        ticketId,
        receiver.user.email,
      );
      const [refunded, accepted] = await race(
        round,
        () => refundOrder(buyer.accessToken, bought.id, [ticketId]),
        () => acceptTransfer(supergraph, receiver.accessToken, offerId as string),
      );

      const outcome = `${refunded.data?.refundOrder.status ?? codeOf(refunded)} ${accepted.data ? 'ACCEPTED' : codeOf(accepted)}`;
      // The refund first voids the offer: the acceptance finds it cancelled, or finds the
      // ticket cancelled under it.
      expect([
        'PARTIALLY_REFUNDED TRANSFER_NOT_PENDING',
        'PARTIALLY_REFUNDED TICKET_CANCELLED',
        'TICKET_TRANSFERRED ACCEPTED',
      ]).toContain(outcome);
      const owner = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
        where: { id: ticketId },
      });
      expect(owner.ownerId).toBe(accepted.data ? receiver.user.id : buyer.user.id);
      await expectConsistent(eventId);
    }
  });

  it('either refunds a ticket or offers it to another, never a pending offer of a refunded ticket', async () => {
    for (let round = 0; round < rounds; round++) {
      const bought = await order();
      const ticketId = bought.tickets[0]?.id as string;
      const [refunded] = await race(
        round,
        () => refundOrder(buyer.accessToken, bought.id, [ticketId]),
        () => offerTicket(supergraph, buyer.accessToken, ticketId, receiver.user.email),
      );

      expect(refunded.data?.refundOrder.status).toBe('PARTIALLY_REFUNDED');
      expect(
        await supergraph.databases.tickets.ticketTransferOffer.count({
          where: { ticketId, status: 'PENDING' },
        }),
      ).toBe(0);
      await expectConsistent(eventId);
    }
  });
});

const purchase = (
  buyer: AuthPayload,
  input: { tierId: string; quantity: number } | { holdId: string },
) =>
  supergraph.request<{ purchaseTickets: { id: string; totalCents: number } }>(
    'mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id totalCents } }',
    { input: { ...input, idempotencyKey: randomUUID() } },
    { token: buyer.accessToken },
  );

const hold = (buyer: AuthPayload, tierId: string, quantity = 1) =>
  supergraph.request<{ holdTickets: { id: string } }>(
    'mutation ($tierId: ID!, $quantity: Int!) { holdTickets(tierId: $tierId, quantity: $quantity) { id } }',
    { tierId, quantity },
    { token: buyer.accessToken },
  );

const updateTier = (id: string, input: Record<string, unknown>) =>
  supergraph.request<{ updateTicketTier: { id: string } }>(
    'mutation ($id: ID!, $input: UpdateTicketTierInput!) { updateTicketTier(id: $id, input: $input) { id } }',
    { id, input },
    { token: organizer.accessToken },
  );

describe('cancelling an admitted ticket as its check-in is undone', () => {
  it('either refuses the cancellation as admitted, or cancels the ticket once it is not', async () => {
    const {
      eventId,
      tierIds: [tierId = ''],
    } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Balcony', priceCents: 1000, currency: 'EUR', capacity: 1000, maxPerOrder: 10 },
    ]);
    const owner = await signUp(supergraph);
    for (let round = 0; round < rounds; round++) {
      const [ticket] = await buyTickets(supergraph, owner.accessToken, tierId);
      const ticketId = ticket?.id as string;
      await scan(supergraph, organizer.accessToken, ticket?.code as string, eventId);
      const [cancelled, undone] = await race(
        round,
        () => cancelTicket(owner, ticketId),
        () => undoCheckIn(organizer.accessToken, ticketId, eventId),
      );

      expect(undone.errors).toBeUndefined();
      expect(['CANCELLED', 'TICKET_CHECKED_IN']).toContain(
        cancelled.data?.cancelTicket.status ?? codeOf(cancelled),
      );
      await expectConsistent(eventId);
    }
  });
});

describe('scanning an admitted ticket as its check-in is undone', () => {
  it('either admits it again, or refuses it with the time it was admitted', async () => {
    const {
      eventId,
      tierIds: [tierId = ''],
    } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Stage', priceCents: 1000, currency: 'EUR', capacity: 1000, maxPerOrder: 10 },
    ]);
    const owner = await signUp(supergraph);
    for (let round = 0; round < rounds; round++) {
      const [ticket] = await buyTickets(supergraph, owner.accessToken, tierId);
      const ticketId = ticket?.id as string;
      const first = await scan(supergraph, organizer.accessToken, ticket?.code as string, eventId);
      const [again, undone] = await race(
        round,
        () => scan(supergraph, organizer.accessToken, ticket?.code as string, eventId),
        () => undoCheckIn(organizer.accessToken, ticketId, eventId),
      );

      expect(undone.errors).toBeUndefined();
      const row = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
        where: { id: ticketId },
      });
      if (again.data) {
        expect(row.checkedInAt?.toISOString()).toBe(again.data.checkInTicket.checkedInAt);
      } else {
        expect(again.errors?.[0]?.extensions).toMatchObject({
          code: 'ALREADY_CHECKED_IN',
          checkedInAt: first.data?.checkInTicket.checkedInAt,
        });
        expect(row.checkedInAt).toBeNull();
      }
    }
  });
});

/** A new tier of `eventId`, on sale, as its organizer; resolves to its id. */
async function newTier(eventId: string, input: Record<string, unknown> = {}): Promise<string> {
  const created = await supergraph.request<{ createTicketTier: { id: string } }>(
    'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }',
    {
      eventId,
      input: {
        name: randomUUID().slice(0, 8),
        priceCents: 1000,
        currency: 'EUR',
        capacity: 5,
        ...input,
      },
    },
    { token: organizer.accessToken },
  );
  if (!created.data) throw new Error(`createTicketTier failed: ${JSON.stringify(created.errors)}`);
  return created.data.createTicketTier.id;
}

const deleteTier = (id: string) =>
  supergraph.request<{ deleteTicketTier: string }>(
    'mutation ($id: ID!) { deleteTicketTier(id: $id) }',
    { id },
    { token: organizer.accessToken },
  );

describe('a tier changed while it sells', () => {
  it('charges a purchase racing a price change the old price or the new, for every ticket', async () => {
    const {
      eventId,
      tierIds: [tierId = ''],
    } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Pit', priceCents: 1000, currency: 'EUR', capacity: 1000, maxPerOrder: 10 },
    ]);
    const buyer = await signUp(supergraph);
    for (let round = 0; round < rounds; round++) {
      const [before, after] = round % 2 ? [1500, 1000] : [1000, 1500];
      const [bought, changed] = await race(
        round,
        () => purchase(buyer, { tierId, quantity: 3 }),
        () => updateTier(tierId, { priceCents: after }),
      );

      expect(changed.errors).toBeUndefined();
      expect([3 * before, 3 * after]).toContain(bought.data?.purchaseTickets.totalCents);
      await expectConsistent(eventId);
    }
  });

  it('either sells the last seats or lowers the capacity to what is sold, never both', async () => {
    const {
      eventId,
      tierIds: [tierId = ''],
    } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Box', priceCents: 1000, currency: 'EUR', capacity: 1000, maxPerOrder: 10 },
    ]);
    const buyer = await signUp(supergraph);
    const tickets = supergraph.databases.tickets;
    for (let round = 0; round < rounds; round++) {
      const { sold } = await tickets.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
      await updateTier(tierId, { capacity: sold + 2 });
      const [bought, lowered] = await race(
        round,
        () => purchase(buyer, { tierId, quantity: 2 }),
        () => updateTier(tierId, { capacity: sold }),
      );

      const outcome = `${bought.data ? 'BOUGHT' : codeOf(bought)} ${lowered.data ? 'LOWERED' : codeOf(lowered)}`;
      expect(['BOUGHT CAPACITY_BELOW_SOLD', 'SOLD_OUT LOWERED']).toContain(outcome);
      await expectConsistent(eventId);
    }
  });

  it('either holds from a tier or deletes it, never a hold of no tier', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
    const buyer = await signUp(supergraph);
    for (let round = 0; round < rounds; round++) {
      const tierId = await newTier(eventId);
      const [held, deleted] = await race(
        round,
        () => hold(buyer, tierId),
        () => deleteTier(tierId),
      );

      const outcome = `${held.data ? 'HELD' : codeOf(held)} ${deleted.data ? 'DELETED' : codeOf(deleted)}`;
      expect(['HELD TIER_IN_USE', 'NOT_FOUND DELETED', 'SOLD_OUT DELETED']).toContain(outcome);
      await expectConsistent(eventId);
    }
  });

  it('either changes a tier and then deletes it, or deletes it and answers the change NOT_FOUND', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
    for (let round = 0; round < rounds; round++) {
      const tierId = await newTier(eventId);
      // Half the rounds change the capacity, half the price.
      const change = round % 4 < 2 ? { capacity: 8 } : { priceCents: 1200 };
      const [changed, deleted] = await race(
        round,
        () => updateTier(tierId, change),
        () => deleteTier(tierId),
      );

      expect(deleted.data).toEqual({ deleteTicketTier: tierId });
      expect(changed.data ? 'CHANGED' : codeOf(changed)).toMatch(/^(CHANGED|NOT_FOUND)$/);
    }
  });

  it('answers a join of a tier’s waitlist racing the tier’s deletion as not sold out or not found', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
    const buyer = await signUp(supergraph);
    for (let round = 0; round < rounds; round++) {
      const tierId = await newTier(eventId);
      const [joined, deleted] = await race(
        round,
        () => joinWaitlist(buyer, tierId),
        () => deleteTier(tierId),
      );

      expect(deleted.data).toEqual({ deleteTicketTier: tierId });
      expect(['TIER_NOT_SOLD_OUT', 'NOT_FOUND']).toContain(codeOf(joined));
    }
  });
});

/** Sets a hold to expire `ms` from now on the database's clock, which the sweeper reads. */
async function expireSoon(holdId: string, ms: number) {
  await supergraph.databases.tickets.$executeRaw`
    UPDATE holds SET expires_at = clock_timestamp() + make_interval(secs => ${ms / 1000}::float8)
    WHERE id = ${holdId}::uuid`;
}

describe('a hold bought as it expires', () => {
  it('is either bought, once, or returned to stock by the sweeper, never both', async () => {
    const {
      eventId,
      tierIds: [tierId = ''],
    } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Gallery', priceCents: 1000, currency: 'EUR', capacity: 1000, maxPerOrder: 10 },
    ]);
    const buyer = await signUp(supergraph);
    const tickets = supergraph.databases.tickets;
    const seen = new Set<string>();
    for (let round = 0; round < rounds; round++) {
      const held = await hold(buyer, tierId, 2);
      const holdId = held.data?.holdTickets.id as string;
      // Its end within the time a purchase takes, a little later each round.
      await expireSoon(holdId, (round % 10) * 20);
      const bought = await purchase(buyer, { holdId });

      const row = await tickets.hold.findUniqueOrThrow({ where: { id: holdId } });
      if (bought.data) {
        expect(row.status).toBe('PURCHASED');
        expect(
          await tickets.ticket.count({ where: { orderId: bought.data.purchaseTickets.id } }),
        ).toBe(2);
      } else {
        expect(codeOf(bought)).toBe('HOLD_EXPIRED');
        await waitForSweep(holdId);
      }
      seen.add(bought.data ? 'bought' : 'expired');
      await expectConsistent(eventId);
    }
    expect(seen, 'the expiry never came first, or always did').toEqual(
      new Set(['bought', 'expired']),
    );
  });
});

/** Resolves once the sweeper has returned an expired hold's stock. */
async function waitForSweep(holdId: string) {
  for (const deadline = Date.now() + 5_000; ; ) {
    const row = await supergraph.databases.tickets.hold.findUniqueOrThrow({
      where: { id: holdId },
    });
    if (row.status === 'EXPIRED') return;
    if (Date.now() > deadline) throw new Error('the sweeper never returned the hold');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the waitlist while stock comes back', () => {
  let waiters: AuthPayload[];
  let holders: AuthPayload[];
  let stranger: AuthPayload;

  beforeAll(async () => {
    waiters = [await signUp(supergraph), await signUp(supergraph), await signUp(supergraph)];
    holders = [await signUp(supergraph), await signUp(supergraph)];
    stranger = await signUp(supergraph);
  });

  /** A tier of `eventId` of `capacity` seats, each bought by one of the holders, and the waiters queued for it. */
  async function soldOutTier(eventId: string, capacity: number) {
    const tierId = await newTier(eventId, { capacity });
    const sold = [];
    for (const holder of holders.slice(0, capacity)) {
      const [ticket] = await buyTickets(supergraph, holder.accessToken, tierId);
      sold.push({ holder, ticketId: ticket?.id as string });
    }
    for (const waiter of waiters) {
      expect((await joinWaitlist(waiter, tierId)).data?.joinWaitlist.status).toBe('WAITING');
    }
    return { tierId, sold };
  }

  const offersOf = (tierId: string) =>
    supergraph.databases.tickets.hold.findMany({
      where: { tierId, status: 'ACTIVE', waitlistEntryId: { not: null } },
      orderBy: { id: 'asc' },
    });

  it('offers a returned seat to the first in line, never to a stranger buying it at that moment', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
    for (let round = 0; round < 6; round++) {
      const { tierId, sold } = await soldOutTier(eventId, 1);
      const [returned] = sold;
      const [cancelled, bought] = await race(
        round,
        () => cancelTicket(returned?.holder as AuthPayload, returned?.ticketId as string),
        () => purchase(stranger, { tierId, quantity: 1 }),
      );

      expect(cancelled.errors).toBeUndefined();
      expect(codeOf(bought)).toBe('SOLD_OUT');
      expect((await offersOf(tierId)).map((offer) => offer.userId)).toEqual([waiters[0]?.user.id]);
      await expectConsistent(eventId);
    }
  });

  it('offers two seats returned at once to the first two in line, one each', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
    for (let round = 0; round < 6; round++) {
      const { tierId, sold } = await soldOutTier(eventId, 2);
      const answers = await race(
        round,
        () => cancelTicket(sold[0]?.holder as AuthPayload, sold[0]?.ticketId as string),
        () => cancelTicket(sold[1]?.holder as AuthPayload, sold[1]?.ticketId as string),
      );

      expect(answers.map((answer) => answer.errors)).toEqual([undefined, undefined]);
      const offers = await offersOf(tierId);
      expect(offers.map((offer) => [offer.userId, offer.quantity]).sort()).toEqual(
        [
          [waiters[0]?.user.id, 1],
          [waiters[1]?.user.id, 1],
        ].sort(),
      );
      await expectConsistent(eventId);
    }
  });

  it('either sells an offer bought as it lapses, or passes it to the next in line, never both', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
    const seen = new Set<string>();
    for (let round = 0; round < 10; round++) {
      const { tierId, sold } = await soldOutTier(eventId, 1);
      await cancelTicket(sold[0]?.holder as AuthPayload, sold[0]?.ticketId as string);
      const [offer] = await offersOf(tierId);
      await expireSoon(offer?.id as string, (round % 5) * 40);
      const bought = await purchase(waiters[0] as AuthPayload, { holdId: offer?.id as string });

      if (bought.data) {
        expect(await offersOf(tierId)).toEqual([]);
      } else {
        expect(codeOf(bought)).toBe('HOLD_EXPIRED');
        await waitForSweep(offer?.id as string);
        expect((await offersOf(tierId)).map((next) => next.userId)).toEqual([waiters[1]?.user.id]);
      }
      seen.add(bought.data ? 'bought' : 'expired');
      await expectConsistent(eventId);
    }
    expect(seen, 'the expiry never came first, or always did').toEqual(
      new Set(['bought', 'expired']),
    );
  });
});

describe('a waiter buying elsewhere in the event as stock comes back to them', () => {
  it('is offered what the cap leaves them after that purchase, not passed over for good', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Front', priceCents: 2000, currency: 'EUR', capacity: 2, maxPerOrder: 2 },
      { name: 'Back', priceCents: 100, currency: 'EUR', capacity: 1000, maxPerOrder: 100 },
    ]);
    const [front = '', back = ''] = tierIds;
    const holder = await signUp(supergraph);
    const waiter = await signUp(supergraph);
    const bought = await buyTickets(supergraph, holder.accessToken, front, 2);
    const orderId = (
      await supergraph.databases.tickets.ticket.findUniqueOrThrow({
        where: { id: bought[0]?.id as string },
      })
    ).orderId as string;
    // The waiter holds all but 2 of the per-person cap (1,000 here), and queues for 2.
    for (const quantity of [100, 100, 100, 100, 100, 100, 100, 100, 100, 98]) {
      await buyTickets(supergraph, waiter.accessToken, back, quantity);
    }
    const joined = await supergraph.request<{ joinWaitlist: { status: string } }>(
      'mutation ($tierId: ID!) { joinWaitlist(tierId: $tierId, quantity: 2) { status } }',
      { tierId: front },
      { token: waiter.accessToken },
    );
    expect(joined.data?.joinWaitlist.status).toBe('WAITING');

    // The waiter's purchase of one more takes their allowance first; the refund of the two
    // seats, which read the room the cap left them before it, then comes to take it.
    const [purchased, refunded] = await queuedBehindLock(
      supergraph,
      'tickets',
      {
        sql: 'SELECT 1 FROM event_allowances WHERE event_id = $1::uuid AND user_id = $2::uuid FOR UPDATE',
        params: [eventId, waiter.user.id],
      },
      [
        {
          send: () => purchase(waiter, { tierId: back, quantity: 1 }),
          waitsAt: 'purchase_tickets',
        },
        { send: () => refundOrder(organizer.accessToken, orderId), waitsAt: 'offer_waitlist' },
      ],
    );

    expect(purchased.errors).toBeUndefined();
    expect(refunded.data?.refundOrder.status).toBe('REFUNDED');
    const tickets = supergraph.databases.tickets;
    const entry = await tickets.waitlistEntry.findFirstOrThrow({
      where: { tierId: front, userId: waiter.user.id },
    });
    const offers = await tickets.hold.findMany({
      where: { tierId: front, userId: waiter.user.id, status: 'ACTIVE' },
    });
    // One seat offered, all the cap leaves; the other still asked for, at the head of the line.
    expect(offers.map((offer) => offer.quantity)).toEqual([1]);
    expect([entry.status, entry.waiting]).toEqual(['WAITING', 1]);
    await expectConsistent(eventId);
  });
});

describe('a buyer’s refund as the event is cancelled', () => {
  it('pays back every ticket once: the buyer’s refund or the cancellation’s', async () => {
    const tickets = supergraph.databases.tickets;
    const buyer = await signUp(supergraph);
    for (let round = 0; round < 4; round++) {
      const {
        eventId,
        tierIds: [tierId = ''],
      } = await eventOnSale(supergraph, organizer.accessToken, [
        { name: 'Hall', priceCents: 2500, currency: 'EUR', capacity: 10 },
      ]);
      const bought = await buyTickets(supergraph, buyer.accessToken, tierId, 2);
      const ticketId = bought[0]?.id as string;
      const { orderId } = await tickets.ticket.findUniqueOrThrow({ where: { id: ticketId } });
      const [refunded, cancelled] = await race(
        round,
        () => refundOrder(buyer.accessToken, orderId as string, [ticketId]),
        () =>
          supergraph.request(
            'mutation ($id: ID!) { cancelEvent(id: $id) { id } }',
            { id: eventId },
            {
              token: organizer.accessToken,
            },
          ),
      );
      await snapshotReaches(supergraph, eventId, 'CANCELLED');

      expect(cancelled.errors).toBeUndefined();
      // The buyer's refund answers the order as it is once the refund is sent to the payment
      // provider: partly refunded, or refunded whole when the cancellation, committed after
      // it, refunded the other ticket meanwhile. Who refunded what is pinned below.
      expect(['PARTIALLY_REFUNDED', 'REFUNDED', 'ALREADY_REFUNDED']).toContain(
        refunded.data?.refundOrder.status ?? codeOf(refunded),
      );
      const order = await tickets.order.findUniqueOrThrow({
        where: { id: orderId as string },
        include: { refunds: true },
      });
      expect([order.status, order.refundedCents]).toEqual(['REFUNDED', 5000]);
      expect(await tickets.refundedTicket.count({ where: { orderId: order.id } })).toBe(2);
      expect(order.refunds.length).toBe(refunded.data ? 2 : 1);
      // The buyer's refund, when it won, paid back the ticket it named and that one only.
      if (refunded.data) {
        const [own] = await tickets.refundedTicket.findMany({ where: { ticketId } });
        const buyers = order.refunds.find((refund) => refund.id === own?.refundId);
        expect([buyers?.reason, buyers?.amountCents]).toEqual(['BUYER', 2500]);
      }
      await expectConsistent(eventId);
    }
  });
});

describe('deleting an account as the organizer refunds its last ticket', () => {
  it('deletes it only once the refund has taken the ticket, and refunds the ticket once', async () => {
    const {
      eventId,
      tierIds: [tierId = ''],
    } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Lawn', priceCents: 1500, currency: 'EUR', capacity: 100 },
    ]);
    const tickets = supergraph.databases.tickets;
    for (let round = 0; round < 6; round++) {
      const leaving = await signUp(supergraph);
      const [ticket] = await buyTickets(supergraph, leaving.accessToken, tierId);
      const ticketId = ticket?.id as string;
      const { orderId } = await tickets.ticket.findUniqueOrThrow({ where: { id: ticketId } });
      const [deleted, refunded] = await race(
        round,
        () => deleteAccount(leaving),
        () => refundOrder(organizer.accessToken, orderId as string),
      );

      expect(refunded.data?.refundOrder.status).toBe('REFUNDED');
      expect(deleted.data ? 'DELETED' : codeOf(deleted)).toMatch(/^(DELETED|ACCOUNT_HAS_TICKETS)$/);
      const closed = await tickets.closedAccount.count({ where: { userId: leaving.user.id } });
      expect(closed).toBe(deleted.data ? 1 : 0);
      expect(await tickets.refund.count({ where: { orderId: orderId as string } })).toBe(1);
      await expectConsistent(eventId);
    }
  });
});

describe("a race queued behind the test's lock", () => {
  it('lets the lock go only once every request waits, when they wait at the same statement', async () => {
    const {
      tierIds: [tierId = ''],
    } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Queue', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const statement = 'SELECT 1 FROM ticket_tiers WHERE id = $1::uuid FOR UPDATE';
    // Each request takes the tier's row on a connection of its own; the second comes late,
    // as a request does on a busy machine, after the first already waits at the same statement.
    const takeRow = async (lateMs: number) => {
      const client = new pg.Client({ connectionString: supergraph.databaseUrls.tickets });
      await client.connect();
      try {
        await new Promise((resolve) => setTimeout(resolve, lateMs));
        await client.query('BEGIN');
        await client.query(statement, [tierId]);
        await client.query('COMMIT');
      } finally {
        await client.end();
      }
    };
    let waitingAtRelease = 0;
    await queuedBehindLock(
      supergraph,
      'tickets',
      { sql: statement, params: [tierId] },
      [
        { send: () => takeRow(0), waitsAt: 'FROM ticket_tiers WHERE id' },
        { send: () => takeRow(1_000), waitsAt: 'FROM ticket_tiers WHERE id' },
      ],
      async (holder) => {
        await holder.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await holder.query<{ waiting: number }>(
          `SELECT count(*)::int AS waiting FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'
             AND position('FROM ticket_tiers WHERE id' in query) > 0`,
        );
        waitingAtRelease = rows[0]?.waiting ?? 0;
      },
    );
    // Both were in the lock's queue: the order they take it in is the order they were sent.
    expect(waitingAtRelease).toBe(2);
  });
});
