// Two writes on one ticket, order, tier or waitlist entry at once, through the gateway, with
// what the database holds checked after each race, not only the answers: a ticket refunded
// once, stock never below zero nor above capacity, no offer of stock that is not there.
// (Purchases, holds, scans, transfers and cancellations racing each other have their own
// tests: tickets, check-in, transfers, waitlist and cancellation-race.)
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyTickets } from './door.ts';
import { queuedBehindLock, type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, eventOnSale, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph({ env: { WAITLIST_OFFER_SECONDS: '600' } });
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
