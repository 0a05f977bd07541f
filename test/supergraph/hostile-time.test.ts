// Time boundaries through the gateway: an action just before, at or just after a boundary
// (an event's start, a refund's cutoff), or racing it, decided by the database's clock, and
// the same way whichever path reaches it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyTickets, offerTicket } from './door.ts';
import { queuedBehindLock, type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, eventOnSale, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let giver: AuthPayload;
let receiver: AuthPayload;

const tier = { name: 'Stalls', priceCents: 2000, currency: 'EUR', capacity: 50, maxPerOrder: 4 };

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  giver = await signUp(supergraph, { name: 'Gina Giver' });
  receiver = await signUp(supergraph, { name: 'Rex Receiver' });
});
afterAll(async () => {
  await supergraph?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The database's clock, which decides every boundary here. */
async function databaseNow(): Promise<Date> {
  const [row] = await supergraph.databases.tickets.$queryRaw<{ now: Date }[]>`
    SELECT clock_timestamp() AS now`;
  return (row as { now: Date }).now;
}

/** Moves the event's start, and waits until the tickets service has heard of it. */
async function moveStart(eventId: string, startsAt: Date, endsAt?: Date): Promise<void> {
  const moved = await supergraph.request(
    'mutation ($id: ID!, $input: UpdateEventInput!) { updateEvent(id: $id, input: $input) { id } }',
    { id: eventId, input: { startsAt: startsAt.toISOString(), endsAt: endsAt?.toISOString() } },
    { token: organizer.accessToken },
  );
  expect(moved.errors).toBeUndefined();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const snapshot = await supergraph.databases.tickets.eventSnapshot.findUnique({
      where: { eventId },
    });
    if (snapshot?.startsAt.getTime() === startsAt.getTime()) return;
    if (Date.now() > deadline) throw new Error('the tickets service did not hear of the move');
    await sleep(25);
  }
}

/** Sleeps until the database's clock is past `instant`. */
async function untilPast(instant: Date): Promise<void> {
  for (;;) {
    const now = await databaseNow();
    if (now > instant) return;
    await sleep(Math.min(200, instant.getTime() - now.getTime() + 20));
  }
}

describe('a transfer offer and the event brought forward', () => {
  it('expires at the new start: the receiver cannot take the ticket once the event began', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    const offerId = await offerTicket(
      supergraph,
      giver.accessToken,
      (ticket as { id: string }).id,
      receiver.user.email,
    );
    expect(offerId).toBeTruthy();

    // Brought forward to a moment away: the offer, made for the old start, must end with it.
    const newStart = new Date((await databaseNow()).getTime() + 1_500);
    await moveStart(eventId, newStart);
    await untilPast(newStart);

    const pending = await supergraph.request<{
      myTicketTransfers: { totalCount: number };
    }>('{ myTicketTransfers { totalCount } }', {}, { token: receiver.accessToken });
    expect(pending.data?.myTicketTransfers.totalCount).toBe(0);

    const accepted = await supergraph.request(
      'mutation ($id: ID!) { acceptTicketTransfer(id: $id) { id owner { id } } }',
      { id: offerId },
      { token: receiver.accessToken },
    );
    expect(codeOf(accepted)).toBe('TRANSFER_EXPIRED');
    const after = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: (ticket as { id: string }).id },
    });
    expect(after.ownerId).toBe(giver.user.id);
    // And it says so: it ended at the new start.
    const stored = await supergraph.databases.tickets.ticketTransferOffer.findUniqueOrThrow({
      where: { id: offerId as string },
    });
    expect(stored.status).toBe('EXPIRED');
    expect(stored.expiresAt.getTime()).toBeLessThanOrEqual(newStart.getTime());
  });
});

describe('a transfer offer and the event postponed', () => {
  const hour = 3_600_000;
  /** The default TRANSFER_OFFER_HOURS, which the harness leaves as it is. */
  const offerHours = 72;

  it('lasts its own lifetime past the old start, and is accepted after it', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    const ticketId = (ticket as { id: string }).id;
    // Offered the moment before the event starts: the offer ends with that start.
    const oldStart = new Date((await databaseNow()).getTime() + 1_500);
    await moveStart(eventId, oldStart);
    const offerId = await offerTicket(supergraph, giver.accessToken, ticketId, receiver.user.email);
    expect(offerId).toBeTruthy();
    const made = await supergraph.databases.tickets.ticketTransferOffer.findUniqueOrThrow({
      where: { id: offerId as string },
    });
    expect(made.expiresAt.getTime()).toBe(oldStart.getTime());

    // Postponed by a month: the offer runs its own lifetime, from when it was made.
    await moveStart(eventId, new Date(oldStart.getTime() + 30 * 24 * hour));
    await untilPast(oldStart);
    const moved = await supergraph.databases.tickets.ticketTransferOffer.findUniqueOrThrow({
      where: { id: offerId as string },
    });
    expect(moved.status).toBe('PENDING');
    expect(
      Math.abs(moved.expiresAt.getTime() - (made.createdAt.getTime() + offerHours * hour)),
    ).toBeLessThan(5_000);

    const accepted = await supergraph.request<{ acceptTicketTransfer: { owner: { id: string } } }>(
      'mutation ($id: ID!) { acceptTicketTransfer(id: $id) { id owner { id } } }',
      { id: offerId },
      { token: receiver.accessToken },
    );
    expect(accepted.errors).toBeUndefined();
    expect(accepted.data?.acceptTicketTransfer.owner.id).toBe(receiver.user.id);
    const after = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: ticketId },
    });
    expect(after.ownerId).toBe(receiver.user.id);
  });

  it('ends at the new start when that comes before its own lifetime ends', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    const ticketId = (ticket as { id: string }).id;
    const oldStart = new Date((await databaseNow()).getTime() + 60_000);
    await moveStart(eventId, oldStart);
    const offerId = await offerTicket(supergraph, giver.accessToken, ticketId, receiver.user.email);
    // Postponed by two hours, well within the offer's 72: it ends at the new start.
    const newStart = new Date(oldStart.getTime() + 2 * hour);
    await moveStart(eventId, newStart);
    const moved = await supergraph.databases.tickets.ticketTransferOffer.findUniqueOrThrow({
      where: { id: offerId as string },
    });
    expect(moved.status).toBe('PENDING');
    expect(moved.expiresAt.getTime()).toBe(newStart.getTime());
  });

  it('does not revive an offer that expired at the old start', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    const ticketId = (ticket as { id: string }).id;
    const oldStart = new Date((await databaseNow()).getTime() + 1_500);
    await moveStart(eventId, oldStart, new Date(oldStart.getTime() + 3 * hour));
    const offerId = await offerTicket(supergraph, giver.accessToken, ticketId, receiver.user.email);
    await untilPast(oldStart);
    // Postponed once under way (which expired the offer): the offer stays over.
    const newStart = new Date(oldStart.getTime() + 30 * 24 * hour);
    await moveStart(eventId, newStart, new Date(newStart.getTime() + 3 * hour));
    const accepted = await supergraph.request(
      'mutation ($id: ID!) { acceptTicketTransfer(id: $id) { id owner { id } } }',
      { id: offerId },
      { token: receiver.accessToken },
    );
    expect(codeOf(accepted)).toBe('TRANSFER_EXPIRED');
    const after = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: ticketId },
    });
    expect(after.ownerId).toBe(giver.user.id);
  });
});

/**
 * Sends `request` while a transaction of the test's own holds `lock`, waits until the request's
 * statement `waitsAt` waits for it, then until the database's clock is past `boundary`, and
 * only then lets the lock go: the request arrived before the boundary and commits after it.
 */
async function heldPast<Answer>(
  lock: { sql: string; params: unknown[]; database?: 'events' | 'tickets' },
  waitsAt: string,
  boundary: Date,
  request: () => Promise<Answer>,
): Promise<Answer> {
  const { database = 'tickets', ...held } = lock;
  const [answer] = await queuedBehindLock(
    supergraph,
    database,
    held,
    [{ send: request, waitsAt }],
    async (holder) => {
      const { rows } = await holder.query<{ before: boolean }>(
        'SELECT clock_timestamp() < $1 AS before',
        [boundary],
      );
      // The race was run: the request was waiting before the boundary.
      expect(rows[0]?.before).toBe(true);
      await untilPast(boundary);
    },
  );
  return answer;
}

// The busy tier's row: another sale's write of it, not yet committed.
const busyTier = (tierId: string) => ({
  sql: 'UPDATE ticket_tiers SET updated_at = updated_at WHERE id = $1',
  params: [tierId],
});

/** The receiver buys two of the tier's tickets, with a key of their own. */
const buyTwo = (tierId: string) =>
  supergraph.request(
    'mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id } }',
    { input: { tierId, quantity: 2, idempotencyKey: crypto.randomUUID() } },
    { token: receiver.accessToken },
  );

/** The receiver holds two of the tier's tickets. */
const holdTwo = (tierId: string) =>
  supergraph.request<{ holdTickets: { id: string } }>(
    'mutation ($tierId: ID!, $quantity: Int!) { holdTickets(tierId: $tierId, quantity: $quantity) { id } }',
    { tierId, quantity: 2 },
    { token: receiver.accessToken },
  );

/** The receiver's refused purchase left no ticket, no sale and no allowance. */
async function expectNothingSold(eventId: string, tierId: string): Promise<void> {
  const { tickets } = supergraph.databases;
  expect(await tickets.ticket.count({ where: { tierId } })).toBe(0);
  expect((await tickets.ticketTier.findUniqueOrThrow({ where: { id: tierId } })).sold).toBe(0);
  expect(await tickets.eventAllowance.count({ where: { eventId, userId: receiver.user.id } })).toBe(
    0,
  );
}

/** The refused hold left no hold and nothing held. */
async function expectNothingHeld(tierId: string): Promise<void> {
  const { tickets } = supergraph.databases;
  expect(await tickets.hold.count({ where: { tierId } })).toBe(0);
  expect((await tickets.ticketTier.findUniqueOrThrow({ where: { id: tierId } })).held).toBe(0);
}

const cutoffHours = 48;

describe('a transfer offered as the event starts', () => {
  it('is refused when the offer is made after the start, though asked before', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    const ticketId = (ticket as { id: string }).id;
    const start = new Date((await databaseNow()).getTime() + 1_500);
    await moveStart(eventId, start);

    const offered = await heldPast(
      { sql: 'SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE', params: [ticketId] },
      'FROM tickets t',
      start,
      () =>
        supergraph.request(
          'mutation ($id: ID!, $toEmail: String!) { transferTicket(id: $id, toEmail: $toEmail) { id pendingTransfer { id expiresAt } } }',
          { id: ticketId, toEmail: receiver.user.email },
          { token: giver.accessToken },
        ),
    );
    expect(codeOf(offered)).toBe('EVENT_STARTED');
    expect(
      await supergraph.databases.tickets.ticketTransferOffer.count({ where: { ticketId } }),
    ).toBe(0);
  });
});

describe('a transfer accepted as its offer expires', () => {
  it('is refused when it commits after the expiry, though asked before', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    const ticketId = (ticket as { id: string }).id;
    const offerId = await offerTicket(supergraph, giver.accessToken, ticketId, receiver.user.email);
    // The offer ends with the event's start, a moment from now.
    const start = new Date((await databaseNow()).getTime() + 1_500);
    await moveStart(eventId, start);

    const accepted = await heldPast(
      { sql: 'SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE', params: [ticketId] },
      'FROM tickets WHERE id',
      start,
      () =>
        supergraph.request(
          'mutation ($id: ID!) { acceptTicketTransfer(id: $id) { id owner { id } } }',
          { id: offerId },
          { token: receiver.accessToken },
        ),
    );
    expect(codeOf(accepted)).toBe('TRANSFER_EXPIRED');
    const after = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: ticketId },
    });
    expect(after.ownerId).toBe(giver.user.id);
    const offer = await supergraph.databases.tickets.ticketTransferOffer.findUniqueOrThrow({
      where: { id: offerId as string },
    });
    expect(offer.status).toBe('EXPIRED');
  });
});

describe('a transfer offer settled as it expires', () => {
  it.each([
    ['declined by its receiver', 'declineTicketTransfer', () => receiver],
    ['cancelled by its giver', 'cancelTicketTransfer', () => giver],
  ])(
    'is not %s when that commits after the expiry, though asked before',
    async (_, mutation, party) => {
      const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
      const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
      const ticketId = (ticket as { id: string }).id;
      const offerId = await offerTicket(
        supergraph,
        giver.accessToken,
        ticketId,
        receiver.user.email,
      );
      // The offer ends with the event's start, a moment from now.
      const start = new Date((await databaseNow()).getTime() + 1_500);
      await moveStart(eventId, start);

      const settled = await heldPast(
        { sql: 'SELECT 1 FROM ticket_transfer_offers WHERE id = $1 FOR UPDATE', params: [offerId] },
        'ticket_transfer_offers',
        start,
        () =>
          supergraph.request(
            `mutation ($id: ID!) { ${mutation}(id: $id) { id status } }`,
            { id: offerId },
            { token: party().accessToken },
          ),
      );
      // It had expired by then: it says so, and is recorded as such.
      expect(codeOf(settled)).toBe('TRANSFER_NOT_PENDING');
      expect(settled.errors?.[0]?.extensions?.status).toBe('EXPIRED');
      const offer = await supergraph.databases.tickets.ticketTransferOffer.findUniqueOrThrow({
        where: { id: offerId as string },
      });
      expect(offer.status).toBe('EXPIRED');
    },
  );
});

describe("a buyer's refund and its cutoff", () => {
  it('is refused when it commits after the cutoff, though it was asked just before', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    const ticketId = (ticket as { id: string }).id;
    const { orderId } = (await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: ticketId },
    })) as { orderId: string };
    // The refund window closes a moment from now.
    const cutoff = new Date((await databaseNow()).getTime() + 1_500);
    await moveStart(eventId, new Date(cutoff.getTime() + cutoffHours * 3_600_000));

    const refunded = await heldPast(
      { sql: 'SELECT 1 FROM orders WHERE id = $1 FOR UPDATE', params: [orderId] },
      'FROM orders',
      cutoff,
      () =>
        supergraph.request(
          'mutation ($id: ID!) { refundOrder(orderId: $id) { id status refundedCents } }',
          { id: orderId },
          { token: giver.accessToken },
        ),
    );
    expect(codeOf(refunded)).toBe('REFUND_WINDOW_CLOSED');
    expect(refunded.errors?.[0]?.extensions?.refundableUntil).toBe(cutoff.toISOString());
    const after = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: ticketId },
    });
    expect(after.status).toBe('ACTIVE');
    expect(await supergraph.databases.tickets.refund.count({ where: { orderId } })).toBe(0);
  });
});

describe("an event's own times, raced by its organizer", () => {
  const eventLock = (id: string) => ({
    sql: 'SELECT 1 FROM events WHERE id = $1 FOR UPDATE',
    params: [id],
    database: 'events' as const,
  });
  // The write's statement on the event's row, whichever it is, waiting for the test's lock.
  const waitsAt = 'events';
  const stored = (id: string) =>
    supergraph.databases.events.event.findUniqueOrThrow({ where: { id } });

  it('refuses a cancellation that commits after the event is over, though asked before', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    // No end: the event is over once it starts, a moment from now.
    const start = new Date((await databaseNow()).getTime() + 1_500);
    await moveStart(eventId, start);
    const before = await stored(eventId);

    const cancelled = await heldPast(eventLock(eventId), waitsAt, start, () =>
      supergraph.request(
        'mutation ($id: ID!) { cancelEvent(id: $id) { id status } }',
        { id: eventId },
        { token: organizer.accessToken },
      ),
    );
    expect(codeOf(cancelled)).toBe('EVENT_ENDED');
    expect(cancelled.errors?.[0]?.extensions?.endedAt).toBe(start.toISOString());
    const after = await stored(eventId);
    expect(after.status).toBe('PUBLISHED');
    expect(after.version).toBe(before.version);
    expect(
      await supergraph.databases.events.outboxMessage.count({
        where: { eventId, topic: 'event.cancelled' },
      }),
    ).toBe(0);
    const held = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: (ticket as { id: string }).id },
    });
    expect(held.status).toBe('ACTIVE');
  });

  it('refuses moving the times of an event that is over by the time the change commits', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const start = new Date((await databaseNow()).getTime() + 1_500);
    await moveStart(eventId, start);
    const before = await stored(eventId);

    const later = new Date(start.getTime() + 20 * 86_400_000);
    const moved = await heldPast(eventLock(eventId), waitsAt, start, () =>
      supergraph.request(
        'mutation ($id: ID!, $input: UpdateEventInput!) { updateEvent(id: $id, input: $input) { id startsAt } }',
        { id: eventId, input: { startsAt: later.toISOString() } },
        { token: organizer.accessToken },
      ),
    );
    expect(codeOf(moved)).toBe('EVENT_ENDED');
    expect(moved.errors?.[0]?.extensions?.field).toBe('input.startsAt');
    const after = await stored(eventId);
    expect(after.startsAt.getTime()).toBe(start.getTime());
    expect(after.version).toBe(before.version);
  });

  it('refuses a publication that commits after the start, though asked before', async () => {
    const created = await supergraph.request<{ createEvent: { id: string } }>(
      'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id } }',
      {
        input: {
          title: 'Soon',
          venue: 'Hall',
          city: 'Ticketton',
          timezone: 'Europe/Berlin',
          startsAt: new Date((await databaseNow()).getTime() + 1_500).toISOString(),
        },
      },
      { token: organizer.accessToken },
    );
    const eventId = created.data?.createEvent.id as string;
    const { startsAt } = await stored(eventId);

    const published = await heldPast(eventLock(eventId), waitsAt, startsAt, () =>
      supergraph.request(
        'mutation ($id: ID!) { publishEvent(id: $id) { id status } }',
        { id: eventId },
        { token: organizer.accessToken },
      ),
    );
    expect(codeOf(published)).toBe('EVENT_IN_PAST');
    expect((await stored(eventId)).status).toBe('DRAFT');
  });
});

describe("joining a waitlist as the tier's sales end", () => {
  it('is refused when the join is made after the end, though asked before', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { ...tier, name: 'Last call', capacity: 1 },
    ]);
    const tierId = tierIds[0] as string;
    await buyTickets(supergraph, giver.accessToken, tierId);
    // Sold out, and its sales end a moment from now.
    const salesEndAt = new Date((await databaseNow()).getTime() + 1_500);
    const closing = await supergraph.request(
      'mutation ($id: ID!, $input: UpdateTicketTierInput!) { updateTicketTier(id: $id, input: $input) { id } }',
      { id: tierId, input: { salesEndAt: salesEndAt.toISOString() } },
      { token: organizer.accessToken },
    );
    expect(closing.errors).toBeUndefined();

    const joined = await heldPast(
      { sql: 'SELECT 1 FROM ticket_tiers WHERE id = $1 FOR UPDATE', params: [tierId] },
      'FROM ticket_tiers t WHERE t.id',
      salesEndAt,
      () =>
        supergraph.request(
          'mutation ($tierId: ID!) { joinWaitlist(tierId: $tierId, quantity: 1) { status } }',
          { tierId },
          { token: receiver.accessToken },
        ),
    );
    expect(codeOf(joined)).toBe('SALES_CLOSED');
    expect(joined.errors?.[0]?.extensions?.salesEndAt).toBe(salesEndAt.toISOString());
    expect(await supergraph.databases.tickets.waitlistEntry.count({ where: { tierId } })).toBe(0);
  });
});

describe("an event's dates, kept to those a ticketing platform sells", () => {
  const day = 86_400_000;
  const create = (input: Record<string, unknown>) =>
    supergraph.request<{ createEvent: { id: string } }>(
      'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id } }',
      { input: { title: 'Dated', venue: 'Hall', city: 'Ticketton', timezone: 'UTC', ...input } },
      { token: organizer.accessToken },
    );
  const update = (id: string, input: Record<string, unknown>) =>
    supergraph.request(
      'mutation ($id: ID!, $input: UpdateEventInput!) { updateEvent(id: $id, input: $input) { id } }',
      { id, input },
      { token: organizer.accessToken },
    );
  const countEvents = () =>
    supergraph.databases.events.event.count({ where: { organizerId: organizer.user.id } });
  const inDays = (days: number) => new Date(Date.now() + days * day);

  it.each([
    ['in year 1', { startsAt: '0001-01-01T00:00:00Z' }, 'input.startsAt'],
    ['before 1970', { startsAt: '1969-12-31T23:59:59Z' }, 'input.startsAt'],
    ['more than 10 years ahead', { startsAt: inDays(11 * 366).toISOString() }, 'input.startsAt'],
    ['in year 9999', { startsAt: '9999-12-31T00:00:00Z' }, 'input.startsAt'],
    [
      'lasting a century',
      { startsAt: inDays(30).toISOString(), endsAt: inDays(30 + 100 * 365).toISOString() },
      'input.endsAt',
    ],
    [
      'lasting over a year',
      { startsAt: inDays(30).toISOString(), endsAt: inDays(30 + 367).toISOString() },
      'input.endsAt',
    ],
  ])('refuses creating an event %s, and writes nothing', async (_, dates, field) => {
    const before = await countEvents();
    const created = await create(dates);
    expect(codeOf(created)).toBe('BAD_USER_INPUT');
    expect(created.errors?.[0]?.extensions?.field).toBe(field);
    expect(JSON.stringify(created.errors)).not.toMatch(/\n\s+at /);
    expect(await countEvents()).toBe(before);
  });

  it('takes the edges: a draft from 1970, one 9 years ahead, one lasting a year', async () => {
    for (const dates of [
      { startsAt: '1970-01-01T00:00:00Z' },
      { startsAt: inDays(9 * 365).toISOString() },
      { startsAt: inDays(30).toISOString(), endsAt: inDays(30 + 366).toISOString() },
    ]) {
      const created = await create(dates);
      expect(created.errors).toBeUndefined();
      expect(created.data?.createEvent.id).toBeTruthy();
    }
  });

  it.each([
    ['a start in year 1', { startsAt: '0001-01-01T00:00:00Z' }, 'input.startsAt'],
    ['a start 20 years ahead', { startsAt: inDays(20 * 365).toISOString() }, 'input.startsAt'],
    ['an end a century on', { endsAt: inDays(30 + 100 * 365).toISOString() }, 'input.endsAt'],
    // The end stays; the start moved two years before it.
    [
      'a start two years before its end',
      { startsAt: inDays(-700).toISOString() },
      'input.startsAt',
    ],
  ])('refuses editing a draft to %s, and changes nothing', async (_, dates, field) => {
    const created = await create({
      startsAt: inDays(30).toISOString(),
      endsAt: inDays(31).toISOString(),
    });
    const id = created.data?.createEvent.id as string;
    const before = await supergraph.databases.events.event.findUniqueOrThrow({ where: { id } });
    const updated = await update(id, dates);
    expect(codeOf(updated)).toBe('BAD_USER_INPUT');
    expect(updated.errors?.[0]?.extensions?.field).toBe(field);
    const after = await supergraph.databases.events.event.findUniqueOrThrow({ where: { id } });
    expect(after.startsAt.getTime()).toBe(before.startsAt.getTime());
    expect(after.endsAt?.getTime()).toBe(before.endsAt?.getTime());
    expect(after.version).toBe(before.version);
  });

  // Each edit fits the event as it read it; the two together do not. The second to reach
  // the event's row is refused, naming the field it set, and the event keeps the first.
  it.each([
    [
      'last over a year',
      { startsAt: inDays(10).toISOString() },
      { endsAt: inDays(30 + 360).toISOString() },
    ],
    [
      'end before it starts',
      { startsAt: inDays(35).toISOString() },
      { endsAt: inDays(32).toISOString() },
    ],
  ])(
    'refuses the second of two racing edits that together would have it %s',
    async (_, first, second) => {
      const endsAt = inDays(30 + 300);
      const created = await create({
        startsAt: inDays(30).toISOString(),
        endsAt: endsAt.toISOString(),
      });
      const id = created.data?.createEvent.id as string;
      const [moved, refused] = await queuedBehindLock(
        supergraph,
        'events',
        { sql: 'SELECT 1 FROM events WHERE id = $1 FOR UPDATE', params: [id] },
        [
          { send: () => update(id, first), waitsAt: 'FOR UPDATE' },
          { send: () => update(id, second), waitsAt: 'FOR UPDATE' },
        ],
      );
      expect(moved.errors).toBeUndefined();
      expect(codeOf(refused)).toBe('BAD_USER_INPUT');
      expect(refused.errors?.[0]?.extensions?.field).toBe('input.endsAt');
      expect(JSON.stringify(refused.errors)).not.toMatch(/\n\s+at /);
      const after = await supergraph.databases.events.event.findUniqueOrThrow({ where: { id } });
      expect(after.startsAt.toISOString()).toBe(first.startsAt);
      expect(after.endsAt?.getTime()).toBe(endsAt.getTime());
      const lasts = (after.endsAt?.getTime() ?? 0) - after.startsAt.getTime();
      expect(lasts).toBeGreaterThan(0);
      expect(lasts).toBeLessThanOrEqual(366 * day);
    },
  );
});

describe("a sale as the tier's sales end", () => {
  /** A tier whose sales end a moment from now. */
  async function closingTier(): Promise<{ eventId: string; tierId: string; salesEndAt: Date }> {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { ...tier, name: 'Closing' },
    ]);
    const tierId = tierIds[0] as string;
    const salesEndAt = new Date((await databaseNow()).getTime() + 1_500);
    const closing = await supergraph.request(
      'mutation ($id: ID!, $input: UpdateTicketTierInput!) { updateTicketTier(id: $id, input: $input) { id } }',
      { id: tierId, input: { salesEndAt: salesEndAt.toISOString() } },
      { token: organizer.accessToken },
    );
    expect(closing.errors).toBeUndefined();
    return { eventId, tierId, salesEndAt };
  }

  it('is refused when the purchase reaches the stock after the end, though asked before', async () => {
    const { eventId, tierId, salesEndAt } = await closingTier();
    const bought = await heldPast(busyTier(tierId), 'purchase_tickets', salesEndAt, () =>
      buyTwo(tierId),
    );
    expect(codeOf(bought)).toBe('SALES_CLOSED');
    expect(bought.errors?.[0]?.extensions?.salesEndAt).toBe(salesEndAt.toISOString());
    await expectNothingSold(eventId, tierId);
  });

  it('is refused when the hold reaches the stock after the end, though asked before', async () => {
    const { tierId, salesEndAt } = await closingTier();
    const held = await heldPast(busyTier(tierId), 'held = held', salesEndAt, () => holdTwo(tierId));
    expect(codeOf(held)).toBe('SALES_CLOSED');
    await expectNothingHeld(tierId);
  });
});

describe('a sale as the event starts', () => {
  /** An event on sale that starts a moment from now, and its one tier. */
  async function startingEvent(): Promise<{ eventId: string; tierId: string; start: Date }> {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { ...tier, name: 'Starting' },
    ]);
    const start = new Date((await databaseNow()).getTime() + 1_500);
    await moveStart(eventId, start);
    return { eventId, tierId: tierIds[0] as string, start };
  }

  it('is refused when the purchase reaches the stock after the start, though asked before', async () => {
    const { eventId, tierId, start } = await startingEvent();
    const bought = await heldPast(busyTier(tierId), 'purchase_tickets', start, () =>
      buyTwo(tierId),
    );
    expect(codeOf(bought)).toBe('SALES_CLOSED');
    await expectNothingSold(eventId, tierId);
  });

  it('is refused when the hold reaches the stock after the start, though asked before', async () => {
    const { tierId, start } = await startingEvent();
    const held = await heldPast(busyTier(tierId), 'held = held', start, () => holdTwo(tierId));
    expect(codeOf(held)).toBe('SALES_CLOSED');
    await expectNothingHeld(tierId);
  });

  it("is refused when a hold's purchase reaches the stock after the start, though asked before", async () => {
    const { tierId, start } = await startingEvent();
    const held = await holdTwo(tierId);
    expect(held.errors).toBeUndefined();
    const holdId = held.data?.holdTickets.id as string;
    const bought = await heldPast(busyTier(tierId), 'purchase_tickets', start, () =>
      supergraph.request(
        'mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id } }',
        { input: { holdId, idempotencyKey: crypto.randomUUID() } },
        { token: receiver.accessToken },
      ),
    );
    expect(codeOf(bought)).toBe('SALES_CLOSED');
    const { tickets } = supergraph.databases;
    expect(await tickets.ticket.count({ where: { tierId } })).toBe(0);
    const after = await tickets.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
    expect({ sold: after.sold, held: after.held }).toEqual({ sold: 0, held: 2 });
    expect((await tickets.hold.findUniqueOrThrow({ where: { id: holdId } })).status).toBe('ACTIVE');
  });
});
