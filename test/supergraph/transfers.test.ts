// Transfers through the gateway: the owner gives a ticket to another account by email; its
// code and QR token rotate and the old ones no longer admit; the receiver's per-person cap
// applies; and every hostile case changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BoughtTicket, buyTickets, scan, upload } from './door.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, eventOnSale, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let giver: AuthPayload;
let receiver: AuthPayload;
let third: AuthPayload;
let eventId: string;
let tierId: string;

const cap = 3;
const tier = { name: 'Stalls', priceCents: 2000, currency: 'EUR', capacity: 200, maxPerOrder: 3 };

beforeAll(async () => {
  supergraph = await startSupergraph({
    env: {
      MAX_TICKETS_PER_EVENT: String(cap),
      // Holds expire at once and the sweeper waits: expired holds stay counted until a
      // transaction returns them.
      HOLD_SECONDS: '1',
      HOLD_SWEEP_INTERVAL_MS: '600000',
    },
  });
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  giver = await signUp(supergraph, { name: 'Gina Giver' });
  receiver = await signUp(supergraph, { name: 'Rex Receiver' });
  third = await signUp(supergraph, { name: 'Theo Third' });
  const event = await eventOnSale(supergraph, organizer.accessToken, [tier]);
  [eventId, tierId] = [event.eventId, event.tierIds[0] as string];
});
afterAll(async () => {
  await supergraph?.stop();
});

const transferMutation = `mutation ($id: ID!, $toEmail: String!) {
  transferTicket(id: $id, toEmail: $toEmail) { id status owner { name } }
}`;

const transfer = (token: string, id: string, toEmail: string) =>
  supergraph.request<{ transferTicket: { id: string; owner: { name: string } } }>(
    transferMutation,
    { id, toEmail },
    { token },
  );

/** A fresh event on sale, so that each test starts with every cap untouched. */
async function freshTier(): Promise<{ eventId: string; tierId: string }> {
  const event = await eventOnSale(supergraph, organizer.accessToken, [tier]);
  return { eventId: event.eventId, tierId: event.tierIds[0] as string };
}

async function ticketOf(buyer: AuthPayload, tier_ = tierId): Promise<BoughtTicket> {
  const [ticket] = await buyTickets(supergraph, buyer.accessToken, tier_, 1);
  if (!ticket) throw new Error('no ticket');
  return ticket;
}

const stored = (id: string) =>
  supergraph.databases.tickets.ticket.findUniqueOrThrow({ where: { id } });

async function allowances(event: string) {
  const rows = await supergraph.databases.tickets.eventAllowance.findMany({
    where: { eventId: event },
  });
  return Object.fromEntries(rows.map((row) => [row.userId, row.tickets]));
}

describe('transferTicket', () => {
  it('gives the ticket to the account with that email, which sees it as its own', async () => {
    const fresh = await freshTier();
    const ticket = await ticketOf(giver, fresh.tierId);
    const result = await transfer(giver.accessToken, ticket.id, receiver.user.email.toUpperCase());
    expect(result.errors).toBeUndefined();
    expect(result.data?.transferTicket).toMatchObject({
      id: ticket.id,
      owner: { name: 'Rex Receiver' },
    });
    const mine = await supergraph.request<{ myTickets: { edges: { node: { id: string } }[] } }>(
      '{ myTickets { edges { node { id } } } }',
      {},
      { token: receiver.accessToken },
    );
    expect(mine.data?.myTickets.edges.map((edge) => edge.node.id)).toContain(ticket.id);
    expect(await allowances(fresh.eventId)).toEqual({ [giver.user.id]: 0, [receiver.user.id]: 1 });
    const records = await supergraph.databases.tickets.ticketTransfer.findMany({
      where: { ticketId: ticket.id },
    });
    expect(records.map((r) => [r.fromUserId, r.toUserId])).toEqual([
      [giver.user.id, receiver.user.id],
    ]);
  });

  it('rotates the code and the QR token: the old ones are refused at the door, the new ones admit', async () => {
    const ticket = await ticketOf(giver);
    await transfer(giver.accessToken, ticket.id, receiver.user.email);
    const now = await supergraph.request<{ ticket: { code: string; qrToken: string } }>(
      'query ($id: ID!) { ticket(id: $id) { code qrToken } }',
      { id: ticket.id },
      { token: receiver.accessToken },
    );
    const fresh = now.data?.ticket as { code: string; qrToken: string };
    expect(fresh.code).not.toBe(ticket.code);
    expect(fresh.qrToken).not.toBe(ticket.qrToken);
    const door = organizer.accessToken;
    expect(codeOf(await scan(supergraph, door, ticket.code, eventId))).toBe('TICKET_NOT_FOUND');
    expect(codeOf(await scan(supergraph, door, ticket.qrToken, eventId))).toBe('TOKEN_REVOKED');
    const offline = await upload(supergraph, door, eventId, [
      { token: ticket.qrToken, scannedAt: new Date().toISOString() },
    ]);
    expect(offline.data?.uploadCheckIns[0]?.outcome).toBe('TOKEN_REVOKED');
    expect((await stored(ticket.id)).checkedInAt).toBeNull();
    const admitted = await scan(supergraph, door, fresh.qrToken, eventId);
    expect(admitted.data?.checkInTicket.ticket.owner.name).toBe('Rex Receiver');
  });

  it('leaves an offline admission made before the transfer standing: the ticket was used then', async () => {
    // The giver is let in at a door that is offline, then gives the ticket away; the door
    // uploads its scan after the transfer. The ticket was admitted while it was the giver's:
    // its new owner's token finds it admitted, not a second free entry.
    const ticket = await ticketOf(giver);
    const scannedAt = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await transfer(giver.accessToken, ticket.id, receiver.user.email);
    const door = organizer.accessToken;
    const offline = await upload(supergraph, door, eventId, [{ token: ticket.qrToken, scannedAt }]);
    expect(offline.data?.uploadCheckIns[0]).toMatchObject({
      outcome: 'ADMITTED',
      checkedInAt: scannedAt,
      ticket: { id: ticket.id },
    });
    expect((await stored(ticket.id)).checkedInAt?.toISOString()).toBe(scannedAt);
    const again = await upload(supergraph, door, eventId, [{ token: ticket.qrToken, scannedAt }]);
    expect(again.data?.uploadCheckIns[0]).toMatchObject({
      outcome: 'ALREADY_CHECKED_IN',
      checkedInAt: scannedAt,
    });
    const now = await supergraph.request<{ ticket: { qrToken: string } }>(
      'query ($id: ID!) { ticket(id: $id) { qrToken } }',
      { id: ticket.id },
      { token: receiver.accessToken },
    );
    const late = await scan(supergraph, door, now.data?.ticket.qrToken as string, eventId);
    expect(codeOf(late)).toBe('ALREADY_CHECKED_IN');
  });

  it('shows the receiver the ticket, not the giver’s order: what they paid and their other tickets', async () => {
    const fresh = await freshTier();
    const [given, kept] = await buyTickets(supergraph, giver.accessToken, fresh.tierId, 2);
    await transfer(giver.accessToken, given?.id as string, receiver.user.email);
    const orderOf = (token: string) =>
      supergraph.request<{
        ticket: { id: string; order: { totalCents: number; tickets: { id: string }[] } | null };
      }>(
        'query ($id: ID!) { ticket(id: $id) { id order { totalCents tickets { id } } } }',
        { id: given?.id },
        { token },
      );
    const seen = await orderOf(receiver.accessToken);
    expect(seen.errors).toBeUndefined();
    expect(seen.data?.ticket).toEqual({ id: given?.id, order: null });
    const buyers = await supergraph.request<{
      ticket: { order: { totalCents: number; tickets: { id: string }[] } };
    }>(
      'query ($id: ID!) { ticket(id: $id) { order { totalCents tickets { id } } } }',
      { id: kept?.id },
      { token: giver.accessToken },
    );
    expect(buyers.data?.ticket.order.totalCents).toBe(2 * tier.priceCents);
    expect(buyers.data?.ticket.order.tickets.map((ticket) => ticket.id).sort()).toEqual(
      [given?.id, kept?.id].sort(),
    );
  });

  it('leaves the giver’s orders readable, the given ticket listed without its code', async () => {
    const fresh = await freshTier();
    const [given, kept] = await buyTickets(supergraph, giver.accessToken, fresh.tierId, 2);
    await transfer(giver.accessToken, given?.id as string, receiver.user.email);
    const orders = await supergraph.request<{
      myOrders: { edges: { node: { tickets: { id: string; code: string | null }[] } }[] };
    }>(
      '{ myOrders(first: 50) { edges { node { tickets { id code status } } } } }',
      {},
      { token: giver.accessToken },
    );
    expect(orders.errors).toBeUndefined();
    const tickets = orders.data?.myOrders.edges.flatMap((edge) => edge.node.tickets) ?? [];
    expect(tickets.find((ticket) => ticket.id === given?.id)?.code).toBeNull();
    expect(tickets.find((ticket) => ticket.id === kept?.id)?.code).toBe(kept?.code);
  });

  it('is refused to yourself, to an unknown email and to a malformed one', async () => {
    const ticket = await ticketOf(giver);
    const self = await transfer(giver.accessToken, ticket.id, giver.user.email);
    expect(self.errors?.[0]?.extensions).toMatchObject({
      code: 'TRANSFER_TO_SELF',
      field: 'toEmail',
    });
    const unknown = await transfer(giver.accessToken, ticket.id, 'nobody-here@example.com');
    expect(unknown.errors?.[0]?.extensions).toMatchObject({
      code: 'RECIPIENT_NOT_FOUND',
      field: 'toEmail',
    });
    const malformed = await transfer(giver.accessToken, ticket.id, 'x'.repeat(300));
    expect(malformed.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'toEmail',
    });
    expect(await stored(ticket.id)).toMatchObject({
      ownerId: giver.user.id,
      code: ticket.code,
      tokenVersion: 1,
    });
  });

  it('is refused for someone else’s ticket, as if it did not exist', async () => {
    const ticket = await ticketOf(giver);
    const result = await transfer(third.accessToken, ticket.id, third.user.email);
    expect(codeOf(result)).toBe('NOT_FOUND');
    const anonymous = await supergraph.request(transferMutation, {
      id: ticket.id,
      toEmail: third.user.email,
    });
    expect(codeOf(anonymous)).toBe('UNAUTHENTICATED');
    expect((await stored(ticket.id)).ownerId).toBe(giver.user.id);
  });

  it('is refused for a cancelled ticket and for one admitted at the door', async () => {
    const fresh = await freshTier();
    const [cancelled, admitted] = await buyTickets(supergraph, giver.accessToken, fresh.tierId, 2);
    await supergraph.request(
      'mutation ($id: ID!) { cancelTicket(id: $id) { id } }',
      { id: cancelled?.id },
      { token: giver.accessToken },
    );
    await scan(supergraph, organizer.accessToken, admitted?.code as string, fresh.eventId);
    expect(
      codeOf(await transfer(giver.accessToken, cancelled?.id as string, receiver.user.email)),
    ).toBe('TICKET_CANCELLED');
    expect(
      codeOf(await transfer(giver.accessToken, admitted?.id as string, receiver.user.email)),
    ).toBe('TICKET_CHECKED_IN');
    expect(await allowances(fresh.eventId)).toEqual({ [giver.user.id]: 1 });
  });

  it('applies the receiver’s per-person cap, and changes nothing when it is reached', async () => {
    const fresh = await freshTier();
    await buyTickets(supergraph, receiver.accessToken, fresh.tierId, cap);
    const ticket = await ticketOf(giver, fresh.tierId);
    const result = await transfer(giver.accessToken, ticket.id, receiver.user.email);
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'PURCHASE_LIMIT_REACHED',
      perUserCap: cap,
    });
    expect(await stored(ticket.id)).toMatchObject({
      ownerId: giver.user.id,
      code: ticket.code,
      tokenVersion: 1,
    });
    expect(await allowances(fresh.eventId)).toEqual({
      [giver.user.id]: 1,
      [receiver.user.id]: cap,
    });
  });

  it('returns the receiver’s expired holds to make room, as a purchase does', async () => {
    const fresh = await freshTier();
    const held = await supergraph.request(
      'mutation ($tierId: ID!, $quantity: Int!) { holdTickets(tierId: $tierId, quantity: $quantity) { id } }',
      { tierId: fresh.tierId, quantity: cap },
      { token: receiver.accessToken },
    );
    expect(held.errors).toBeUndefined();
    const ticket = await ticketOf(giver, fresh.tierId);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const result = await transfer(giver.accessToken, ticket.id, receiver.user.email);
    expect(result.errors).toBeUndefined();
    expect(await allowances(fresh.eventId)).toEqual({ [giver.user.id]: 0, [receiver.user.id]: 1 });
    const tierRow = await supergraph.databases.tickets.ticketTier.findUniqueOrThrow({
      where: { id: fresh.tierId },
    });
    expect({ sold: tierRow.sold, held: tierRow.held }).toEqual({ sold: 1, held: 0 });
  });

  it('happens once when the same ticket is transferred twice at once', async () => {
    const fresh = await freshTier();
    const ticket = await ticketOf(giver, fresh.tierId);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        transfer(giver.accessToken, ticket.id, (i % 2 === 0 ? receiver : third).user.email),
      ),
    );
    const codes = results.map((result) => codeOf(result) ?? 'OK');
    expect(codes.filter((code) => code === 'OK')).toHaveLength(1);
    expect(codes.filter((code) => code !== 'OK').every((code) => code === 'NOT_FOUND')).toBe(true);
    const now = await stored(ticket.id);
    expect(now.tokenVersion).toBe(2);
    expect(
      await supergraph.databases.tickets.ticketTransfer.count({ where: { ticketId: ticket.id } }),
    ).toBe(1);
    expect([receiver.user.id, third.user.id]).toContain(now.ownerId);
    expect(await allowances(fresh.eventId)).toEqual({ [giver.user.id]: 0, [now.ownerId]: 1 });
  });

  it('goes both ways at once without deadlock, and the allowances add up', async () => {
    const fresh = await freshTier();
    const mine = await buyTickets(supergraph, giver.accessToken, fresh.tierId, 2);
    const theirs = await buyTickets(supergraph, receiver.accessToken, fresh.tierId, 2);
    const results = await Promise.all([
      ...mine.map((t) => transfer(giver.accessToken, t.id, receiver.user.email)),
      ...theirs.map((t) => transfer(receiver.accessToken, t.id, giver.user.email)),
    ]);
    // Each side ends at 2 or 3 tickets: the cap of 3 refuses the rest, nothing else does.
    for (const result of results) {
      expect([undefined, 'PURCHASE_LIMIT_REACHED']).toContain(codeOf(result));
    }
    const owned = await supergraph.databases.tickets.ticket.groupBy({
      by: ['ownerId'],
      where: { eventId: fresh.eventId, status: 'ACTIVE' },
      _count: true,
    });
    const counts = Object.fromEntries(owned.map((row) => [row.ownerId, row._count]));
    expect(await allowances(fresh.eventId)).toEqual(counts);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(4);
  });
});

describe('the account lookup behind transfers', () => {
  it('is not part of the public API', async () => {
    const result = await supergraph.request(
      'query ($email: String!) { accountIdByEmail(email: $email) }',
      { email: giver.user.email },
      { token: giver.accessToken },
    );
    expect(codeOf(result)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(result.data ?? null).toBeNull();
  });
});
