// Numbers at their bounds: a figure the service takes where it is typed (a setting, an
// argument) must also fit where it is summed, multiplied and stored, or be refused where it
// comes in, with a code that says so; never an INTERNAL_SERVER_ERROR at the first sale.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseMutation } from '../documents.ts';
import { buyTickets } from './door.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, eventOnSale, signUp } from './operations.ts';

describe('a tickets setting the database cannot hold', () => {
  // Each was taken at start, and then every hold (HOLD_SECONDS), every purchase
  // (MAX_TICKETS_PER_EVENT), every waitlist entry (WAITLIST_OFFER_SECONDS) or every transfer
  // offer (TRANSFER_OFFER_HOURS) failed with INTERNAL_SERVER_ERROR: an int4 or interval
  // overflow in PostgreSQL.
  it.each([
    ['HOLD_SECONDS', String(2 ** 31)],
    ['HOLD_SECONDS', '86401'],
    ['WAITLIST_OFFER_SECONDS', String(2 ** 31)],
    ['WAITLIST_OFFER_SECONDS', '86401'],
    ['MAX_TICKETS_PER_EVENT', String(2 ** 31)],
    ['MAX_TICKETS_PER_EVENT', '20000001'],
    ['TRANSFER_OFFER_HOURS', '1e300'],
    ['TRANSFER_OFFER_HOURS', '8761'],
    ['REFUND_CUTOFF_HOURS', '1e300'],
    ['REFUND_CUTOFF_HOURS', '8761'],
  ])('(%s=%s) stops the service at start, naming it', async (name, value) => {
    const outcome = await startSupergraph({ env: { [name]: value } }).then(
      (started) => started.stop(),
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toContain(name);
  });

  describe('at its largest', () => {
    let supergraph: Supergraph;
    let organizer: AuthPayload;
    let buyers: AuthPayload[];

    beforeAll(async () => {
      supergraph = await startSupergraph({
        env: {
          HOLD_SECONDS: '86400',
          WAITLIST_OFFER_SECONDS: '86400',
          MAX_TICKETS_PER_EVENT: '20000000',
          TRANSFER_OFFER_HOURS: '8760',
          REFUND_CUTOFF_HOURS: '8760',
        },
      });
      organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
      buyers = [await signUp(supergraph), await signUp(supergraph), await signUp(supergraph)];
    });
    afterAll(() => supergraph?.stop());

    it('holds, sells, queues and offers a transfer, each ending when it says', async () => {
      const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
        { name: 'One', priceCents: 100, currency: 'EUR', capacity: 2 },
      ]);
      const tierId = tierIds[0] as string;
      const [first, second, third] = buyers as [AuthPayload, AuthPayload, AuthPayload];
      const hold = await supergraph.request<{ holdTickets: { id: string; expiresAt: string } }>(
        'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id expiresAt } }',
        { tierId },
        { token: first.accessToken },
      );
      expect(hold.errors).toBeUndefined();
      const holdEnds = Date.parse(hold.data?.holdTickets.expiresAt ?? '') - Date.now();
      expect(Math.abs(holdEnds - 86_400_000)).toBeLessThan(60_000);

      const bought = await supergraph.request<{
        purchaseTickets: { totalCents: number; tickets: { id: string }[] };
      }>(
        purchaseMutation,
        { input: { tierId, quantity: 1, idempotencyKey: randomUUID() } },
        { token: second.accessToken },
      );
      expect(bought.errors).toBeUndefined();
      expect(bought.data?.purchaseTickets.totalCents).toBe(100);

      const queued = await supergraph.request<{ joinWaitlist: { status: string } }>(
        'mutation ($tierId: ID!) { joinWaitlist(tierId: $tierId, quantity: 1) { status } }',
        { tierId },
        { token: third.accessToken },
      );
      expect(queued.errors).toBeUndefined();
      expect(queued.data?.joinWaitlist.status).toBe('WAITING');

      const offered = await supergraph.request<{
        transferTicket: { pendingTransfer: { expiresAt: string } | null };
      }>(
        'mutation ($id: ID!, $toEmail: String!) { transferTicket(id: $id, toEmail: $toEmail) { pendingTransfer { expiresAt } } }',
        { id: bought.data?.purchaseTickets.tickets[0]?.id, toEmail: third.user.email },
        { token: second.accessToken },
      );
      expect(offered.errors).toBeUndefined();
      // A year is longer than the event is away (20 days): the offer ends at its start.
      const offerEnds = Date.parse(offered.data?.transferTicket.pendingTransfer?.expiresAt ?? '');
      expect(offerEnds).toBeGreaterThan(Date.now() + 19 * 86_400_000);
      expect(offerEnds).toBeLessThan(Date.now() + 21 * 86_400_000);
    });
  });
});

describe('a number too long for any field', () => {
  let supergraph: Supergraph;
  let buyer: AuthPayload;
  let tierId: string;

  beforeAll(async () => {
    supergraph = await startSupergraph();
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    buyer = await signUp(supergraph);
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'One', priceCents: 100, currency: 'EUR', capacity: 5 },
    ]);
    tierId = tierIds[0] as string;
  });
  afterAll(() => supergraph?.stop());

  // Written in the document, such a number was echoed in the error, 240 digits of it.
  it.each([
    ['a whole number', '9'.repeat(5_000)],
    ['a negative one', `-${'9'.repeat(5_000)}`],
    ['a fraction', `1.${'0'.repeat(5_000)}1`],
    ['an exponent', `1${'0'.repeat(5_000)}e9`],
  ])('(%s) written as a quantity is refused without being echoed', async (_, digits) => {
    const result = await supergraph.request(
      `mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: ${digits}) { id } }`,
      { tierId },
      { token: buyer.accessToken },
    );
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'quantity' });
    expect(JSON.stringify(result.errors)).not.toMatch(/\d{41}/);
    const [stored] = await supergraph.databases.tickets.ticketTier.findMany({
      where: { id: tierId },
    });
    expect(stored?.held).toBe(0);
  });

  it('written as a page size is refused without being echoed', async () => {
    const result = await supergraph.request(
      `{ events(first: ${'9'.repeat(5_000)}) { totalCount } }`,
    );
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'first' });
    expect(JSON.stringify(result.errors)).not.toMatch(/\d{41}/);
  });
});

describe('a price in a currency without cents', () => {
  let supergraph: Supergraph;
  let organizer: AuthPayload;

  beforeAll(async () => {
    supergraph = await startSupergraph();
    organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  });
  afterAll(() => supergraph?.stop());

  const createTier = (eventId: string, input: Record<string, unknown>) =>
    supergraph.request<{ createTicketTier: { id: string; priceCents: number } }>(
      'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id priceCents } }',
      { eventId, input },
      { token: organizer.accessToken },
    );

  // priceCents is hundredths of the currency's unit: 150 in yen is ¥1.50, which no one can
  // pay or be refunded (the web client showed it as ¥2, and an order of three as ¥5).
  it.each([
    ['JPY', 150],
    ['JPY', 1],
    ['KRW', 99_999_999],
    ['ISK', 50],
  ])(
    '(%s, %i cents) is refused, naming priceCents, and no tier is made',
    async (currency, priceCents) => {
      const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
      const result = await createTier(eventId, { name: 'Yen', priceCents, currency, capacity: 5 });
      expect(result.data ?? null).toBeNull();
      expect(result.errors?.[0]?.extensions).toEqual({
        code: 'BAD_USER_INPUT',
        field: 'input.priceCents',
      });
      expect(result.errors?.[0]?.message).toMatch(/multiple of 100/);
      expect(await supergraph.databases.tickets.ticketTier.count({ where: { eventId } })).toBe(0);
    },
  );

  it.each([
    ['JPY', 15_000],
    ['JPY', 0],
    ['KRW', 100_000_000],
    ['EUR', 150],
    ['KWD', 1],
  ])(
    '(%s, %i cents) in whole units, or in a currency with cents, is taken',
    async (currency, priceCents) => {
      const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
      const result = await createTier(eventId, {
        name: 'Whole',
        priceCents,
        currency,
        capacity: 5,
      });
      expect(result.errors).toBeUndefined();
      expect(result.data?.createTicketTier.priceCents).toBe(priceCents);
    },
  );

  it('in a code that is no currency is refused for the currency, not the price', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
    const result = await createTier(eventId, {
      name: 'Euro',
      priceCents: 150,
      currency: 'euro',
      capacity: 5,
    });
    expect(result.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.currency',
    });
    expect(await supergraph.databases.tickets.ticketTier.count({ where: { eventId } })).toBe(0);
  });

  it('cannot be changed to part of a yen, and the price stays as it was', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Yen', priceCents: 300_000, currency: 'JPY', capacity: 5 },
    ]);
    const result = await supergraph.request(
      'mutation ($id: ID!, $input: UpdateTicketTierInput!) { updateTicketTier(id: $id, input: $input) { id } }',
      { id: tierIds[0], input: { priceCents: 300_050 } },
      { token: organizer.accessToken },
    );
    expect(result.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.priceCents',
    });
    const [stored] = await supergraph.databases.tickets.ticketTier.findMany({ where: { eventId } });
    expect(stored?.priceCents).toBe(300_000);
  });
});

describe('a refund of nothing (a free ticket’s)', () => {
  let supergraph: Supergraph;

  beforeAll(async () => {
    supergraph = await startSupergraph();
  });
  afterAll(() => supergraph?.stop());

  // A payment provider refuses to refund 0 (an amount must be positive): the refund was
  // handed to it all the same, and with a real provider would have stayed unsent, sent
  // again every REFUND_SEND_INTERVAL_MS for ever.
  it('is settled without asking the payment provider for anything', async () => {
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const buyer = await signUp(supergraph);
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Free', priceCents: 0, currency: 'EUR', capacity: 5 },
    ]);
    const [ticket] = await buyTickets(supergraph, buyer.accessToken, tierIds[0] as string, 2);
    const bought = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: ticket?.id as string },
    });
    const orderId = bought.orderId as string;
    const refunded = await supergraph.request<{
      refundOrder: { status: string; refunds: { amountCents: number; sentAt: string | null }[] };
    }>(
      'mutation ($orderId: ID!) { refundOrder(orderId: $orderId) { status refunds { amountCents sentAt } } }',
      { orderId },
      { token: buyer.accessToken },
    );
    expect(refunded.errors).toBeUndefined();
    expect(refunded.data?.refundOrder.status).toBe('REFUNDED');
    expect(refunded.data?.refundOrder.refunds).toEqual([
      { amountCents: 0, sentAt: expect.any(String) },
    ]);
    const refunds = await supergraph.databases.tickets.refund.findMany({ where: { orderId } });
    expect(refunds.map((refund) => [refund.amountCents, refund.sentAt !== null])).toEqual([
      [0, true],
    ]);
    expect(
      await supergraph.databases.tickets.paymentInstruction.count({ where: { orderId } }),
    ).toBe(0);
  });
});

describe('an hours setting set to nothing', () => {
  let supergraph: Supergraph;

  // `REFUND_CUTOFF_HOURS=` (as compose's `${VAR:-}` leaves it) was read as 0 hours, not as
  // unset: buyers could refund until the event's start, not 48 hours before it.
  beforeAll(async () => {
    supergraph = await startSupergraph({
      env: { REFUND_CUTOFF_HOURS: '', TRANSFER_OFFER_HOURS: '' },
    });
  });
  afterAll(() => supergraph?.stop());

  it('is its default: a buyer cannot refund a day before the start', async () => {
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const buyer = await signUp(supergraph);
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 5 },
    ]);
    const [ticket] = await buyTickets(supergraph, buyer.accessToken, tierIds[0] as string, 1);
    const bought = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: ticket?.id as string },
    });
    const orderId = bought.orderId as string;
    // The event as the tickets service knows it, moved to start in 24 hours.
    await supergraph.databases.tickets.eventSnapshot.update({
      where: { eventId },
      data: { startsAt: new Date(Date.now() + 24 * 3_600_000) },
    });
    const refused = await supergraph.request(
      'mutation ($orderId: ID!) { refundOrder(orderId: $orderId) { status } }',
      { orderId },
      { token: buyer.accessToken },
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe('REFUND_WINDOW_CLOSED');
    expect(await supergraph.databases.tickets.refund.count({ where: { orderId } })).toBe(0);
  });
});

describe('an event’s sales past 2^31 cents', () => {
  let supergraph: Supergraph;

  beforeAll(async () => {
    supergraph = await startSupergraph();
  });
  afterAll(() => supergraph?.stop());

  // Bought honestly: three orders of 10 tickets at the top price (1,000,000.00), each
  // 1,000,000,000 cents, sum to 3,000,000,000, past what an Int holds; refunds too.
  it('are answered exactly, as SafeInt, gross and refunded', async () => {
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      {
        name: 'Top',
        priceCents: 100_000_000,
        currency: 'EUR',
        capacity: 1_000_000,
        maxPerOrder: 21,
      },
    ]);
    const orderIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const buyer = await signUp(supergraph);
      const bought = await supergraph.request<{
        purchaseTickets: { id: string; totalCents: number };
      }>(
        purchaseMutation,
        { input: { tierId: tierIds[0], quantity: 10, idempotencyKey: randomUUID() } },
        { token: buyer.accessToken },
      );
      expect(bought.errors).toBeUndefined();
      expect(bought.data?.purchaseTickets.totalCents).toBe(1_000_000_000);
      orderIds.push(bought.data?.purchaseTickets.id as string);
    }
    for (const orderId of orderIds.slice(0, 2)) {
      const refunded = await supergraph.request(
        'mutation ($orderId: ID!) { refundOrder(orderId: $orderId) { refundedCents } }',
        { orderId },
        { token: organizer.accessToken },
      );
      expect(refunded.data).toEqual({ refundOrder: { refundedCents: 1_000_000_000 } });
    }
    const report = await supergraph.request<{
      event: { ticketsAvailable: number; sales: Record<string, unknown> };
    }>(
      'query ($id: ID!) { event(id: $id) { ticketsAvailable sales { gross { currency grossCents refundedCents } tiers { capacity sold held available } } } }',
      { id: eventId },
      { token: organizer.accessToken },
    );
    expect(report.errors).toBeUndefined();
    expect(report.data?.event).toEqual({
      ticketsAvailable: 999_990,
      sales: {
        gross: [{ currency: 'EUR', grossCents: 3_000_000_000, refundedCents: 2_000_000_000 }],
        tiers: [{ capacity: 1_000_000, sold: 10, held: 0, available: 999_990 }],
      },
    });
  });
});
