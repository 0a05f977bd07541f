// Transfers through the gateway: the owner offers a ticket to another account by email, and
// it moves when the receiver accepts; its code and QR token rotate and the old ones no
// longer admit; the receiver's per-person cap applies at acceptance, so an unwanted offer
// costs the receiver nothing; and every hostile case changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BoughtTicket, buyTickets, scan, upload } from './door.ts';
import { queuedBehindLock, type Supergraph, startSupergraph } from './harness.ts';
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
    gateways: 2,
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
  transferTicket(id: $id, toEmail: $toEmail) {
    id status owner { name }
    pendingTransfer { id status createdAt expiresAt from { name } to { name } }
  }
}`;

interface Offer {
  id: string;
  status: string;
  createdAt: string;
  expiresAt: string;
  from: { name: string };
  to: { name: string };
}

/** The owner offers the ticket: it stays theirs, with the offer as its pendingTransfer. */
const offer = (token: string, id: string, toEmail: string) =>
  supergraph.request<{
    transferTicket: { id: string; owner: { name: string }; pendingTransfer: Offer | null };
  }>(transferMutation, { id, toEmail }, { token });

/** The receiver accepts, answered with the ticket under the name the tests read it by. */
const accept = (token: string, offerId: string) =>
  supergraph.request<{ transferTicket: { id: string; owner: { name: string } } }>(
    'mutation ($id: ID!) { transferTicket: acceptTicketTransfer(id: $id) { id status owner { name } } }',
    { id: offerId },
    { token },
  );

const settleMutation = (field: 'declineTicketTransfer' | 'cancelTicketTransfer') =>
  `mutation ($id: ID!) { ${field}(id: $id) { id status } }`;
const decline = (token: string, offerId: string) =>
  supergraph.request<{ declineTicketTransfer: { id: string; status: string } }>(
    settleMutation('declineTicketTransfer'),
    { id: offerId },
    { token },
  );
const cancelOffer = (token: string, offerId: string) =>
  supergraph.request<{ cancelTicketTransfer: { id: string; status: string } }>(
    settleMutation('cancelTicketTransfer'),
    { id: offerId },
    { token },
  );

/** The account a test signed up with this email, whose token accepts offers made to it. */
function accountOf(email: string): AuthPayload {
  const account = [giver, receiver, third].find(
    (candidate) => candidate.user.email.toLowerCase() === email.toLowerCase(),
  );
  if (!account) throw new Error(`no account for ${email}`);
  return account;
}

/**
 * A whole transfer: the offer, then the receiver's acceptance. The offer's refusal when it is
 * refused, the acceptance's answer otherwise.
 */
async function transfer(token: string, id: string, toEmail: string) {
  const offered = await offer(token, id, toEmail);
  const offerId = offered.data?.transferTicket.pendingTransfer?.id;
  if (!offerId) return offered;
  return accept(accountOf(toEmail).accessToken, offerId);
}

/** Makes an offer that must be made, and returns its id. */
async function offered(token: string, id: string, to: AuthPayload): Promise<string> {
  const result = await offer(token, id, to.user.email);
  const offerId = result.data?.transferTicket.pendingTransfer?.id;
  if (!offerId) throw new Error(`no offer: ${JSON.stringify(result.errors)}`);
  return offerId;
}

const storedOffer = (id: string) =>
  supergraph.databases.tickets.ticketTransferOffer.findUniqueOrThrow({ where: { id } });

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

  it('is refused as admitted, not as another’s, when the ticket is scanned as it is offered', async () => {
    const fresh = await freshTier();
    const [ticket] = await buyTickets(supergraph, giver.accessToken, fresh.tierId);
    // The transfer read the ticket unadmitted, and looks its receiver up in the users
    // service while the door admits it: the offer finds it admitted.
    const [refused] = await queuedBehindLock(
      supergraph,
      'users',
      { sql: 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE', params: [] },
      [
        {
          send: () => transfer(giver.accessToken, ticket?.id as string, receiver.user.email),
          waitsAt: '"users"',
        },
      ],
      async () => {
        // Its answer names no account: the users service waits for the test.
        const scanned = await supergraph.request(
          'mutation ($code: String!, $eventId: ID!) { checkInTicket(code: $code, eventId: $eventId) { checkedInAt } }',
          { code: ticket?.code, eventId: fresh.eventId },
          { token: organizer.accessToken },
        );
        expect(scanned.errors).toBeUndefined();
      },
    );
    expect(codeOf(refused)).toBe('TICKET_CHECKED_IN');
    expect((await stored(ticket?.id as string)).ownerId).toBe(giver.user.id);
    expect(
      await supergraph.databases.tickets.ticketTransferOffer.count({
        where: { ticketId: ticket?.id as string },
      }),
    ).toBe(0);
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
    // The offer stays open: the receiver may free room and accept it then.
    const pending = await supergraph.databases.tickets.ticketTransferOffer.findMany({
      where: { ticketId: ticket.id },
    });
    expect(pending.map((row) => row.status)).toEqual(['PENDING']);
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
    const offers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        offer(giver.accessToken, ticket.id, (i % 2 === 0 ? receiver : third).user.email),
      ),
    );
    // Ten offers at once: one is made. The others to its receiver are answered with it (as
    // a retry would be); those to the other account find it pending.
    const made = offers.find((result) => !result.errors)?.data?.transferTicket.pendingTransfer;
    const to = made?.to.name === receiver.user.name ? receiver : third;
    offers.forEach((result, i) => {
      const sentTo = i % 2 === 0 ? receiver : third;
      if (sentTo === to) {
        expect(result.errors).toBeUndefined();
        expect(result.data?.transferTicket.pendingTransfer?.id).toBe(made?.id);
      } else {
        expect(codeOf(result)).toBe('TRANSFER_PENDING');
      }
    });
    expect(
      await supergraph.databases.tickets.ticketTransferOffer.count({
        where: { ticketId: ticket.id },
      }),
    ).toBe(1);
    // Ten acceptances of it at once, through both gateways: one moves the ticket.
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        supergraph.request(
          'mutation ($id: ID!) { acceptTicketTransfer(id: $id) { id } }',
          { id: made?.id },
          { token: to.accessToken, gateway: i % 2 },
        ),
      ),
    );
    const codes = results.map((result) => codeOf(result) ?? 'OK');
    expect(codes.filter((code) => code === 'OK')).toHaveLength(1);
    expect(
      codes.filter((code) => code !== 'OK').every((code) => code === 'TRANSFER_NOT_PENDING'),
    ).toBe(true);
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

describe('a transfer offer', () => {
  it('costs its receiver nothing until accepted: unwanted offers leave their purchases possible', async () => {
    const fresh = await freshTier();
    const given = await buyTickets(supergraph, giver.accessToken, fresh.tierId, cap);
    for (const ticket of given) {
      const result = await offer(giver.accessToken, ticket.id, receiver.user.email);
      expect(result.errors).toBeUndefined();
      // Still the giver's, with the offer pending.
      expect(result.data?.transferTicket).toMatchObject({
        id: ticket.id,
        owner: { name: 'Gina Giver' },
        pendingTransfer: {
          status: 'PENDING',
          from: { name: 'Gina Giver' },
          to: { name: 'Rex Receiver' },
        },
      });
    }
    expect(await allowances(fresh.eventId)).toEqual({ [giver.user.id]: cap });
    const bought = await buyTickets(supergraph, receiver.accessToken, fresh.tierId, cap);
    expect(bought).toHaveLength(cap);
    expect(await allowances(fresh.eventId)).toEqual({
      [giver.user.id]: cap,
      [receiver.user.id]: cap,
    });
    for (const ticket of given) {
      expect(await stored(ticket.id)).toMatchObject({ ownerId: giver.user.id, code: ticket.code });
    }
    // The receiver sees the offers, with each ticket's tier and event, never its code or token.
    const listed = await supergraph.request<{
      myTicketTransfers: {
        totalCount: number;
        edges: {
          node: { id: string; status: string; ticket: { id: string; tier: { id: string } } };
        }[];
      };
    }>(
      '{ myTicketTransfers(first: 100) { totalCount edges { node { id status ticket { id tier { id } event { id } } } } } }',
      {},
      { token: receiver.accessToken },
    );
    expect(listed.errors).toBeUndefined();
    const incoming = listed.data?.myTicketTransfers.edges
      .map((edge) => edge.node)
      .filter((node) => given.some((ticket) => ticket.id === node.ticket.id));
    expect(incoming?.map((node) => node.ticket.tier.id)).toEqual(given.map(() => fresh.tierId));
    for (const field of ['code', 'qrToken']) {
      const peek = await supergraph.request<{
        myTicketTransfers: { edges: { node: { ticket: Record<string, string | null> } }[] };
      }>(
        `{ myTicketTransfers(first: 100) { edges { node { ticket { id ${field} } } } } }`,
        {},
        { token: receiver.accessToken },
      );
      // The list holds the receiver's own offers too (an earlier test's, left pending when
      // its acceptance met the cap), whose tickets are theirs to see: only those offered to
      // them must show nothing.
      const offeredToThem =
        peek.data?.myTicketTransfers.edges.filter((edge) =>
          given.some((ticket) => ticket.id === edge.node.ticket?.id),
        ) ?? [];
      expect(offeredToThem).toHaveLength(given.length);
      expect(offeredToThem.map((edge) => edge.node.ticket[field])).toEqual(given.map(() => null));
      expect(codeOf(peek)).toBe('FORBIDDEN');
    }
    const direct = await supergraph.request<{ ticket: unknown }>(
      'query ($id: ID!) { ticket(id: $id) { id code } }',
      { id: given[0]?.id },
      { token: receiver.accessToken },
    );
    expect(direct.data?.ticket).toBeNull();
    // Accepting one now meets the cap: the offer stays pending; declining clears it.
    const first = incoming?.[0]?.id as string;
    expect(codeOf(await accept(receiver.accessToken, first))).toBe('PURCHASE_LIMIT_REACHED');
    expect((await storedOffer(first)).status).toBe('PENDING');
    expect((await decline(receiver.accessToken, first)).data?.declineTicketTransfer.status).toBe(
      'DECLINED',
    );
    expect(await allowances(fresh.eventId)).toEqual({
      [giver.user.id]: cap,
      [receiver.user.id]: cap,
    });
  });

  it('answers a retried offer to the same receiver with the offer made, and makes no other', async () => {
    // The giver's first answer was lost (a timeout, a dropped connection), and the app sends
    // the same offer again.
    const ticket = await ticketOf(giver, (await freshTier()).tierId);
    const offerId = await offered(giver.accessToken, ticket.id, receiver);
    const before = await storedOffer(offerId);
    const again = await offer(giver.accessToken, ticket.id, receiver.user.email.toUpperCase());
    expect(again.errors).toBeUndefined();
    expect(again.data?.transferTicket.pendingTransfer?.id).toBe(offerId);
    expect(await storedOffer(offerId)).toEqual(before);
    expect(
      await supergraph.databases.tickets.ticketTransferOffer.count({
        where: { ticketId: ticket.id },
      }),
    ).toBe(1);
    // Once settled, the same offer again is a new offer.
    expect((await decline(receiver.accessToken, offerId)).errors).toBeUndefined();
    const anew = await offer(giver.accessToken, ticket.id, receiver.user.email);
    expect(anew.errors).toBeUndefined();
    expect(anew.data?.transferTicket.pendingTransfer?.id).not.toBe(offerId);
  });

  it('is the giver’s to see and list, and one at a time per ticket', async () => {
    const ticket = await ticketOf(giver, (await freshTier()).tierId);
    const offerId = await offered(giver.accessToken, ticket.id, receiver);
    const again = await offer(giver.accessToken, ticket.id, third.user.email);
    expect(codeOf(again)).toBe('TRANSFER_PENDING');
    const mine = await supergraph.request<{
      ticket: { code: string; pendingTransfer: { id: string; to: { name: string } } };
    }>(
      'query ($id: ID!) { ticket(id: $id) { code pendingTransfer { id to { name } } } }',
      { id: ticket.id },
      { token: giver.accessToken },
    );
    expect(mine.data?.ticket).toEqual({
      code: ticket.code,
      pendingTransfer: { id: offerId, to: { name: 'Rex Receiver' } },
    });
    const outgoing = await supergraph.request<{
      myTicketTransfers: { edges: { node: { id: string } }[] };
    }>(
      '{ myTicketTransfers(first: 100) { edges { node { id } } } }',
      {},
      { token: giver.accessToken },
    );
    expect(outgoing.data?.myTicketTransfers.edges.map((edge) => edge.node.id)).toContain(offerId);
    const outsider = await supergraph.request<{
      myTicketTransfers: { edges: { node: { id: string } }[] };
    }>(
      '{ myTicketTransfers(first: 100) { edges { node { id } } } }',
      {},
      { token: third.accessToken },
    );
    expect(outsider.data?.myTicketTransfers.edges.map((edge) => edge.node.id)).not.toContain(
      offerId,
    );
    for (const first of [-1, 101]) {
      const page = await supergraph.request(
        'query ($first: Int) { myTicketTransfers(first: $first) { totalCount } }',
        { first },
        { token: giver.accessToken },
      );
      expect(page.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'first',
      });
    }
    expect(codeOf(await supergraph.request('{ myTicketTransfers { totalCount } }'))).toBe(
      'UNAUTHENTICATED',
    );
    // Paged newest first, as orders are.
    const pageQuery =
      'query ($after: String) { myTicketTransfers(first: 1, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }';
    type OfferPage = {
      myTicketTransfers: {
        totalCount: number;
        pageInfo: { hasNextPage: boolean; endCursor: string };
        edges: { node: { id: string } }[];
      };
    };
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: { data?: OfferPage | null } = await supergraph.request<OfferPage>(
        pageQuery,
        { after },
        { token: receiver.accessToken },
      );
      const connection = page.data?.myTicketTransfers as OfferPage['myTicketTransfers'];
      seen.push(...connection.edges.map((edge) => edge.node.id));
      if (!connection.pageInfo.hasNextPage) {
        expect(seen).toHaveLength(connection.totalCount);
        break;
      }
      after = connection.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toContain(offerId);
    const forged = await supergraph.request(
      pageQuery,
      { after: 'bm90IGEgY3Vyc29y' },
      {
        token: receiver.accessToken,
      },
    );
    expect(forged.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'after',
    });
    // Cancelled, it makes room for another; cancelling twice answers the same.
    const cancelled = await cancelOffer(giver.accessToken, offerId);
    expect(cancelled.data?.cancelTicketTransfer).toEqual({ id: offerId, status: 'CANCELLED' });
    expect((await cancelOffer(giver.accessToken, offerId)).data?.cancelTicketTransfer.status).toBe(
      'CANCELLED',
    );
    expect(codeOf(await accept(receiver.accessToken, offerId))).toBe('TRANSFER_NOT_PENDING');
    expect((await offer(giver.accessToken, ticket.id, third.user.email)).errors).toBeUndefined();
  });

  it('is accepted by its receiver only: anyone else meets NOT_FOUND', async () => {
    const ticket = await ticketOf(giver, (await freshTier()).tierId);
    const offerId = await offered(giver.accessToken, ticket.id, receiver);
    for (const someone of [third, giver]) {
      expect(codeOf(await accept(someone.accessToken, offerId))).toBe('NOT_FOUND');
    }
    expect(codeOf(await decline(third.accessToken, offerId))).toBe('NOT_FOUND');
    expect(codeOf(await decline(giver.accessToken, offerId))).toBe('NOT_FOUND');
    expect(codeOf(await cancelOffer(receiver.accessToken, offerId))).toBe('NOT_FOUND');
    expect(
      codeOf(
        await supergraph.request('mutation ($id: ID!) { acceptTicketTransfer(id: $id) { id } }', {
          id: offerId,
        }),
      ),
    ).toBe('UNAUTHENTICATED');
    expect(await storedOffer(offerId)).toMatchObject({ status: 'PENDING', resolvedAt: null });
    expect(await stored(ticket.id)).toMatchObject({ ownerId: giver.user.id, tokenVersion: 1 });
  });

  it('answers ids that are not uuids with NOT_FOUND, touching nothing', async () => {
    for (const id of ['not-a-uuid', "'; DROP TABLE tickets; --", '', 'x'.repeat(300)]) {
      expect(codeOf(await accept(receiver.accessToken, id))).toBe('NOT_FOUND');
      expect(codeOf(await decline(receiver.accessToken, id))).toBe('NOT_FOUND');
      expect(codeOf(await cancelOffer(giver.accessToken, id))).toBe('NOT_FOUND');
    }
  });

  it('expires after TRANSFER_OFFER_HOURS or at the event’s start, and cannot be accepted then', async () => {
    const fresh = await freshTier();
    const [late, soon, started] = await buyTickets(supergraph, giver.accessToken, fresh.tierId, 3);
    const made = await offer(giver.accessToken, late?.id as string, receiver.user.email);
    const expiresAt = Date.parse(made.data?.transferTicket.pendingTransfer?.expiresAt as string);
    const createdAt = Date.parse(made.data?.transferTicket.pendingTransfer?.createdAt as string);
    expect(expiresAt - createdAt).toBeGreaterThan(72 * 3_600_000 - 5_000);
    expect(expiresAt - createdAt).toBeLessThanOrEqual(72 * 3_600_000 + 5_000);
    const offerId = made.data?.transferTicket.pendingTransfer?.id as string;
    // Its time passes.
    await supergraph.databases.tickets.ticketTransferOffer.update({
      where: { id: offerId },
      data: { expiresAt: new Date(Date.now() - 1_000) },
    });
    expect(codeOf(await accept(receiver.accessToken, offerId))).toBe('TRANSFER_EXPIRED');
    expect((await storedOffer(offerId)).status).toBe('EXPIRED');
    expect(codeOf(await decline(receiver.accessToken, offerId))).toBe('TRANSFER_NOT_PENDING');
    expect(await stored(late?.id as string)).toMatchObject({
      ownerId: giver.user.id,
      tokenVersion: 1,
    });
    expect(await allowances(fresh.eventId)).toEqual({ [giver.user.id]: 3 });
    // An expired offer makes room for a new one.
    expect(
      (await offer(giver.accessToken, late?.id as string, third.user.email)).errors,
    ).toBeUndefined();

    // The event starts in an hour: an offer lasts until then; once it has started, none is made.
    const startsAt = new Date(Date.now() + 3_600_000);
    await supergraph.databases.tickets.eventSnapshot.update({
      where: { eventId: fresh.eventId },
      data: { startsAt },
    });
    const shortened = await offer(giver.accessToken, soon?.id as string, receiver.user.email);
    expect(shortened.data?.transferTicket.pendingTransfer?.expiresAt).toBe(startsAt.toISOString());
    await supergraph.databases.tickets.eventSnapshot.update({
      where: { eventId: fresh.eventId },
      data: { startsAt: new Date(Date.now() - 60_000) },
    });
    expect(codeOf(await offer(giver.accessToken, started?.id as string, receiver.user.email))).toBe(
      'EVENT_STARTED',
    );
    const shortId = shortened.data?.transferTicket.pendingTransfer?.id as string;
    await supergraph.databases.tickets.ticketTransferOffer.update({
      where: { id: shortId },
      data: { expiresAt: new Date(Date.now() - 60_000) },
    });
    expect(codeOf(await accept(receiver.accessToken, shortId))).toBe('TRANSFER_EXPIRED');
  });

  it('is void once the giver refunded the ticket or was admitted with it', async () => {
    const fresh = await freshTier();
    const [refunded, admitted] = await buyTickets(supergraph, giver.accessToken, fresh.tierId, 2);
    const refundOffer = await offered(giver.accessToken, refunded?.id as string, receiver);
    const admitOffer = await offered(giver.accessToken, admitted?.id as string, receiver);
    const { orderId } = await stored(refunded?.id as string);
    const refund = await supergraph.request(
      'mutation ($orderId: ID!, $ticketIds: [ID!]) { refundOrder(orderId: $orderId, ticketIds: $ticketIds) { status } }',
      { orderId, ticketIds: [refunded?.id] },
      { token: giver.accessToken },
    );
    expect(refund.errors).toBeUndefined();
    const scanned = await scan(
      supergraph,
      organizer.accessToken,
      admitted?.code as string,
      fresh.eventId,
    );
    expect(scanned.errors).toBeUndefined();
    // Voided as it happened, in the same transaction.
    expect((await storedOffer(refundOffer)).status).toBe('CANCELLED');
    expect((await storedOffer(admitOffer)).status).toBe('CANCELLED');
    expect(codeOf(await accept(receiver.accessToken, refundOffer))).toBe('TICKET_CANCELLED');
    expect(codeOf(await accept(receiver.accessToken, admitOffer))).toBe('TICKET_CHECKED_IN');
    expect(await stored(refunded?.id as string)).toMatchObject({
      ownerId: giver.user.id,
      status: 'CANCELLED',
    });
    expect(await stored(admitted?.id as string)).toMatchObject({
      ownerId: giver.user.id,
      tokenVersion: 1,
    });
    expect(await allowances(fresh.eventId)).toEqual({ [giver.user.id]: 1 });
  });

  it('is accepted or cancelled, never both, when the two race', async () => {
    let accepted = 0;
    const tickets: string[] = [];
    for (let round = 0; round < 6; round++) {
      const fresh = await freshTier();
      const ticket = await ticketOf(giver, fresh.tierId);
      tickets.push(ticket.id);
      const offerId = await offered(giver.accessToken, ticket.id, receiver);
      const [took, withdrew] = await Promise.all([
        supergraph.request(
          'mutation ($id: ID!) { acceptTicketTransfer(id: $id) { id } }',
          { id: offerId },
          { token: receiver.accessToken, gateway: round % 2 },
        ),
        supergraph.request(
          'mutation ($id: ID!) { cancelTicketTransfer(id: $id) { status } }',
          { id: offerId },
          { token: giver.accessToken, gateway: 1 - (round % 2) },
        ),
      ]);
      const row = await storedOffer(offerId);
      const now = await stored(ticket.id);
      if (took.errors) {
        expect(codeOf(took)).toBe('TRANSFER_NOT_PENDING');
        expect(withdrew.errors).toBeUndefined();
        expect(row.status).toBe('CANCELLED');
        expect([now.ownerId, now.tokenVersion, now.code]).toEqual([giver.user.id, 1, ticket.code]);
        expect(await allowances(fresh.eventId)).toEqual({ [giver.user.id]: 1 });
      } else {
        expect(withdrew.errors?.[0]?.extensions).toMatchObject({
          code: 'TRANSFER_NOT_PENDING',
          status: 'ACCEPTED',
        });
        expect(row.status).toBe('ACCEPTED');
        expect([now.ownerId, now.tokenVersion]).toEqual([receiver.user.id, 2]);
        expect(await allowances(fresh.eventId)).toEqual({
          [giver.user.id]: 0,
          [receiver.user.id]: 1,
        });
        accepted += 1;
      }
    }
    // Each accepted offer moved its ticket once: one transfer recorded for each.
    expect(
      await supergraph.databases.tickets.ticketTransfer.count({
        where: { ticketId: { in: tickets } },
      }),
    ).toBe(accepted);
  });

  it('cannot be accepted once declined; declining again answers the same', async () => {
    const ticket = await ticketOf(giver, (await freshTier()).tierId);
    const offerId = await offered(giver.accessToken, ticket.id, receiver);
    const declined = await decline(receiver.accessToken, offerId);
    expect(declined.data?.declineTicketTransfer).toEqual({ id: offerId, status: 'DECLINED' });
    expect((await decline(receiver.accessToken, offerId)).data?.declineTicketTransfer).toEqual({
      id: offerId,
      status: 'DECLINED',
    });
    const late = await accept(receiver.accessToken, offerId);
    expect(late.errors?.[0]?.extensions).toMatchObject({
      code: 'TRANSFER_NOT_PENDING',
      status: 'DECLINED',
    });
    expect(codeOf(await cancelOffer(giver.accessToken, offerId))).toBe('TRANSFER_NOT_PENDING');
    expect(await storedOffer(offerId)).toMatchObject({ status: 'DECLINED' });
    expect((await storedOffer(offerId)).resolvedAt).not.toBeNull();
    expect(await stored(ticket.id)).toMatchObject({
      ownerId: giver.user.id,
      code: ticket.code,
      tokenVersion: 1,
    });
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
