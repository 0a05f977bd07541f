// Two writes on one ticket, order, tier or waitlist entry at once, through the gateway, with
// what the database holds checked after each race, not only the answers: a ticket refunded
// once, stock never below zero nor above capacity, no offer of stock that is not there.
// (Purchases, holds, scans, transfers and cancellations racing each other have their own
// tests: tickets, check-in, transfers, waitlist and cancellation-race.)
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptTransfer, buyTickets, offerTicket, scan } from './door.ts';
import { queuedBehindLock, type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, eventOnSale, signUp, strongPassword } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;

beforeAll(async () => {
  // Each buyer races many orders of one event: the per-person cap is not what is tested.
  supergraph = await startSupergraph({
    env: { WAITLIST_OFFER_SECONDS: '600', MAX_TICKETS_PER_EVENT: '1000' },
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
    await observer.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await observer.query<{ waiting: number }>(
      `SELECT count(*)::int AS waiting FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock'
         AND position($1 in query) > 0`,
      [statement],
    );
    if (rows[0]?.waiting) return;
    if (Date.now() > deadline) throw new Error(`"${statement}" neither answered nor waited`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('leaving the waitlist while stock comes back', () => {
  it('either offers the stock before the buyer leaves, and the leaving shows it, or not at all; the return succeeds', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Front', priceCents: 2000, currency: 'EUR', capacity: 1 },
      { name: 'Back', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const [front = '', back = ''] = tierIds;
    const holder = await signUp(supergraph);
    const waiter = await signUp(supergraph);
    const [ticket] = await buyTickets(supergraph, holder.accessToken, front);
    // The waiter's allowance row for the event exists, for the test to lock.
    await buyTickets(supergraph, waiter.accessToken, back);
    expect((await joinWaitlist(waiter, front)).data?.joinWaitlist.status).toBe('WAITING');

    // The return of stock reaches the queue, then waits to take the waiter's allowance; the
    // waiter leaves meanwhile: before the offer (nothing offered) or after it (the offer is
    // theirs, and the answer shows it), never half-way.
    let leaving: ReturnType<typeof leaveWaitlist> | undefined;
    const [cancelled] = await queuedBehindLock(
      supergraph,
      'tickets',
      {
        sql: 'SELECT 1 FROM event_allowances WHERE event_id = $1::uuid AND user_id = $2::uuid FOR UPDATE',
        params: [eventId, waiter.user.id],
      },
      [{ send: () => cancelTicket(holder, ticket?.id as string), waitsAt: 'offer_waitlist' }],
      async (holder) => {
        const sent = leaveWaitlist(waiter, front);
        leaving = sent;
        await settledOrWaiting(holder, sent, 'UPDATE waitlist_entries');
      },
    );
    const left = await leaving;

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
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Front', priceCents: 2000, currency: 'EUR', capacity: 1 },
      { name: 'Back', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const [front = '', back = ''] = tierIds;
    const holder = await signUp(supergraph);
    const waiter = await signUp(supergraph);
    const [ticket] = await buyTickets(supergraph, holder.accessToken, front);
    // The waiter's allowance row for the event, for the test to lock; they hold no ticket,
    // so their account may be deleted.
    const [own] = await buyTickets(supergraph, waiter.accessToken, back);
    expect((await cancelTicket(waiter, own?.id as string)).errors).toBeUndefined();
    expect((await joinWaitlist(waiter, front)).data?.joinWaitlist.status).toBe('WAITING');

    // The return of stock reaches the waiter's entry, then waits to take their allowance;
    // their account is closed meanwhile.
    let deleting: ReturnType<typeof deleteAccount> | undefined;
    const [cancelled] = await queuedBehindLock(
      supergraph,
      'tickets',
      {
        sql: 'SELECT 1 FROM event_allowances WHERE event_id = $1::uuid AND user_id = $2::uuid FOR UPDATE',
        params: [eventId, waiter.user.id],
      },
      [{ send: () => cancelTicket(holder, ticket?.id as string), waitsAt: 'offer_waitlist' }],
      async (observer) => {
        const sent = deleteAccount(waiter);
        deleting = sent;
        await settledOrWaiting(observer, sent, 'UPDATE waitlist_entries');
      },
    );
    const deleted = await deleting;

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
