// The events and tickets domain under requests that meet each other or come back later:
// a retry after the rules changed, two different mutations on the same object. Each
// answers as the rules say, with a stable code, and leaves nothing half done.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseMutation } from '../documents.ts';
import { acceptTransfer, buyTickets, offerTicket } from './door.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, eventOnSale, publishedEvent, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let buyer: AuthPayload;

const tier = { name: 'Balcony', priceCents: 3000, currency: 'EUR', capacity: 50, maxPerOrder: 6 };

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  buyer = await signUp(supergraph);
});
afterAll(async () => {
  await supergraph?.stop();
});

function purchase(input: Record<string, unknown>) {
  return supergraph.request<{ purchaseTickets: { id: string; tickets: { id: string }[] } }>(
    purchaseMutation,
    { input },
    { token: buyer.accessToken },
  );
}

describe('a purchase retried with its key', () => {
  it('after the organizer lowered the tier’s limit per order, answers with its order', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const input = { tierId: tierIds[0], quantity: 4, idempotencyKey: randomUUID() };
    const first = await purchase(input);
    expect(first.errors).toBeUndefined();
    const lowered = await supergraph.request(
      'mutation ($id: ID!) { updateTicketTier(id: $id, input: { maxPerOrder: 2 }) { maxPerOrder } }',
      { id: tierIds[0] },
      { token: organizer.accessToken },
    );
    expect(lowered.errors).toBeUndefined();

    const retried = await purchase(input);
    expect(retried.errors).toBeUndefined();
    expect(retried.data?.purchaseTickets.id).toBe(first.data?.purchaseTickets.id);
    expect(
      await supergraph.databases.tickets.ticket.count({ where: { tierId: tierIds[0] as string } }),
    ).toBe(4);
  });
});

/**
 * Runs `work` while this test holds the lock on an order's row: a refund or cancellation of
 * its tickets that has read them waits there, inside its transaction, until `work` is done.
 * Whatever `work` starts and leaves running is answered after the lock is let go.
 */
async function whileOrderLocked<T>(orderId: string, work: () => Promise<T>): Promise<T> {
  return supergraph.databases.tickets.$transaction(
    async (tx) => {
      await tx.$queryRaw`SELECT 1 FROM orders WHERE id = ${orderId}::uuid FOR UPDATE`;
      return work();
    },
    { timeout: 30_000 },
  );
}

/** Resolves once some transaction of the database waits for a row lock. */
async function someoneWaitsForALock(
  database: 'events' | 'tickets' = 'tickets',
  deadlineMs = 10_000,
): Promise<void> {
  const started = Date.now();
  for (;;) {
    const [{ waiting }] = await supergraph.databases[database].$queryRaw<[{ waiting: number }]>`
      SELECT count(*)::int AS waiting FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock'`;
    if (waiting > 0) return;
    if (Date.now() - started > deadlineMs) throw new Error('no request came to wait for the lock');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The buyer offers the ticket and the receiver accepts it: a whole transfer. */
async function transfer(ticketId: string, to: AuthPayload) {
  const offerId = await offerTicket(supergraph, buyer.accessToken, ticketId, to.user.email);
  if (!offerId) throw new Error('the offer was refused');
  return acceptTransfer(supergraph, to.accessToken, offerId);
}

describe('a ticket given away while its giver refunds or cancels it', () => {
  async function boughtTicket() {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [ticket] = await buyTickets(supergraph, buyer.accessToken, tierIds[0] as string, 1);
    const row = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: ticket?.id as string },
    });
    return { ticketId: row.id, orderId: row.orderId as string };
  }

  it('stays the receiver’s: the giver’s refund that read it as theirs is refused', async () => {
    const receiver = await signUp(supergraph);
    const { ticketId, orderId } = await boughtTicket();

    const [refund] = await whileOrderLocked(orderId, async () => {
      const pending = supergraph.request(
        'mutation ($orderId: ID!, $ticketIds: [ID!]) { refundOrder(orderId: $orderId, ticketIds: $ticketIds) { status } }',
        { orderId, ticketIds: [ticketId] },
        { token: buyer.accessToken },
      );
      await someoneWaitsForALock();
      expect((await transfer(ticketId, receiver)).errors).toBeUndefined();
      return [pending];
    });

    const refused = await refund;
    expect(codeOf(refused)).toBe('TICKET_TRANSFERRED');
    expect(refused.errors?.[0]?.extensions?.ticketIds).toEqual([ticketId]);
    const stored = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: ticketId },
    });
    expect(stored).toMatchObject({ status: 'ACTIVE', ownerId: receiver.user.id });
    expect(await supergraph.databases.tickets.refund.count({ where: { orderId } })).toBe(0);
  });

  it('stays the receiver’s: the giver’s cancellation that read it as theirs is refused', async () => {
    const receiver = await signUp(supergraph);
    const { ticketId, orderId } = await boughtTicket();

    const [cancellation] = await whileOrderLocked(orderId, async () => {
      const pending = supergraph.request(
        'mutation ($id: ID!) { cancelTicket(id: $id) { status } }',
        { id: ticketId },
        { token: buyer.accessToken },
      );
      await someoneWaitsForALock();
      expect((await transfer(ticketId, receiver)).errors).toBeUndefined();
      return [pending];
    });

    expect(codeOf(await cancellation)).toBe('NOT_FOUND');
    const stored = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: ticketId },
    });
    expect(stored).toMatchObject({ status: 'ACTIVE', ownerId: receiver.user.id });
  });
});

describe('a published event that is over', () => {
  const day = 86_400_000;
  const inDays = (days: number) => new Date(Date.now() + days * day);

  async function endedEvent() {
    const id = await publishedEvent(supergraph, organizer.accessToken, 'Took place');
    await supergraph.databases.events.event.update({
      where: { id },
      data: { startsAt: inDays(-2), endsAt: inDays(-1) },
    });
    return id;
  }

  function update(id: string, input: Record<string, unknown>) {
    return supergraph.request<{ updateEvent: { title: string } }>(
      'mutation ($id: ID!, $input: UpdateEventInput!) { updateEvent(id: $id, input: $input) { title } }',
      { id, input },
      { token: organizer.accessToken },
    );
  }

  it.each([
    ['its end moved into the future', { endsAt: inDays(1).toISOString() }, 'input.endsAt'],
    ['its end taken away', { endsAt: null }, 'input.endsAt'],
    [
      'both its times moved into the future',
      { startsAt: inDays(10).toISOString(), endsAt: inDays(11).toISOString() },
      'input.startsAt',
    ],
  ])('is refused %s, and cannot then be cancelled', async (_, input, field) => {
    const id = await endedEvent();
    const moved = await update(id, input);
    expect(moved.errors?.[0]?.extensions).toMatchObject({ code: 'EVENT_ENDED', field });
    const stored = await supergraph.databases.events.event.findUniqueOrThrow({ where: { id } });
    expect(stored.endsAt?.getTime()).toBeLessThan(Date.now());
    const cancelled = await supergraph.request(
      'mutation ($id: ID!) { cancelEvent(id: $id) { status } }',
      { id },
      { token: organizer.accessToken },
    );
    expect(codeOf(cancelled)).toBe('EVENT_ENDED');
  });

  it('still takes a new title', async () => {
    const id = await endedEvent();
    const renamed = await update(id, { title: 'Took place, with photos' });
    expect(renamed.errors).toBeUndefined();
    expect(renamed.data?.updateEvent.title).toBe('Took place, with photos');
  });
});

describe('an event whose times change while it is published or cancelled', () => {
  const hour = 3_600_000;

  /**
   * Starts `mutation` on the event, and, once it waits for the event's row, moves the
   * event's times as an update committed between its read and its write would have.
   */
  async function racedByATimeChange(
    id: string,
    mutation: string,
    times: { startsAt: Date; endsAt: Date | null },
  ) {
    const [pending] = await supergraph.databases.events.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT 1 FROM events WHERE id = ${id}::uuid FOR UPDATE`;
        const started = supergraph.request(mutation, { id }, { token: organizer.accessToken });
        await someoneWaitsForALock('events');
        await tx.event.update({ where: { id }, data: times });
        return [started];
      },
      { timeout: 30_000 },
    );
    return pending;
  }

  it('is not published once its start has moved into the past', async () => {
    const created = await supergraph.request<{ createEvent: { id: string } }>(
      'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id } }',
      {
        input: {
          title: 'Draft',
          venue: 'Hall',
          city: 'Ticketton',
          timezone: 'UTC',
          startsAt: new Date(Date.now() + 48 * hour).toISOString(),
        },
      },
      { token: organizer.accessToken },
    );
    const id = created.data?.createEvent.id as string;
    const published = await racedByATimeChange(
      id,
      'mutation ($id: ID!) { publishEvent(id: $id) { status } }',
      { startsAt: new Date(Date.now() - hour), endsAt: null },
    );
    expect(published.errors?.[0]?.extensions).toMatchObject({ code: 'EVENT_IN_PAST' });
    const stored = await supergraph.databases.events.event.findUniqueOrThrow({ where: { id } });
    expect(stored.status).toBe('DRAFT');
  });

  it('is not cancelled once its end has moved into the past', async () => {
    const id = await publishedEvent(supergraph, organizer.accessToken, 'Ends early');
    const cancelled = await racedByATimeChange(
      id,
      'mutation ($id: ID!) { cancelEvent(id: $id) { status } }',
      { startsAt: new Date(Date.now() - 2 * hour), endsAt: new Date(Date.now() - hour) },
    );
    expect(cancelled.errors?.[0]?.extensions).toMatchObject({ code: 'EVENT_ENDED' });
    const stored = await supergraph.databases.events.event.findUniqueOrThrow({ where: { id } });
    expect(stored.status).toBe('PUBLISHED');
  });
});

describe('a hold made while the organizer changes its tier', () => {
  it('is refused over the limit per order the organizer lowered meanwhile, and keeps nothing', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const tierId = tierIds[0] as string;
    const [held] = await supergraph.databases.tickets.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT 1 FROM ticket_tiers WHERE id = ${tierId}::uuid FOR UPDATE`;
        const started = supergraph.request(
          'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 5) { id } }',
          { tierId },
          { token: buyer.accessToken },
        );
        await someoneWaitsForALock();
        await tx.ticketTier.update({ where: { id: tierId }, data: { maxPerOrder: 2 } });
        return [started];
      },
      { timeout: 30_000 },
    );

    expect((await held).errors?.[0]?.extensions).toMatchObject({
      code: 'ORDER_LIMIT_EXCEEDED',
      field: 'quantity',
      maxPerOrder: 2,
    });
    const tickets = supergraph.databases.tickets;
    expect(await tickets.hold.count({ where: { tierId } })).toBe(0);
    expect(await tickets.ticketTier.findUniqueOrThrow({ where: { id: tierId } })).toMatchObject({
      held: 0,
      sold: 0,
    });
    expect(await tickets.eventAllowance.count({ where: { eventId } })).toBe(0);
  });
});
