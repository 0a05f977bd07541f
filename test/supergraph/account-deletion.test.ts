// Deleting an account through the gateway: refused while the account organizes published
// events not over, or holds tickets for events not over; otherwise its holds give their stock back, its
// waitlist entries leave their queues, its door-staff grants end, and what refers to it
// (an event's organizer) still reads. A purchase that loses the race to the deletion is
// refused whole.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDoorStaff, buyTickets } from './door.ts';
import { queuedBehindLock, type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  codeOf,
  draftEvent,
  eventOnSale,
  logIn,
  signUp,
  strongPassword,
} from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
});
afterAll(async () => {
  await supergraph?.stop();
});

const deleteAccount = (account: AuthPayload) =>
  supergraph.request<{ deleteAccount: boolean }>(
    'mutation ($p: String!) { deleteAccount(password: $p) }',
    { p: strongPassword },
    { token: account.accessToken },
  );

/**
 * Runs `during` in the instant between the tickets service closing `account` and the users
 * service deleting it, made certain: a second connection holds a hold of the account's
 * locked, so that the closing, committed, waits to release it (and the users service waits
 * for its answer) until `during` is done.
 */
async function betweenClosingAndDeleting<T>(
  account: AuthPayload,
  tierId: string,
  during: () => Promise<T>,
): Promise<{ deleted: Awaited<ReturnType<typeof deleteAccount>>; result: T }> {
  const held = await supergraph.request<{ holdTickets: { id: string } }>(
    'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }',
    { tierId },
    { token: account.accessToken },
  );
  const holdId = held.data?.holdTickets.id as string;
  let deletion: ReturnType<typeof deleteAccount> | undefined;
  const result = await supergraph.databases.tickets.$transaction(
    async (tx) => {
      await tx.$queryRaw`SELECT 1 FROM holds WHERE id = ${holdId}::uuid FOR UPDATE`;
      deletion = deleteAccount(account);
      await until(
        async () =>
          (await supergraph.databases.tickets.closedAccount.count({
            where: { userId: account.user.id },
          })) === 1,
      );
      return during();
    },
    { timeout: 20_000 },
  );
  return { deleted: await (deletion as ReturnType<typeof deleteAccount>), result };
}

async function until(condition: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('the condition never held');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const tier = async (tierId: string) =>
  supergraph.databases.tickets.ticketTier.findUniqueOrThrow({
    where: { id: tierId },
    select: { sold: true, held: true },
  });

const offerMutation = `mutation ($id: ID!, $to: String!) {
  transferTicket(id: $id, toEmail: $to) { pendingTransfer { id } }
}`;

/** `from` offers its ticket to `to`, which must succeed: the offer's id. */
async function offerTicket(from: AuthPayload, ticketId: string, to: AuthPayload): Promise<string> {
  const offered = await supergraph.request<{
    transferTicket: { pendingTransfer: { id: string } | null };
  }>(offerMutation, { id: ticketId, to: to.user.email }, { token: from.accessToken });
  const id = offered.data?.transferTicket.pendingTransfer?.id;
  if (!id) throw new Error(`no offer: ${JSON.stringify(offered.errors)}`);
  return id;
}

const acceptOffer = (account: AuthPayload, offerId: string) =>
  supergraph.request<{ acceptTicketTransfer: { id: string } }>(
    'mutation ($id: ID!) { acceptTicketTransfer(id: $id) { id } }',
    { id: offerId },
    { token: account.accessToken },
  );

/** The ids of the open offers `account` sees in `myTicketTransfers`. */
async function openOffersOf(account: AuthPayload): Promise<string[]> {
  const listed = await supergraph.request<{
    myTicketTransfers: { edges: { node: { id: string } }[] };
  }>(
    '{ myTicketTransfers(first: 100) { edges { node { id } } } }',
    {},
    {
      token: account.accessToken,
    },
  );
  return listed.data?.myTicketTransfers.edges.map((edge) => edge.node.id) ?? [];
}

const pendingTransferOf = async (account: AuthPayload, ticketId: string) =>
  (
    await supergraph.request<{ ticket: { pendingTransfer: { id: string } | null } }>(
      'query ($id: ID!) { ticket(id: $id) { pendingTransfer { id } } }',
      { id: ticketId },
      { token: account.accessToken },
    )
  ).data?.ticket.pendingTransfer;

const offerStatus = async (offerId: string) =>
  (
    await supergraph.databases.tickets.ticketTransferOffer.findUniqueOrThrow({
      where: { id: offerId },
    })
  ).status;

/** Whether the ticket is owned by a closed account, which no accept may make it. */
const ownedByClosedAccount = async (ticketId: string) =>
  (
    await supergraph.databases.tickets.$queryRaw<{ closed: boolean }[]>`
      SELECT EXISTS (
        SELECT 1 FROM tickets t JOIN closed_accounts c ON c.user_id = t.owner_id
        WHERE t.id = ${ticketId}::uuid
      ) AS closed`
  )[0]?.closed;

describe('deleting an account', () => {
  it('is refused while the account holds tickets for an event not over, and deletes nothing', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const buyer = await signUp(supergraph);
    const [ticket] = await buyTickets(supergraph, buyer.accessToken, tierIds[0] as string, 2);

    const refused = await deleteAccount(buyer);
    expect(codeOf(refused)).toBe('ACCOUNT_HAS_TICKETS');
    expect(refused.errors?.[0]?.extensions?.tickets).toBe(2);
    expect(refused.data).toBeNull();
    const me = await supergraph.request('{ me { id name } }', {}, { token: buyer.accessToken });
    expect(me.data).toEqual({ me: { id: buyer.user.id, name: 'Test User' } });
    // Still able to buy: nothing was closed.
    expect(await supergraph.databases.tickets.closedAccount.count()).toBe(0);

    // Once the tickets are given back, the account can go.
    const mine = await supergraph.databases.tickets.ticket.findMany({
      where: { ownerId: buyer.user.id, status: 'ACTIVE' },
    });
    expect(mine.map((row) => row.id)).toContain(ticket?.id);
    for (const row of mine) {
      const cancelled = await supergraph.request(
        'mutation ($id: ID!) { cancelTicket(id: $id) { status } }',
        { id: row.id },
        { token: buyer.accessToken },
      );
      expect(cancelled.errors).toBeUndefined();
    }
    expect((await deleteAccount(buyer)).data).toEqual({ deleteAccount: true });
    expect(await tier(tierIds[0] as string)).toEqual({ sold: 0, held: 0 });
  });

  it('gives back its holds’ stock, leaves its queues, ends its door-staff grants, and leaves its events readable', async () => {
    const seller = await signUp(supergraph, { accountType: 'ORGANIZER', name: 'Gone Organizer' });
    const { eventId, tierIds } = await eventOnSale(supergraph, seller.accessToken, [
      { name: 'Open', priceCents: 1000, currency: 'EUR', capacity: 10 },
      { name: 'Tiny', priceCents: 1000, currency: 'EUR', capacity: 1 },
    ]);
    const [open, tiny] = tierIds as [string, string];
    const leaving = await signUp(supergraph, { name: 'Leaving' });
    const leavingEmail = leaving.user.email;
    const held = await supergraph.request(
      'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 3) { id } }',
      { tierId: open },
      { token: leaving.accessToken },
    );
    expect(held.errors).toBeUndefined();
    expect(await tier(open)).toEqual({ sold: 0, held: 3 });
    await buyTickets(supergraph, (await signUp(supergraph)).accessToken, tiny);
    const queued = await supergraph.request(
      'mutation ($tierId: ID!) { joinWaitlist(tierId: $tierId, quantity: 1) { status } }',
      { tierId: tiny },
      { token: leaving.accessToken },
    );
    expect(queued.data).toEqual({ joinWaitlist: { status: 'WAITING' } });
    expect((await addDoorStaff(supergraph, seller.accessToken, eventId, leavingEmail)).errors).toBe(
      undefined,
    );

    expect((await deleteAccount(leaving)).data).toEqual({ deleteAccount: true });

    expect(await tier(open)).toEqual({ sold: 0, held: 0 });
    expect(
      await supergraph.databases.tickets.hold.count({
        where: { userId: leaving.user.id, status: 'ACTIVE' },
      }),
    ).toBe(0);
    expect(
      await supergraph.databases.tickets.waitlistEntry.findMany({
        where: { userId: leaving.user.id },
        select: { status: true, waiting: true },
      }),
    ).toEqual([{ status: 'LEFT', waiting: 0 }]);
    const staff = await supergraph.request<{ event: { doorStaff: { user: { id: string } }[] } }>(
      'query ($id: ID!) { event(id: $id) { doorStaff { user { id } } } }',
      { id: eventId },
      { token: seller.accessToken },
    );
    expect(staff.errors).toBeUndefined();
    expect(staff.data?.event.doorStaff).toEqual([]);

    // The organizer cannot go while their event is on sale: its buyers would have no one to
    // run, cancel or refund it. Once it is cancelled (its tickets refunded), they can, and
    // the event still reads, with its organizer anonymised.
    const refused = await deleteAccount(seller);
    expect(codeOf(refused)).toBe('ACCOUNT_HAS_EVENTS');
    expect(refused.errors?.[0]?.extensions?.events).toBe(1);
    const cancelled = await supergraph.request(
      'mutation ($id: ID!) { cancelEvent(id: $id) { status } }',
      { id: eventId },
      { token: seller.accessToken },
    );
    expect(cancelled.data).toEqual({ cancelEvent: { status: 'CANCELLED' } });
    expect((await deleteAccount(seller)).data).toEqual({ deleteAccount: true });
    const read = await supergraph.request(
      'query ($id: ID!) { event(id: $id) { id organizer { id name } ticketTiers { name } } }',
      { id: eventId },
    );
    expect(read.errors).toBeUndefined();
    expect(read.data).toEqual({
      event: {
        id: eventId,
        organizer: { id: seller.user.id, name: 'Deleted user' },
        ticketTiers: [{ name: 'Open' }, { name: 'Tiny' }],
      },
    });
  });

  it('refuses, whole, a purchase that reaches the tickets service after the account was closed', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const buyer = await signUp(supergraph);
    // The first step of its deletion, done; its access token not yet revoked.
    await supergraph.databases.tickets.closedAccount.create({ data: { userId: buyer.user.id } });

    const bought = await supergraph.request(
      'mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id } }',
      { input: { tierId: tierIds[0], quantity: 2, idempotencyKey: randomUUID() } },
      { token: buyer.accessToken },
    );
    expect(codeOf(bought)).toBe('UNAUTHENTICATED');
    expect(bought.errors?.[0]?.message).toBe('This account no longer exists.');
    expect(await tier(tierIds[0] as string)).toEqual({ sold: 0, held: 0 });
    expect(
      await supergraph.databases.tickets.order.count({ where: { buyerId: buyer.user.id } }),
    ).toBe(0);
    const queued = await supergraph.request(
      'mutation ($tierId: ID!) { joinWaitlist(tierId: $tierId, quantity: 1) { status } }',
      { tierId: tierIds[0] },
      { token: buyer.accessToken },
    );
    // Not sold out: refused for that before the database is asked, as for anyone.
    expect(codeOf(queued)).toBe('TIER_NOT_SOLD_OUT');

    // Others naming it meet an account that no longer exists, not the end of their session.
    const giver = await signUp(supergraph);
    const [gift] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    const given = await supergraph.request(
      'mutation ($id: ID!, $to: String!) { transferTicket(id: $id, toEmail: $to) { id } }',
      { id: gift?.id, to: buyer.user.email },
      { token: giver.accessToken },
    );
    expect(codeOf(given)).toBe('RECIPIENT_NOT_FOUND');
    expect(given.errors?.[0]?.extensions?.field).toBe('toEmail');
    expect(
      (await supergraph.databases.tickets.ticket.findUniqueOrThrow({ where: { id: gift?.id } }))
        .ownerId,
    ).toBe(giver.user.id);
    const named = await addDoorStaff(supergraph, organizer.accessToken, eventId, buyer.user.email);
    expect(codeOf(named)).toBe('USER_NOT_FOUND');
    expect(await supergraph.databases.tickets.doorStaff.count({ where: { eventId } })).toBe(0);
  });

  it('is asked of the tickets and events services through fields the gateway never offers', async () => {
    const buyer = await signUp(supergraph);
    for (const operation of [
      'mutation { closeAccount }',
      'mutation { reopenAccount }',
      'mutation { closeOrganizer }',
      'mutation { reopenOrganizer }',
      '{ publishedEventsNotOver }',
    ]) {
      const result = await supergraph.request(operation, {}, { token: buyer.accessToken });
      expect(codeOf(result)).toBe('GRAPHQL_VALIDATION_FAILED');
    }
    expect(
      await supergraph.databases.tickets.closedAccount.count({ where: { userId: buyer.user.id } }),
    ).toBe(0);
  });

  it('refuses an event published by the organizer after the account was closed', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Window', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const leaving = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const draft = await draftEvent(supergraph, leaving.accessToken, 'Last minute');
    const { deleted, result } = await betweenClosingAndDeleting(
      leaving,
      tierIds[0] as string,
      async () => ({
        published: await supergraph.request(
          'mutation ($id: ID!) { publishEvent(id: $id) { id } }',
          { id: draft },
          { token: leaving.accessToken },
        ),
        created: await supergraph.request(
          'mutation ($id: ID!) { publishEvent(id: $id) { id } }',
          { id: await draftEvent(supergraph, leaving.accessToken, 'Created then') },
          { token: leaving.accessToken },
        ),
      }),
    );
    expect(deleted.data).toEqual({ deleteAccount: true });
    expect(codeOf(result.published)).toBe('UNAUTHENTICATED');
    expect(result.published.errors?.[0]?.message).toBe('This account no longer exists.');
    expect(codeOf(result.created)).toBe('UNAUTHENTICATED');
    expect(
      await supergraph.databases.events.event.count({
        where: { organizerId: leaving.user.id, status: 'PUBLISHED' },
      }),
    ).toBe(0);
  });

  it('reopens the account when its deletion fails after closing it', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Reopened', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const staying = await signUp(supergraph);
    const giver = await signUp(supergraph);
    const [gift] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    const offerId = await offerTicket(giver, gift?.id as string, staying);
    // The password changed in that instant: the deletion, checked with the old one, stops.
    const { deleted } = await betweenClosingAndDeleting(
      staying,
      tierIds[0] as string,
      () =>
        supergraph.databases.users
          .$executeRaw`UPDATE users SET password_hash = 'changed meanwhile' WHERE id = ${staying.user.id}::uuid`,
    );
    expect(codeOf(deleted)).toBe('INVALID_CREDENTIALS');
    expect(
      await supergraph.databases.users.user.findUniqueOrThrow({ where: { id: staying.user.id } }),
    ).toMatchObject({ deletedAt: null });
    // Alive in the users service, so open in the tickets service: it can buy again.
    expect(
      await supergraph.databases.tickets.closedAccount.count({
        where: { userId: staying.user.id },
      }),
    ).toBe(0);
    const [bought] = await buyTickets(supergraph, staying.accessToken, tierIds[0] as string);
    expect(bought?.id).toBeDefined();
    // The offer the closing voided stays void: the giver offers again if they still wish.
    expect(await offerStatus(offerId)).toBe('CANCELLED');
    expect(await openOffersOf(staying)).not.toContain(offerId);
  });

  it('answers SERVICE_UNAVAILABLE within its deadline when the tickets service is slow, and closes nothing later', async () => {
    const waiting = await signUp(supergraph);
    let started: number | undefined;
    const answered = await supergraph.databases.tickets.$transaction(
      async (tx) => {
        // The closing waits for the account's lock, held here past the users service's patience.
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`account:${waiting.user.id}`}, 0))`;
        const answer = deleteAccount(waiting);
        // The deadline is the tickets service's (its closing, then the reopening, 3 s each),
        // from the deletion's mark, written just before the closing is sent: the password's
        // hash before it takes what the machine's load makes it, and is not what is promised.
        // The clock starts at the last look that did not yet see the mark, never after it.
        let settled = false;
        void answer.finally(() => {
          settled = true;
        });
        for (let missed = Date.now(); !settled; ) {
          const looking = Date.now();
          const marked = await supergraph.databases.users.pendingDeletion.count({
            where: { userId: waiting.user.id },
          });
          if (marked > 0) {
            started = missed;
            break;
          }
          missed = looking;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        return answer;
      },
      { timeout: 20_000 },
    );
    expect(started, 'the deletion was never marked').toBeDefined();
    expect(Date.now() - (started as number)).toBeLessThan(6_000);
    expect(codeOf(answered)).toBe('SERVICE_UNAVAILABLE');
    // The closing that was waiting goes on once the lock is free, and must not close it now.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(
      await supergraph.databases.tickets.closedAccount.count({
        where: { userId: waiting.user.id },
      }),
    ).toBe(0);
    expect(
      await supergraph.databases.users.user.findUniqueOrThrow({ where: { id: waiting.user.id } }),
    ).toMatchObject({ deletedAt: null });
    expect((await logIn(supergraph, waiting.user.email)).data?.logIn.user.id).toBe(waiting.user.id);
  });
  it('voids the offers made to the account: the giver may offer the ticket to someone else at once', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Offered', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const giver = await signUp(supergraph);
    const leaving = await signUp(supergraph);
    const other = await signUp(supergraph);
    const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    const ticketId = ticket?.id as string;
    const offerId = await offerTicket(giver, ticketId, leaving);
    expect(await pendingTransferOf(giver, ticketId)).toEqual({ id: offerId });

    expect((await deleteAccount(leaving)).data).toEqual({ deleteAccount: true });

    expect(await offerStatus(offerId)).toBe('CANCELLED');
    expect(await pendingTransferOf(giver, ticketId)).toBeNull();
    expect(await openOffersOf(giver)).not.toContain(offerId);
    const next = await offerTicket(giver, ticketId, other);
    expect(await openOffersOf(giver)).toEqual([next]);
  });

  it('voids the offers the account made: their receivers no longer see them', async () => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Over', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const leaving = await signUp(supergraph);
    const receiver = await signUp(supergraph);
    const [ticket] = await buyTickets(supergraph, leaving.accessToken, tierIds[0] as string);
    const offerId = await offerTicket(leaving, ticket?.id as string, receiver);
    // The event ends with the offer unanswered (its stored expiry still ahead): the account
    // holds no ticket for an event not over, and may go.
    await supergraph.databases.tickets.$executeRaw`
      UPDATE event_snapshots SET starts_at = now() - interval '2 hours', ends_at = now() - interval '1 hour'
      WHERE event_id = ${eventId}::uuid`;

    expect((await deleteAccount(leaving)).data).toEqual({ deleteAccount: true });

    expect(await offerStatus(offerId)).toBe('CANCELLED');
    expect(await openOffersOf(receiver)).not.toContain(offerId);
  });

  it('refuses an accept that reaches the tickets service after the account was closed', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Late accept', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const giver = await signUp(supergraph);
    const leaving = await signUp(supergraph);
    const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    const ticketId = ticket?.id as string;
    const offerId = await offerTicket(giver, ticketId, leaving);

    const { deleted, result } = await betweenClosingAndDeleting(leaving, tierIds[0] as string, () =>
      acceptOffer(leaving, offerId),
    );

    expect(deleted.data).toEqual({ deleteAccount: true });
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'TRANSFER_NOT_PENDING',
      status: 'CANCELLED',
    });
    expect(await offerStatus(offerId)).toBe('CANCELLED');
    expect(
      (await supergraph.databases.tickets.ticket.findUniqueOrThrow({ where: { id: ticketId } }))
        .ownerId,
    ).toBe(giver.user.id);
    expect(await ownedByClosedAccount(ticketId)).toBe(false);
  });

  it('either lets an accept racing the deletion win, refusing the deletion, or refuses the accept', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'Race', priceCents: 1000, currency: 'EUR', capacity: 50 },
    ]);
    const giver = await signUp(supergraph);
    let acceptedCount = 0;
    let refusedCount = 0;
    for (let round = 0; round < 6; round++) {
      const leaving = await signUp(supergraph);
      const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
      const ticketId = ticket?.id as string;
      const offerId = await offerTicket(giver, ticketId, leaving);
      // Both at the account's lock together: the test holds it until the accept (shared)
      // and the closing (exclusive) both wait for it. The accept first on odd rounds, the
      // deletion first on even ones: the first sent takes the lock first.
      const accept = {
        send: () => acceptOffer(leaving, offerId),
        waitsAt: 'lock_account($1::uuid, true)',
      };
      const deletion = {
        send: () => deleteAccount(leaving),
        waitsAt: 'lock_account($1::uuid, false)',
      };
      const lock = { sql: 'SELECT lock_account($1::uuid, false)', params: [leaving.user.id] };
      const [accepted, deleted] =
        round % 2
          ? await queuedBehindLock(supergraph, 'tickets', lock, [accept, deletion])
          : await queuedBehindLock(supergraph, 'tickets', lock, [deletion, accept]).then(
              ([d, a]) => [a, d] as const,
            );
      const owner = (
        await supergraph.databases.tickets.ticket.findUniqueOrThrow({ where: { id: ticketId } })
      ).ownerId;
      if (accepted.errors) {
        expect(accepted.errors[0]?.extensions).toMatchObject({
          code: 'TRANSFER_NOT_PENDING',
          status: 'CANCELLED',
        });
        expect(deleted.data).toEqual({ deleteAccount: true });
        expect(owner).toBe(giver.user.id);
        expect(await offerStatus(offerId)).toBe('CANCELLED');
        refusedCount += 1;
      } else {
        expect(codeOf(deleted)).toBe('ACCOUNT_HAS_TICKETS');
        expect(owner).toBe(leaving.user.id);
        expect(await offerStatus(offerId)).toBe('ACCEPTED');
        acceptedCount += 1;
      }
      expect(await ownedByClosedAccount(ticketId)).toBe(false);
    }
    expect(acceptedCount, 'no round let the accept win').toBeGreaterThan(0);
    expect(refusedCount, 'no round refused the accept').toBeGreaterThan(0);
  });
});
