// Check-in at the door through the gateway: door staff named by the organizer, a first scan
// that admits once however many doors scan at once, refusals with clear codes, undo, the
// counts an event shows, and offline doors that verify QR tokens with the published keys
// alone and upload their scans later.
import { randomUUID } from 'node:crypto';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  generateKeyPair,
  type JWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acceptTransfer,
  addDoorStaff,
  type BoughtTicket,
  buyTickets,
  type CheckInData,
  offerTicket,
  scan,
  upload,
} from './door.ts';
import {
  type GraphQLResult,
  type QueuedRequest,
  queuedBehindLock,
  type Supergraph,
  startSupergraph,
} from './harness.ts';
import {
  type AuthPayload,
  codeOf,
  eventOnSale,
  logIn,
  signUp,
  snapshotReaches,
} from './operations.ts';

const adminEmail = 'door-admin@example.com';
const adminPassword = 'the door admin password';
let supergraph: Supergraph;
let organizer: AuthPayload;
let otherOrganizer: AuthPayload;
let staff: AuthPayload;
let secondStaff: AuthPayload;
let holder: AuthPayload;
let customer: AuthPayload;
let admin: AuthPayload;
let eventId: string;
let tierId: string;
let otherEventId: string;
let otherTierId: string;

const tier = { name: 'Balcony', priceCents: 3000, currency: 'EUR', capacity: 100, maxPerOrder: 10 };

beforeAll(async () => {
  // Two gateways: two doors scanning at once reach the tickets service through either.
  supergraph = await startSupergraph({
    gateways: 2,
    env: {
      BOOTSTRAP_ADMIN_EMAIL: adminEmail,
      BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
      // One holder buys every ticket here; the cap has tests of its own.
      MAX_TICKETS_PER_EVENT: '100',
    },
  });
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER', name: 'Olga Organizer' });
  otherOrganizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  staff = await signUp(supergraph, { name: 'Dora Door' });
  secondStaff = await signUp(supergraph, { name: 'Dan Door' });
  holder = await signUp(supergraph, { name: 'Hilda Holder' });
  customer = await signUp(supergraph);
  admin = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn as AuthPayload;
  const mine = await eventOnSale(supergraph, organizer.accessToken, [tier]);
  const theirs = await eventOnSale(supergraph, otherOrganizer.accessToken, [tier]);
  [eventId, tierId] = [mine.eventId, mine.tierIds[0] as string];
  [otherEventId, otherTierId] = [theirs.eventId, theirs.tierIds[0] as string];
  for (const member of [staff, secondStaff]) {
    const added = await addDoorStaff(supergraph, organizer.accessToken, eventId, member.user.email);
    if (added.errors) throw new Error(JSON.stringify(added.errors));
  }
});
afterAll(async () => {
  await supergraph?.stop();
});

const buy = (quantity = 1, tier_ = tierId) =>
  buyTickets(supergraph, holder.accessToken, tier_, quantity);

async function one(): Promise<BoughtTicket> {
  const [ticket] = await buy();
  if (!ticket) throw new Error('no ticket');
  return ticket;
}

describe('door staff', () => {
  it('are named by the event’s organizer, by email, and listed for the organizer', async () => {
    const result = await supergraph.request<{
      event: { doorStaff: { user: { name: string } }[] };
    }>(
      'query ($id: ID!) { event(id: $id) { doorStaff { user { name } } } }',
      { id: eventId },
      { token: organizer.accessToken },
    );
    expect(result.data?.event.doorStaff.map((member) => member.user.name)).toEqual([
      'Dora Door',
      'Dan Door',
    ]);
  });

  it('are named by no one else: not another organizer, not a customer, not door staff', async () => {
    for (const token of [otherOrganizer, customer, staff].map((user) => user.accessToken)) {
      expect(codeOf(await addDoorStaff(supergraph, token, eventId, customer.user.email))).toBe(
        'FORBIDDEN',
      );
    }
    expect(await supergraph.databases.tickets.doorStaff.count({ where: { eventId } })).toBe(2);
  });

  it('must have an account: an unknown email is USER_NOT_FOUND, a malformed one BAD_USER_INPUT', async () => {
    const unknown = await addDoorStaff(
      supergraph,
      organizer.accessToken,
      eventId,
      'nobody@example.com',
    );
    expect(unknown.errors?.[0]?.extensions).toMatchObject({
      code: 'USER_NOT_FOUND',
      field: 'email',
    });
    const malformed = await addDoorStaff(
      supergraph,
      organizer.accessToken,
      eventId,
      'not an email',
    );
    expect(malformed.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'email',
    });
  });

  it('can scan and nothing else', async () => {
    const token = staff.accessToken;
    const edit = await supergraph.request(
      'mutation ($id: ID!) { updateEvent(id: $id, input: { title: "Mine now" }) { id } }',
      { id: eventId },
      { token },
    );
    expect(codeOf(edit)).toBe('FORBIDDEN');
    const newTier = await supergraph.request(
      'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }',
      { eventId, input: tier },
      { token },
    );
    expect(codeOf(newTier)).toBe('FORBIDDEN');
    const list = await supergraph.request(
      'query ($id: ID!) { event(id: $id) { doorStaff { user { name } } } }',
      { id: eventId },
      { token },
    );
    expect(codeOf(list)).toBe('FORBIDDEN');
    // Another event's tickets and counts are not theirs to see.
    const [elsewhere] = await buy(1, otherTierId);
    expect(codeOf(await scan(supergraph, token, elsewhere?.code as string, otherEventId))).toBe(
      'FORBIDDEN',
    );
    const counts = await supergraph.request(
      'query ($id: ID!) { event(id: $id) { checkIns { checkedIn total } ticketKeys { kid } } }',
      { id: otherEventId },
      { token },
    );
    expect(counts.errors?.map((error) => error.extensions?.code)).toEqual([
      'FORBIDDEN',
      'FORBIDDEN',
    ]);
    // Nor is a holder's code, even for a ticket they just admitted.
    const ticket = await one();
    const admitted = await supergraph.request(
      'mutation ($code: String!, $eventId: ID!) { checkInTicket(code: $code, eventId: $eventId) { ticket { code } } }',
      { code: ticket.code, eventId },
      { token },
    );
    expect(codeOf(admitted)).toBe('FORBIDDEN');
  });

  it('asks an anonymous caller to log in for what it asked, door staff or scans', async () => {
    const list = await supergraph.request(
      'query ($id: ID!) { event(id: $id) { doorStaff { user { name } } } }',
      { id: eventId },
    );
    expect(list.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(list.errors?.[0]?.message).toBe('Log in to see or name an event’s door staff.');
    const counts = await supergraph.request(
      'query ($id: ID!) { event(id: $id) { checkIns { checkedIn } } }',
      { id: eventId },
    );
    expect(counts.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(counts.errors?.[0]?.message).toBe('Log in to scan tickets.');
  });

  it('is a role a customer does not have: a customer cannot scan', async () => {
    const ticket = await one();
    expect(codeOf(await scan(supergraph, customer.accessToken, ticket.code, eventId))).toBe(
      'FORBIDDEN',
    );
    expect(codeOf(await scan(supergraph, holder.accessToken, ticket.code, eventId))).toBe(
      'FORBIDDEN',
    );
    const stored = await supergraph.databases.tickets.ticket.findUnique({
      where: { id: ticket.id },
    });
    expect(stored?.checkedInAt).toBeNull();
  });

  it('stop scanning once removed', async () => {
    const temporary = await signUp(supergraph, { name: 'Tim Temporary' });
    await addDoorStaff(supergraph, organizer.accessToken, eventId, temporary.user.email);
    const removed = await supergraph.request<{ removeDoorStaff: boolean }>(
      'mutation ($eventId: ID!, $userId: ID!) { removeDoorStaff(eventId: $eventId, userId: $userId) }',
      { eventId, userId: temporary.user.id },
      { token: organizer.accessToken },
    );
    expect(removed.data?.removeDoorStaff).toBe(true);
    const ticket = await one();
    expect(codeOf(await scan(supergraph, temporary.accessToken, ticket.code, eventId))).toBe(
      'FORBIDDEN',
    );
  });
});

describe('checkInTicket', () => {
  it('admits on the first scan with the ticket, its tier and the holder’s name', async () => {
    const ticket = await one();
    const result = await scan(supergraph, staff.accessToken, ticket.code, eventId);
    expect(result.errors).toBeUndefined();
    expect(result.data?.checkInTicket.ticket).toEqual({
      id: ticket.id,
      status: 'ACTIVE',
      tier: { name: 'Balcony' },
      owner: { name: 'Hilda Holder' },
    });
  });

  it('answers a second scan with ALREADY_CHECKED_IN and the first scan’s time', async () => {
    const ticket = await one();
    const first = await scan(supergraph, staff.accessToken, ticket.code, eventId);
    const second = await scan(supergraph, secondStaff.accessToken, ticket.code, eventId, 1);
    expect(second.errors?.[0]?.extensions).toMatchObject({
      code: 'ALREADY_CHECKED_IN',
      checkedInAt: first.data?.checkInTicket.checkedInAt,
    });
  });

  it('admits the same code scanned 50 times at once at two doors exactly once', async () => {
    const ticket = await one();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        scan(
          supergraph,
          (i % 2 === 0 ? staff : secondStaff).accessToken,
          ticket.code,
          eventId,
          i % 2,
        ),
      ),
    );
    const codes = results.map((result) => codeOf(result) ?? 'ADMITTED');
    expect(codes.filter((code) => code === 'ADMITTED')).toHaveLength(1);
    expect(codes.filter((code) => code === 'ALREADY_CHECKED_IN')).toHaveLength(49);
    const admitted = results.find((result) => result.data)?.data?.checkInTicket.checkedInAt;
    for (const result of results.filter((r) => r.errors)) {
      expect(result.errors?.[0]?.extensions?.checkedInAt).toBe(admitted);
    }
    expect(
      await supergraph.databases.tickets.checkInRecord.count({ where: { ticketId: ticket.id } }),
    ).toBe(1);
  });

  it('refuses a cancelled ticket, another event’s ticket and an unknown code, each with its code', async () => {
    const cancelled = await one();
    await supergraph.request(
      'mutation ($id: ID!) { cancelTicket(id: $id) { id } }',
      { id: cancelled.id },
      { token: holder.accessToken },
    );
    const [elsewhere] = await buy(1, otherTierId);
    const token = staff.accessToken;
    expect(codeOf(await scan(supergraph, token, cancelled.code, eventId))).toBe('TICKET_CANCELLED');
    expect(codeOf(await scan(supergraph, token, elsewhere?.code as string, eventId))).toBe(
      'WRONG_EVENT',
    );
    expect(codeOf(await scan(supergraph, token, elsewhere?.qrToken as string, eventId))).toBe(
      'WRONG_EVENT',
    );
    // A code that names no ticket is the argument's fault: named, as an email that names no
    // account is for door staff and transfers.
    expect(
      (await scan(supergraph, token, 'no-such-code', eventId)).errors?.[0]?.extensions,
    ).toMatchObject({ code: 'TICKET_NOT_FOUND', field: 'code' });
    const tooLong = await scan(supergraph, token, 'x'.repeat(5_000), eventId);
    expect(tooLong.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'code',
    });
    const stored = await supergraph.databases.tickets.ticket.findMany({
      where: { id: { in: [cancelled.id, elsewhere?.id as string] } },
    });
    expect(stored.map((row) => row.checkedInAt)).toEqual([null, null]);
  });

  it('admits by QR token as by code', async () => {
    const ticket = await one();
    const result = await scan(supergraph, staff.accessToken, ticket.qrToken, eventId);
    expect(result.data?.checkInTicket.ticket.id).toBe(ticket.id);
    expect(codeOf(await scan(supergraph, staff.accessToken, ticket.code, eventId))).toBe(
      'ALREADY_CHECKED_IN',
    );
  });

  it('can be undone by staff, and the undo is recorded', async () => {
    const ticket = await one();
    await scan(supergraph, staff.accessToken, ticket.code, eventId);
    const undo = (token: string) =>
      supergraph.request<{ undoCheckIn: { id: string; checkedInAt: string | null } }>(
        'mutation ($ticketId: ID!, $eventId: ID!) { undoCheckIn(ticketId: $ticketId, eventId: $eventId) { id checkedInAt } }',
        { ticketId: ticket.id, eventId },
        { token },
      );
    expect(codeOf(await undo(customer.accessToken))).toBe('FORBIDDEN');
    const undone = await undo(secondStaff.accessToken);
    expect(undone.data?.undoCheckIn).toEqual({ id: ticket.id, checkedInAt: null });
    expect(codeOf(await undo(secondStaff.accessToken))).toBe('NOT_CHECKED_IN');
    const elsewhere = await supergraph.request(
      'mutation ($ticketId: ID!, $eventId: ID!) { undoCheckIn(ticketId: $ticketId, eventId: $eventId) { id } }',
      { ticketId: randomUUID(), eventId },
      { token: secondStaff.accessToken },
    );
    expect(elsewhere.errors?.[0]?.extensions).toMatchObject({
      code: 'TICKET_NOT_FOUND',
      field: 'ticketId',
    });
    const records = await supergraph.databases.tickets.checkInRecord.findMany({
      where: { ticketId: ticket.id },
      orderBy: { recordedAt: 'asc' },
    });
    expect(records.map((record) => [record.action, record.staffId])).toEqual([
      ['ADMIT', staff.user.id],
      ['UNDO', secondStaff.user.id],
    ]);
    expect(codeOf(await scan(supergraph, staff.accessToken, ticket.code, eventId))).toBeUndefined();
  });

  it('is open to the organizer and admins as well', async () => {
    const [first, second] = await buy(2);
    expect(
      codeOf(await scan(supergraph, organizer.accessToken, first?.code as string, eventId)),
    ).toBeUndefined();
    expect(
      codeOf(await scan(supergraph, admin.accessToken, second?.code as string, eventId)),
    ).toBeUndefined();
  });
});

describe('the event’s check-in counts', () => {
  it('count active tickets and those admitted', async () => {
    const { eventId: id, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const tickets = await buyTickets(supergraph, holder.accessToken, tierIds[0] as string, 3);
    await scan(supergraph, organizer.accessToken, tickets[0]?.code as string, id);
    const counts = await supergraph.request<{ event: { checkIns: unknown } }>(
      'query ($id: ID!) { event(id: $id) { checkIns { checkedIn total } } }',
      { id },
      { token: organizer.accessToken },
    );
    expect(counts.data?.event.checkIns).toEqual({ checkedIn: 1, total: 3 });
  });
});

describe('offline doors', () => {
  async function publishedKeys(id = eventId): Promise<JWK[]> {
    const result = await supergraph.request<{ event: { ticketKeys: JWK[] } }>(
      'query ($id: ID!) { event(id: $id) { ticketKeys { kid kty crv x alg } } }',
      { id },
      { token: staff.accessToken },
    );
    if (!result.data) throw new Error(JSON.stringify(result.errors));
    return result.data.event.ticketKeys;
  }

  it('verify a ticket’s QR token with the published keys alone', async () => {
    const ticket = await one();
    const keys = await publishedKeys();
    // What a door device does offline: nothing but the keys it downloaded before.
    const { payload, protectedHeader } = await jwtVerify(
      ticket.qrToken,
      createLocalJWKSet({ keys }),
      { algorithms: ['EdDSA'] },
    );
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', typ: 'ticket+jwt' });
    expect(payload).toMatchObject({ sub: ticket.id, evt: eventId, tir: ticket.tier.id, ver: 1 });
    expect(ticket.qrToken.length).toBeLessThan(400);
  });

  it('get no QR token for a cancelled ticket, refunded or of a cancelled event', async () => {
    // A token signed now would verify at an offline door, which has only the keys: a
    // cancelled ticket must have none to show.
    const qrOf = async (id: string) =>
      (
        await supergraph.request<{ ticket: { status: string; qrToken: string | null } }>(
          'query ($id: ID!) { ticket(id: $id) { status qrToken } }',
          { id },
          { token: holder.accessToken },
        )
      ).data?.ticket;
    const refunded = await one();
    const cancelled = await supergraph.request<{ cancelTicket: { qrToken: string | null } }>(
      'mutation ($id: ID!) { cancelTicket(id: $id) { qrToken } }',
      { id: refunded.id },
      { token: holder.accessToken },
    );
    expect(cancelled.errors).toBeUndefined();
    expect(cancelled.data?.cancelTicket.qrToken).toBeNull();
    expect(await qrOf(refunded.id)).toEqual({ status: 'CANCELLED', qrToken: null });

    const doomed = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [ticket] = await buy(1, doomed.tierIds[0]);
    expect((await qrOf(ticket?.id as string))?.qrToken).toEqual(expect.any(String));
    await supergraph.request(
      'mutation ($id: ID!) { cancelEvent(id: $id) { id } }',
      { id: doomed.eventId },
      { token: organizer.accessToken },
    );
    await snapshotReaches(supergraph, doomed.eventId, 'CANCELLED');
    expect(await qrOf(ticket?.id as string)).toEqual({ status: 'CANCELLED', qrToken: null });
  });

  it('reject a token signed with any other key', async () => {
    const ticket = await one();
    const { privateKey } = await generateKeyPair('EdDSA');
    const kid = decodeProtectedHeader(ticket.qrToken).kid as string;
    const forged = await new SignJWT({ evt: eventId, tir: ticket.tier.id, ver: 1 })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'ticket+jwt' })
      .setSubject(ticket.id)
      .sign(privateKey);
    await expect(
      jwtVerify(forged, createLocalJWKSet({ keys: await publishedKeys() })),
    ).rejects.toThrow();
    expect(
      (await scan(supergraph, staff.accessToken, forged, eventId)).errors?.[0]?.extensions,
    ).toMatchObject({ code: 'INVALID_TOKEN', field: 'code' });
    const uploaded = await upload(supergraph, staff.accessToken, eventId, [
      { token: forged, scannedAt: new Date().toISOString() },
    ]);
    expect(uploaded.data?.uploadCheckIns[0]?.outcome).toBe('INVALID_TOKEN');
  });

  it('resolve conflicting scans to the first by scan time and report the others', async () => {
    const ticket = await one();
    const now = Date.now();
    const t = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();
    // Door A scanned it 20 minutes ago, door B 10 minutes ago, each offline; the uploads
    // arrive in the other order, B's first, with an online scan in between.
    const fromB = await upload(supergraph, secondStaff.accessToken, eventId, [
      { token: ticket.qrToken, scannedAt: t(10) },
    ]);
    expect(fromB.data?.uploadCheckIns[0]?.outcome).toBe('ADMITTED');
    expect(codeOf(await scan(supergraph, staff.accessToken, ticket.code, eventId))).toBe(
      'ALREADY_CHECKED_IN',
    );
    const fromA = await upload(supergraph, staff.accessToken, eventId, [
      { token: ticket.qrToken, scannedAt: t(20) },
      { token: ticket.qrToken, scannedAt: t(15) },
    ]);
    const [first, repeat] = fromA.data?.uploadCheckIns ?? [];
    expect(first).toMatchObject({ index: 0, outcome: 'ADMITTED', ticket: { id: ticket.id } });
    expect(repeat).toMatchObject({
      index: 1,
      outcome: 'ALREADY_CHECKED_IN',
      checkedInAt: first?.checkedInAt,
    });
    expect(first?.checkedInAt).toBe(t(20));
    // B's later upload of its scan is now the duplicate.
    const again = await upload(supergraph, secondStaff.accessToken, eventId, [
      { token: ticket.qrToken, scannedAt: t(10) },
    ]);
    expect(again.data?.uploadCheckIns[0]).toMatchObject({
      outcome: 'ALREADY_CHECKED_IN',
      checkedInAt: first?.checkedInAt,
    });
    // A's upload sent again, after a lost answer, admits nothing twice.
    const resent = await upload(supergraph, staff.accessToken, eventId, [
      { token: ticket.qrToken, scannedAt: t(20) },
    ]);
    expect(resent.data?.uploadCheckIns[0]).toMatchObject({
      outcome: 'ALREADY_CHECKED_IN',
      checkedInAt: first?.checkedInAt,
    });
    const stored = await supergraph.databases.tickets.ticket.findUnique({
      where: { id: ticket.id },
    });
    expect(stored?.checkedInAt?.toISOString()).toBe(first?.checkedInAt);
    expect(stored?.checkedInBy).toBe(staff.user.id);
  });

  it('refuse scans from the future and uploads past their size', async () => {
    const ticket = await one();
    const future = await upload(supergraph, staff.accessToken, eventId, [
      { token: ticket.qrToken, scannedAt: new Date(Date.now() + 3_600_000).toISOString() },
    ]);
    expect(future.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'scans[0].scannedAt',
    });
    const huge = await upload(
      supergraph,
      staff.accessToken,
      eventId,
      Array.from({ length: 501 }, () => ({
        token: ticket.qrToken,
        scannedAt: new Date().toISOString(),
      })),
    );
    expect(codeOf(huge)).toBe('BAD_USER_INPUT');
    const stored = await supergraph.databases.tickets.ticket.findUnique({
      where: { id: ticket.id },
    });
    expect(stored?.checkedInAt).toBeNull();
  });

  it.each([
    ['in year 1', '0001-01-01T00:00:00Z'],
    ['from before the event’s tickets went on sale', null],
  ])('refuse a scan %s, and admit nothing of the upload', async (_, at) => {
    const ticket = await one();
    const [first] = await supergraph.databases.tickets.ticketTier.findMany({
      where: { eventId },
      orderBy: { createdAt: 'asc' },
    });
    const beforeSale = new Date((first?.createdAt.getTime() ?? 0) - 2 * 3_600_000);
    const uploaded = await upload(supergraph, staff.accessToken, eventId, [
      { token: ticket.qrToken, scannedAt: new Date().toISOString() },
      { token: ticket.qrToken, scannedAt: at ?? beforeSale.toISOString() },
    ]);
    expect(uploaded.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'scans[1].scannedAt',
    });
    const stored = await supergraph.databases.tickets.ticket.findUnique({
      where: { id: ticket.id },
    });
    expect(stored?.checkedInAt).toBeNull();
    expect(
      await supergraph.databases.tickets.checkInRecord.count({ where: { ticketId: ticket.id } }),
    ).toBe(0);
  });

  it('are for the event’s door staff: a customer cannot upload', async () => {
    const ticket = await one();
    const result = await upload(supergraph, customer.accessToken, eventId, [
      { token: ticket.qrToken, scannedAt: new Date().toISOString() },
    ]);
    expect(codeOf(result)).toBe('FORBIDDEN');
  });
});

describe('an admitted ticket', () => {
  // Its seat is taken: back in stock, it would be sold twice.
  const cancel = (token: string, id: string, gateway = 0) =>
    supergraph.request<{ cancelTicket: { id: string; status: string } }>(
      'mutation ($id: ID!) { cancelTicket(id: $id) { id status } }',
      { id },
      { token, gateway },
    );
  const refund = (token: string, orderId: string, ticketIds?: string[]) =>
    supergraph.request<{
      refundOrder: {
        tickets: { id: string; status: string }[];
        refunds: { tickets: { id: string }[] }[];
      };
    }>(
      `mutation ($orderId: ID!, $ticketIds: [ID!]) {
        refundOrder(orderId: $orderId, ticketIds: $ticketIds) {
          tickets { id status } refunds { tickets { id } }
        }
      }`,
      { orderId, ...(ticketIds ? { ticketIds } : {}) },
      { token },
    );
  const stored = (id: string) =>
    supergraph.databases.tickets.ticket.findUniqueOrThrow({ where: { id } });
  const sold = async () =>
    (await supergraph.databases.tickets.ticketTier.findUniqueOrThrow({ where: { id: tierId } }))
      .sold;
  async function admit(ticket: BoughtTicket) {
    const result = await scan(supergraph, staff.accessToken, ticket.code, eventId);
    expect(result.errors).toBeUndefined();
  }

  it('cannot be cancelled by its holder or an admin, and nothing returns to stock', async () => {
    const ticket = await one();
    await admit(ticket);
    const before = await sold();
    for (const token of [holder.accessToken, admin.accessToken]) {
      expect((await cancel(token, ticket.id)).errors?.[0]?.extensions).toMatchObject({
        code: 'TICKET_CHECKED_IN',
        ticketIds: [ticket.id],
      });
    }
    expect(await sold()).toBe(before);
    const after = await stored(ticket.id);
    expect(after.status).toBe('ACTIVE');
    expect(after.checkedInAt).not.toBeNull();
  });

  it('is refunded by no one, the organizer included, until its check-in is undone', async () => {
    const [admitted, other] = (await buy(2)) as [BoughtTicket, BoughtTicket];
    await admit(admitted);
    const orderId = (await stored(admitted.id)).orderId as string;
    const before = await sold();
    for (const token of [organizer.accessToken, admin.accessToken]) {
      const named = await refund(token, orderId, [other.id, admitted.id]);
      expect(named.errors?.[0]?.extensions).toMatchObject({
        code: 'TICKET_CHECKED_IN',
        ticketIds: [admitted.id],
      });
    }
    expect(await supergraph.databases.tickets.refund.count({ where: { orderId } })).toBe(0);
    expect(await sold()).toBe(before);

    // The whole order: its tickets not admitted, and the admitted one stays sold.
    const whole = await refund(organizer.accessToken, orderId);
    expect(whole.errors).toBeUndefined();
    expect(whole.data?.refundOrder.tickets).toEqual(
      expect.arrayContaining([
        { id: admitted.id, status: 'ACTIVE' },
        { id: other.id, status: 'CANCELLED' },
      ]),
    );
    expect(whole.data?.refundOrder.refunds).toEqual([{ tickets: [{ id: other.id }] }]);
    expect(await sold()).toBe(before - 1);
    expect((await refund(organizer.accessToken, orderId)).errors?.[0]?.extensions).toMatchObject({
      code: 'TICKET_CHECKED_IN',
      ticketIds: [admitted.id],
    });

    const undone = await supergraph.request(
      'mutation ($ticketId: ID!, $eventId: ID!) { undoCheckIn(ticketId: $ticketId, eventId: $eventId) { id } }',
      { ticketId: admitted.id, eventId },
      { token: staff.accessToken },
    );
    expect(undone.errors).toBeUndefined();
    const last = await refund(organizer.accessToken, orderId);
    expect(last.errors).toBeUndefined();
    expect(last.data?.refundOrder.refunds).toHaveLength(2);
    expect(await sold()).toBe(before - 2);
  });

  /**
   * A scan and another request on one ticket, both at its row together: the test holds the
   * row until both wait for it, `first` sent first (it takes the row first), each through
   * its own gateway.
   */
  async function raced<Other>(
    ticketId: string,
    scanned: QueuedRequest<GraphQLResult<CheckInData>>,
    other: QueuedRequest<GraphQLResult<Other>>,
    first: 'scan' | 'other',
  ): Promise<readonly [GraphQLResult<CheckInData>, GraphQLResult<Other>]> {
    const lock = {
      sql: 'SELECT 1 FROM tickets WHERE id = $1::uuid FOR UPDATE',
      params: [ticketId],
    };
    if (first === 'scan') return queuedBehindLock(supergraph, 'tickets', lock, [scanned, other]);
    const [otherAnswer, scanAnswer] = await queuedBehindLock(supergraph, 'tickets', lock, [
      other,
      scanned,
    ]);
    return [scanAnswer, otherAnswer];
  }
  const admitting = 'WITH admitted AS';

  it('is admitted or given away, never both, when a scan of its token and a transfer race', async () => {
    let given = 0;
    let admittedCount = 0;
    // Each side first in half the rounds, each through either gateway.
    for (let round = 0; round < 8; round++) {
      const ticket = await one();
      // Offered before; the receiver's acceptance races the scan.
      const offerId = await offerTicket(
        supergraph,
        holder.accessToken,
        ticket.id,
        customer.user.email,
      );
      if (!offerId) throw new Error('the offer was refused');
      const [scanned, moved] = await raced(
        ticket.id,
        {
          send: () => scan(supergraph, staff.accessToken, ticket.qrToken, eventId, round % 2),
          waitsAt: admitting,
        },
        {
          send: () => acceptTransfer(supergraph, customer.accessToken, offerId, 1 - (round % 2)),
          waitsAt: 'FROM tickets WHERE id = $1::uuid FOR UPDATE',
        },
        round % 4 < 2 ? 'scan' : 'other',
      );
      const after = await stored(ticket.id);
      if (scanned.errors) {
        expect(codeOf(scanned)).toBe('TOKEN_REVOKED');
        expect(moved.errors).toBeUndefined();
        expect([after.ownerId, after.checkedInAt]).toEqual([customer.user.id, null]);
        given += 1;
      } else {
        expect(codeOf(moved)).toBe('TICKET_CHECKED_IN');
        expect([after.ownerId, after.tokenVersion]).toEqual([holder.user.id, 1]);
        expect(after.checkedInAt).not.toBeNull();
        admittedCount += 1;
      }
    }
    expect(given, 'no round gave the ticket away').toBeGreaterThan(0);
    expect(admittedCount, 'no round admitted the ticket').toBeGreaterThan(0);
    expect(
      await supergraph.databases.tickets.ticketTransfer.count({
        where: { fromUserId: holder.user.id, toUserId: customer.user.id },
      }),
    ).toBe(given);
  });

  it('is admitted or cancelled, never both, when a scan and a cancellation race', async () => {
    const before = await sold();
    let cancelledCount = 0;
    let admittedCount = 0;
    // Each side first in half the rounds, each through either gateway.
    for (let round = 0; round < 8; round++) {
      const ticket = await one();
      const [scanned, cancelled] = await raced(
        ticket.id,
        {
          send: () => scan(supergraph, staff.accessToken, ticket.code, eventId, round % 2),
          waitsAt: admitting,
        },
        {
          send: () => cancel(holder.accessToken, ticket.id, 1 - (round % 2)),
          waitsAt: "UPDATE tickets SET status = 'CANCELLED'",
        },
        round % 4 < 2 ? 'scan' : 'other',
      );
      const after = await stored(ticket.id);
      if (scanned.errors) {
        expect(codeOf(scanned)).toBe('TICKET_CANCELLED');
        expect(cancelled.errors).toBeUndefined();
        expect([after.status, after.checkedInAt]).toEqual(['CANCELLED', null]);
        cancelledCount += 1;
      } else {
        expect(cancelled.errors?.[0]?.extensions).toMatchObject({ code: 'TICKET_CHECKED_IN' });
        expect(after.status).toBe('ACTIVE');
        expect(after.checkedInAt).not.toBeNull();
        admittedCount += 1;
      }
    }
    expect(cancelledCount, 'no round cancelled the ticket').toBeGreaterThan(0);
    expect(admittedCount, 'no round admitted the ticket').toBeGreaterThan(0);
    // Each round sold one ticket; only the cancelled ones went back.
    expect(await sold()).toBe(before + 8 - cancelledCount);
  });
});
