// A mutation's answer and its write agree: what a client is told failed was not written,
// and what was written is answered, whatever else is away when the answer is built.
import { randomUUID } from 'node:crypto';
import { createLogger, type RunningService } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/ports.ts';
import {
  addDoorStaff,
  type BoughtTicket,
  buyTickets,
  type CheckInData,
  checkInMutation,
  offerTicket,
  scan,
} from './door.ts';
import { type GraphQLResult, gatewayOver, type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  codeOf,
  draftEvent,
  eventOnSale,
  publishedEvent,
  signUp,
  strongPassword,
  uniqueEmail,
} from './operations.ts';

let supergraph: Supergraph;
const extraGateways: RunningService[] = [];
let organizer: AuthPayload;

const tier = { name: 'Stalls', priceCents: 2000, currency: 'EUR', capacity: 100, maxPerOrder: 5 };

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
});
afterAll(async () => {
  for (const gateway of extraGateways) await gateway.stop();
  await supergraph?.stop();
});

/** A gateway over the test supergraph with `env` changed. */
async function gatewayWith(env: NodeJS.ProcessEnv): Promise<RunningService> {
  const gateway = await gatewayOver(supergraph, env, createLogger('gateway-under-test', 'silent'));
  extraGateways.push(gateway);
  return gateway;
}

async function post<Data>(
  gateway: RunningService,
  token: string | undefined,
  query: string,
  variables: Record<string, unknown>,
): Promise<GraphQLResult<Data>> {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, ...(await response.json()) };
}

/**
 * A gateway deadline longer than a password's hashing (about 0.35 s of CPU, more on a busy
 * machine), so that the write after it is reached, and shorter than the database's lock
 * wait (5 s), so that the write is still waiting when the client is answered.
 */
const pastHashing = 3_000;

/** The refresh tokens' table locked against writes: every session's start or end waits. */
const sessionsBusy: Lock = { database: 'users', sql: 'LOCK TABLE refresh_tokens IN SHARE MODE' };

/** A row or table lock on a service's database, as another request's transaction takes it. */
interface Lock {
  database: 'users' | 'events' | 'tickets';
  sql: string;
  params?: unknown[];
}

/** A transaction of a test's own, on one of the services' databases. */
interface LockingTransaction {
  $executeRawUnsafe(sql: string, ...values: unknown[]): Promise<number>;
  $queryRawUnsafe<T>(sql: string, ...values: unknown[]): Promise<T>;
}

/**
 * `meanwhile`, run while `lock` is held, then the lock let go: a transaction's statements
 * that need it queue until then.
 */
function holding<T>(lock: Lock, meanwhile: (tx: LockingTransaction) => Promise<T>): Promise<T> {
  const work = async (tx: LockingTransaction) => {
    await tx.$executeRawUnsafe(lock.sql, ...(lock.params ?? []));
    return meanwhile(tx);
  };
  const options = { timeout: 15_000 };
  const { databases } = supergraph;
  if (lock.database === 'users') return databases.users.$transaction(work, options);
  if (lock.database === 'events') return databases.events.$transaction(work, options);
  return databases.tickets.$transaction(work, options);
}

/**
 * Resolves once a statement of the database waits for a lock (for the one the test holds),
 * or after 5 s: a write refused before it (the client gone already) never comes to wait.
 */
async function writeWaiting(tx: LockingTransaction): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    // A transaction sees pg_stat_activity as it was at its first read, unless told to look again.
    await tx.$executeRawUnsafe('SELECT pg_stat_clear_snapshot()');
    const [{ waiting }] = await tx.$queryRawUnsafe<[{ waiting: number }]>(
      `SELECT count(*)::int AS waiting FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (waiting > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Sends a mutation through a gateway that waits `deadlineMs` for its subgraphs while `lock`
 * keeps the mutation's write waiting longer: the client is told SERVICE_UNAVAILABLE, and the
 * write's transaction is still waiting for the lock when it is. The answer, once the lock is
 * let go.
 */
async function answeredBehind<Data>(
  lock: Lock,
  request: MutationRequest,
  deadlineMs = 300,
): Promise<GraphQLResult<Data>> {
  const impatient = await gatewayWith({ SUBGRAPH_TIMEOUT_MS: String(deadlineMs) });
  return holding(lock, async (tx) => {
    const result = await post<Data>(impatient, request.token, request.query, request.variables);
    await writeWaiting(tx);
    return result;
  });
}

/** A mutation as `answeredBehind` and `retriedBehind` send it. */
interface MutationRequest {
  token?: string;
  query: string;
  variables: Record<string, unknown>;
}

/**
 * The mutation answered SERVICE_UNAVAILABLE behind `lock` (answeredBehind), then sent again
 * as that answer says, once the lock is gone: the retry's data, which must have no error.
 */
async function retriedBehind<Data>(
  lock: Lock,
  request: MutationRequest,
  deadlineMs?: number,
): Promise<Data | null | undefined> {
  expect(codeOf(await answeredBehind(lock, request, deadlineMs))).toBe('SERVICE_UNAVAILABLE');
  const retried = await supergraph.request<Data>(
    request.query,
    request.variables,
    request.token ? { token: request.token } : {},
  );
  expect(retried.errors).toBeUndefined();
  return retried.data;
}

const holdMutation = `mutation ($tierId: ID!, $quantity: Int!) {
  holdTickets(tierId: $tierId, quantity: $quantity) { id quantity }
}`;

describe('a hold the gateway stopped waiting for', () => {
  it('is not made: the stock stays free and the buyer holds nothing', async () => {
    const buyer = await signUp(supergraph);
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const tierId = tierIds[0] as string;
    const impatient = await gatewayWith({ SUBGRAPH_TIMEOUT_MS: '300' });
    // The tier's row is busy (a rush of holds and purchases on it) for longer than the
    // gateway waits: the hold queues for it, and the client is told SERVICE_UNAVAILABLE.
    const answered = await supergraph.databases.tickets.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT 1 FROM ticket_tiers WHERE id = ${tierId}::uuid FOR UPDATE`;
        const result = await post<{ holdTickets: { id: string } }>(
          impatient,
          buyer.accessToken,
          holdMutation,
          { tierId, quantity: 2 },
        );
        // The hold's transaction is still waiting for the row when the client is answered.
        await new Promise((resolve) => setTimeout(resolve, 200));
        return result;
      },
      { timeout: 10_000 },
    );
    expect(answered.data?.holdTickets ?? null).toBeNull();
    expect(codeOf(answered)).toBe('SERVICE_UNAVAILABLE');
    // A hold of the same buyer waits for the first one's transaction (a buyer's holds are
    // made one at a time): by its answer, the first one is committed or rolled back.
    const next = await supergraph.request<{ holdTickets: { id: string } }>(
      holdMutation,
      { tierId, quantity: 1 },
      { token: buyer.accessToken },
    );
    expect(next.errors).toBeUndefined();
    const holds = await supergraph.databases.tickets.hold.findMany({
      where: { userId: buyer.user.id, tierId },
    });
    expect(holds.map((hold) => [hold.id, hold.quantity])).toEqual([[next.data?.holdTickets.id, 1]]);
    const stock = await supergraph.databases.tickets.ticketTier.findUniqueOrThrow({
      where: { id: tierId },
    });
    expect(stock.held).toBe(1);
  });
});

describe('a change the gateway stopped waiting for', () => {
  it('is not made: an accepted transfer retried after SERVICE_UNAVAILABLE is accepted then', async () => {
    const giver = await signUp(supergraph);
    const receiver = await signUp(supergraph);
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [ticket] = await buyTickets(supergraph, giver.accessToken, tierIds[0] as string);
    const ticketId = (ticket as BoughtTicket).id;
    const offerId = await offerTicket(supergraph, giver.accessToken, ticketId, receiver.user.email);
    const impatient = await gatewayWith({ SUBGRAPH_TIMEOUT_MS: '300' });
    const accept = 'mutation ($id: ID!) { acceptTicketTransfer(id: $id) { id code } }';
    // The ticket's row is busy (a scan at the door, a refund) for longer than the gateway
    // waits: the acceptance queues for it, and the receiver is told SERVICE_UNAVAILABLE.
    const answered = await supergraph.databases.tickets.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT 1 FROM tickets WHERE id = ${ticketId}::uuid FOR UPDATE`;
        const result = await post<{ acceptTicketTransfer: { id: string } }>(
          impatient,
          receiver.accessToken,
          accept,
          { id: offerId },
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
        return result;
      },
      { timeout: 10_000 },
    );
    expect(answered.data?.acceptTicketTransfer ?? null).toBeNull();
    expect(codeOf(answered)).toBe('SERVICE_UNAVAILABLE');
    // The receiver tries again, as told (it waits for the first attempt's transaction, on
    // the ticket's row): the offer was still pending, and the ticket is theirs now.
    const retried = await supergraph.request<{
      acceptTicketTransfer: { id: string; code: string };
    }>(accept, { id: offerId }, { token: receiver.accessToken });
    expect(retried.errors).toBeUndefined();
    expect(retried.data?.acceptTicketTransfer.id).toBe(ticketId);
    const stored = await supergraph.databases.tickets.ticket.findUniqueOrThrow({
      where: { id: ticketId },
    });
    expect([stored.ownerId, stored.tokenVersion, stored.code]).toEqual([
      receiver.user.id,
      2,
      retried.data?.acceptTicketTransfer.code,
    ]);
    expect(await supergraph.databases.tickets.ticketTransfer.count({ where: { ticketId } })).toBe(
      1,
    );
  });

  it('is not made: a tier created past the deadline is not there, and its retry makes one', async () => {
    const eventId = await publishedEvent(supergraph, organizer.accessToken);
    const impatient = await gatewayWith({ SUBGRAPH_TIMEOUT_MS: '300' });
    const create = `mutation ($eventId: ID!, $input: TicketTierInput!) {
      createTicketTier(eventId: $eventId, input: $input) { id }
    }`;
    // Another tier of the event being created holds the event's lock on its tiers.
    const answered = await supergraph.databases.tickets.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`tiers:${eventId}`}, 0))`;
        const result = await post<{ createTicketTier: { id: string } }>(
          impatient,
          organizer.accessToken,
          create,
          { eventId, input: tier },
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
        return result;
      },
      { timeout: 10_000 },
    );
    expect(codeOf(answered)).toBe('SERVICE_UNAVAILABLE');
    const retried = await supergraph.request<{ createTicketTier: { id: string } }>(
      create,
      { eventId, input: tier },
      { token: organizer.accessToken },
    );
    expect(retried.errors).toBeUndefined();
    const tiers = await supergraph.databases.tickets.ticketTier.findMany({ where: { eventId } });
    expect(tiers.map((row) => row.id)).toEqual([retried.data?.createTicketTier.id]);
  });
});

describe('an event change the gateway stopped waiting for', () => {
  it('is not made: a publication retried after SERVICE_UNAVAILABLE publishes then', async () => {
    const eventId = await draftEvent(supergraph, organizer.accessToken);
    const impatient = await gatewayWith({ SUBGRAPH_TIMEOUT_MS: '300' });
    const publish = 'mutation ($id: ID!) { publishEvent(id: $id) { id status } }';
    // The event's row is busy (its organizer's other edit) for longer than the gateway waits.
    const answered = await supergraph.databases.events.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT 1 FROM events WHERE id = ${eventId}::uuid FOR UPDATE`;
        const result = await post<{ publishEvent: { id: string } }>(
          impatient,
          organizer.accessToken,
          publish,
          { id: eventId },
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
        return result;
      },
      { timeout: 10_000 },
    );
    expect(codeOf(answered)).toBe('SERVICE_UNAVAILABLE');
    // The organizer publishes again, as told: not INVALID_STATE_TRANSITION for a publication
    // they were told had failed, and one message for the tickets service, not two.
    const retried = await supergraph.request<{ publishEvent: { status: string } }>(
      publish,
      { id: eventId },
      { token: organizer.accessToken },
    );
    expect(retried.errors).toBeUndefined();
    expect(retried.data?.publishEvent.status).toBe('PUBLISHED');
    expect(
      await supergraph.databases.events.outboxMessage.count({
        where: { eventId, topic: 'event.published' },
      }),
    ).toBe(1);
  });

  it('is not made: a draft created past the deadline is not there, and its retry makes one', async () => {
    const creator = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const impatient = await gatewayWith({ SUBGRAPH_TIMEOUT_MS: '300' });
    const create = 'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id } }';
    const input = {
      title: 'Late',
      venue: 'Hall',
      city: 'Ticketton',
      timezone: 'Europe/Berlin',
      startsAt: new Date(Date.now() + 20 * 86_400_000).toISOString(),
    };
    // The organizer's other creation holds their lock on creating events.
    const answered = await supergraph.databases.events.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`events:${creator.user.id}`}, 0))`;
        const result = await post<{ createEvent: { id: string } }>(
          impatient,
          creator.accessToken,
          create,
          { input },
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
        return result;
      },
      { timeout: 10_000 },
    );
    expect(codeOf(answered)).toBe('SERVICE_UNAVAILABLE');
    const retried = await supergraph.request<{ createEvent: { id: string } }>(
      create,
      { input },
      { token: creator.accessToken },
    );
    expect(retried.errors).toBeUndefined();
    const drafts = await supergraph.databases.events.event.findMany({
      where: { organizerId: creator.user.id },
    });
    expect(drafts.map((draft) => draft.id)).toEqual([retried.data?.createEvent.id]);
  });
});

describe('a one-statement change the gateway stopped waiting for', () => {
  const ticketRow = (ticketId: string): Lock => ({
    database: 'tickets',
    sql: 'SELECT 1 FROM tickets WHERE id = $1::uuid FOR UPDATE',
    params: [ticketId],
  });

  async function ticketOfEvent(): Promise<{ eventId: string; ticket: BoughtTicket }> {
    const buyer = await signUp(supergraph);
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const [ticket] = await buyTickets(supergraph, buyer.accessToken, tierIds[0] as string);
    return { eventId, ticket: ticket as BoughtTicket };
  }

  const admissions = (ticketId: string, action: 'ADMIT' | 'UNDO') =>
    supergraph.databases.tickets.checkInRecord.count({ where: { ticketId, action } });

  it('is not made: a first scan retried after SERVICE_UNAVAILABLE admits then', async () => {
    const { eventId, ticket } = await ticketOfEvent();
    // The ticket's row is busy (its owner cancelling it, a transfer) for longer than the
    // gateway waits: the door is told SERVICE_UNAVAILABLE, and scans again.
    const retried = await retriedBehind<CheckInData>(ticketRow(ticket.id), {
      token: organizer.accessToken,
      query: checkInMutation,
      variables: { code: ticket.code, eventId },
    });
    expect(retried?.checkInTicket.ticket.id).toBe(ticket.id);
    expect(await admissions(ticket.id, 'ADMIT')).toBe(1);
  });

  it('is not made: an undone admission retried after SERVICE_UNAVAILABLE is undone then', async () => {
    const { eventId, ticket } = await ticketOfEvent();
    expect(
      (await scan(supergraph, organizer.accessToken, ticket.code, eventId)).errors,
    ).toBeUndefined();
    const undo =
      'mutation ($ticketId: ID!, $eventId: ID!) { undoCheckIn(ticketId: $ticketId, eventId: $eventId) { id checkedInAt } }';
    const retried = await retriedBehind<{ undoCheckIn: unknown }>(ticketRow(ticket.id), {
      token: organizer.accessToken,
      query: undo,
      variables: { ticketId: ticket.id, eventId },
    });
    expect(retried?.undoCheckIn).toEqual({ id: ticket.id, checkedInAt: null });
    expect(await admissions(ticket.id, 'UNDO')).toBe(1);
  });

  it('is not made: door staff removed again after SERVICE_UNAVAILABLE are removed then', async () => {
    const eventId = await publishedEvent(supergraph, organizer.accessToken);
    const member = await signUp(supergraph);
    expect(
      (await addDoorStaff(supergraph, organizer.accessToken, eventId, member.user.email)).errors,
    ).toBeUndefined();
    const remove =
      'mutation ($eventId: ID!, $userId: ID!) { removeDoorStaff(eventId: $eventId, userId: $userId) }';
    const variables = { eventId, userId: member.user.id };
    const retried = await retriedBehind<{ removeDoorStaff: boolean }>(
      {
        database: 'tickets',
        sql: 'SELECT 1 FROM door_staff WHERE event_id = $1::uuid AND user_id = $2::uuid FOR UPDATE',
        params: [eventId, member.user.id],
      },
      { token: organizer.accessToken, query: remove, variables },
    );
    expect(retried?.removeDoorStaff).toBe(true);
    expect(await supergraph.databases.tickets.doorStaff.count({ where: { eventId } })).toBe(0);
  });

  it('is not made: a waitlist left again after SERVICE_UNAVAILABLE is left then', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { ...tier, capacity: 1 },
    ]);
    const tierId = tierIds[0] as string;
    await buyTickets(supergraph, (await signUp(supergraph)).accessToken, tierId);
    const waiter = await signUp(supergraph);
    const joined = await supergraph.request(
      'mutation ($tierId: ID!) { joinWaitlist(tierId: $tierId, quantity: 1) { status } }',
      { tierId },
      { token: waiter.accessToken },
    );
    expect(joined.errors).toBeUndefined();
    const leave = 'mutation ($tierId: ID!) { leaveWaitlist(tierId: $tierId) { status } }';
    const retried = await retriedBehind<{ leaveWaitlist: { status: string } }>(
      {
        database: 'tickets',
        sql: 'SELECT 1 FROM waitlist_entries WHERE tier_id = $1::uuid AND user_id = $2::uuid FOR UPDATE',
        params: [tierId, waiter.user.id],
      },
      { token: waiter.accessToken, query: leave, variables: { tierId } },
    );
    expect(retried?.leaveWaitlist.status).toBe('LEFT');
  });

  it('is not made: a draft deleted again after SERVICE_UNAVAILABLE is deleted then', async () => {
    const eventId = await draftEvent(supergraph, organizer.accessToken);
    const remove = 'mutation ($id: ID!) { deleteEvent(id: $id) }';
    const retried = await retriedBehind<{ deleteEvent: boolean }>(
      {
        database: 'events',
        sql: 'SELECT 1 FROM events WHERE id = $1::uuid FOR UPDATE',
        params: [eventId],
      },
      { token: organizer.accessToken, query: remove, variables: { id: eventId } },
    );
    expect(retried?.deleteEvent).toBe(true);
    expect(await supergraph.databases.events.event.count({ where: { id: eventId } })).toBe(0);
  });
});

describe('a sign-up the gateway stopped waiting for', () => {
  it('makes no account: its retry signs up, not EMAIL_TAKEN', async () => {
    const signUpMutation = `mutation ($input: SignUpInput!) { signUp(input: $input) { user { id } } }`;
    const input = {
      email: uniqueEmail('late-session'),
      password: strongPassword,
      name: 'Late',
      accountType: 'CUSTOMER',
    };
    // The account is written once its password is hashed (about 0.35 s); its first session
    // then waits for the refresh tokens' table (a busy moment) past the gateway's deadline.
    const retried = await retriedBehind<{ signUp: { user: { id: string } } }>(
      sessionsBusy,
      { query: signUpMutation, variables: { input } },
      pastHashing,
    );
    const accounts = await supergraph.databases.users.user.findMany({
      where: { email: input.email },
    });
    expect(accounts.map((account) => account.id)).toEqual([retried?.signUp.user.id]);
  });
});

describe('a session change the gateway stopped waiting for', () => {
  const userRow = (userId: string): Lock => ({
    database: 'users',
    sql: 'SELECT 1 FROM users WHERE id = $1::uuid FOR UPDATE',
    params: [userId],
  });

  it('is not made: a refresh leaves its token unused, to be exchanged again', async () => {
    const user = await signUp(supergraph);
    const refresh = `mutation ($token: String!) { refreshSession(refreshToken: $token) { refreshToken } }`;
    // The account's row is busy (a login ending its oldest session) past the deadline.
    const answered = await answeredBehind(userRow(user.user.id), {
      query: refresh,
      variables: { token: user.refreshToken },
    });
    expect(codeOf(answered)).toBe('SERVICE_UNAVAILABLE');
    // Taken once the transactions that queued for the row before it are over.
    await holding(userRow(user.user.id), async () => undefined);
    const tokens = await supergraph.databases.users.refreshToken.findMany({
      where: { userId: user.user.id },
    });
    // Exchanged behind that answer, the token would be "used": a retry past the grace
    // period would end the session as a stolen token's.
    expect(tokens.map((token) => token.usedAt)).toEqual([null]);
  });

  it('is not made: a login leaves no session behind', async () => {
    const user = await signUp(supergraph);
    const login = `mutation ($email: String!, $password: String!) { logIn(email: $email, password: $password) { refreshToken } }`;
    const answered = await answeredBehind(
      sessionsBusy,
      { query: login, variables: { email: user.user.email, password: strongPassword } },
      pastHashing,
    );
    expect(codeOf(answered)).toBe('SERVICE_UNAVAILABLE');
    // Taken once the transactions that queued for the table before it are over.
    await holding(sessionsBusy, async () => undefined);
    expect(
      await supergraph.databases.users.refreshToken.count({ where: { userId: user.user.id } }),
    ).toBe(1);
  });

  it('is not made: a password change retried after SERVICE_UNAVAILABLE changes it then', async () => {
    const user = await signUp(supergraph);
    const change = `mutation ($current: String!, $next: String!) {
      changePassword(currentPassword: $current, newPassword: $next)
    }`;
    const variables = { current: strongPassword, next: 'another long passphrase, not guessed' };
    // Both passwords are hashed (about 0.7 s) before the write, whose ending of the other
    // sessions waits for their table.
    const retried = await retriedBehind<{ changePassword: boolean }>(
      sessionsBusy,
      { token: user.accessToken, query: change, variables },
      pastHashing,
    );
    expect(retried?.changePassword).toBe(true);
  });

  it('is not made: an account deletion retried after SERVICE_UNAVAILABLE deletes it then', async () => {
    const user = await signUp(supergraph);
    const remove = 'mutation ($password: String!) { deleteAccount(password: $password) }';
    const variables = { password: strongPassword };
    // The password is checked (about 0.35 s) and the account closed for tickets before the
    // deletion's write, whose ending of the account's sessions waits for their table.
    const retried = await retriedBehind<{ deleteAccount: boolean }>(
      sessionsBusy,
      { token: user.accessToken, query: remove, variables },
      pastHashing,
    );
    expect(retried?.deleteAccount).toBe(true);
  });
});

describe('a mutation sent again after its answer was lost', () => {
  /** Sends a mutation twice, as a client that never got the first answer does. */
  async function sentTwice<Data>(request: MutationRequest) {
    const send = () =>
      supergraph.request<Data>(
        request.query,
        request.variables,
        request.token ? { token: request.token } : {},
      );
    const first = await send();
    expect(first.errors).toBeUndefined();
    return { first: first.data, again: await send() };
  }

  it('refunds once: the second refundOrder is ALREADY_REFUNDED', async () => {
    const buyer = await signUp(supergraph);
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const bought = await supergraph.request<{ purchaseTickets: { id: string } }>(
      'mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id } }',
      { input: { tierId: tierIds[0], quantity: 2, idempotencyKey: randomUUID() } },
      { token: buyer.accessToken },
    );
    const orderId = bought.data?.purchaseTickets.id as string;
    const { again } = await sentTwice({
      token: buyer.accessToken,
      query: 'mutation ($orderId: ID!) { refundOrder(orderId: $orderId) { id status } }',
      variables: { orderId },
    });
    expect(codeOf(again)).toBe('ALREADY_REFUNDED');
    expect(await supergraph.databases.tickets.refund.count({ where: { orderId } })).toBe(1);
    const stock = await supergraph.databases.tickets.ticketTier.findUniqueOrThrow({
      where: { id: tierIds[0] as string },
    });
    expect(stock.sold).toBe(0);
  });

  it('cancels an event once: the second cancelEvent says it is cancelled already', async () => {
    const eventId = await publishedEvent(supergraph, organizer.accessToken);
    const { again } = await sentTwice({
      token: organizer.accessToken,
      query: 'mutation ($id: ID!) { cancelEvent(id: $id) { status } }',
      variables: { id: eventId },
    });
    expect(again.errors?.[0]?.extensions).toMatchObject({
      code: 'INVALID_STATE_TRANSITION',
      status: 'CANCELLED',
    });
    expect(
      await supergraph.databases.events.outboxMessage.count({
        where: { eventId, topic: 'event.cancelled' },
      }),
    ).toBe(1);
  });

  it('answers the same to addDoorStaff, updateTicketTier and logOut', async () => {
    const member = await signUp(supergraph);
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const named = await sentTwice<{ addDoorStaff: unknown }>({
      token: organizer.accessToken,
      query:
        'mutation ($eventId: ID!, $email: String!) { addDoorStaff(eventId: $eventId, email: $email) { addedAt user { id } } }',
      variables: { eventId, email: member.user.email },
    });
    expect(named.again.errors).toBeUndefined();
    expect(named.again.data).toEqual(named.first);
    const resized = await sentTwice<{ updateTicketTier: unknown }>({
      token: organizer.accessToken,
      query:
        'mutation ($id: ID!) { updateTicketTier(id: $id, input: { capacity: 50 }) { capacity available } }',
      variables: { id: tierIds[0] },
    });
    expect(resized.again.errors).toBeUndefined();
    expect(resized.again.data).toEqual(resized.first);
    const loggedOut = await sentTwice<{ logOut: boolean }>({
      query: 'mutation ($token: String!) { logOut(refreshToken: $token) }',
      variables: { token: member.refreshToken },
    });
    expect(loggedOut.again.errors).toBeUndefined();
    expect(loggedOut.again.data).toEqual({ logOut: true });
  });
});

describe('a purchase answered while the events service is away', () => {
  it('comes back with its order, the event null, and a retry with its key returns the same', async () => {
    const buyer = await signUp(supergraph);
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const noEvents = await gatewayWith({
      EVENTS_URL: `http://127.0.0.1:${await freePort()}/graphql`,
    });
    // As the web client asks it (clients/operations/PurchaseTickets.graphql).
    const purchase = `mutation ($input: PurchaseInput!) {
      purchaseTickets(input: $input) {
        id totalCents currency createdAt
        event { id title startsAt timezone }
        tickets { id code status tier { id name } }
      }
    }`;
    type Purchased = {
      purchaseTickets: { id: string; event: unknown; tickets: { id: string }[] };
    };
    const input = { tierId: tierIds[0], quantity: 2, idempotencyKey: randomUUID() };
    const answered = await post<Purchased>(noEvents, buyer.accessToken, purchase, { input });
    const orders = await supergraph.databases.tickets.order.findMany({
      where: { buyerId: buyer.user.id },
    });
    expect(orders).toHaveLength(1);
    expect(answered.data?.purchaseTickets.id).toBe(orders[0]?.id);
    expect(answered.data?.purchaseTickets.tickets).toHaveLength(2);
    expect(answered.data?.purchaseTickets.event).toBeNull();
    expect(answered.errors?.map((error) => error.extensions?.code)).toEqual([
      'SERVICE_UNAVAILABLE',
    ]);
    // A client that reads any error as a failure retries with the same key: the same order.
    const retried = await supergraph.request<Purchased>(
      purchase,
      { input },
      { token: buyer.accessToken },
    );
    expect(retried.errors).toBeUndefined();
    expect(retried.data?.purchaseTickets.id).toBe(orders[0]?.id);
    expect(
      await supergraph.databases.tickets.order.count({ where: { buyerId: buyer.user.id } }),
    ).toBe(1);
  });
});

describe('with Redis away', () => {
  let away: Supergraph;

  beforeAll(async () => {
    // Nothing listens there: every service's invalidations and revocations fail at once.
    away = await startSupergraph({
      env: { REDIS_URL: `redis://127.0.0.1:${await freePort()}` },
    });
  });
  afterAll(async () => {
    await away?.stop();
  });

  it('an event published, a hold made and a ticket cancelled are answered as made', async () => {
    const owner = await signUp(away, { accountType: 'ORGANIZER' });
    const buyer = await signUp(away);
    const eventId = await draftEvent(away, owner.accessToken);
    const published = await away.request<{ publishEvent: { status: string } }>(
      'mutation ($id: ID!) { publishEvent(id: $id) { status } }',
      { id: eventId },
      { token: owner.accessToken },
    );
    expect(published.errors).toBeUndefined();
    expect(published.data?.publishEvent.status).toBe('PUBLISHED');
    expect(
      (await away.databases.events.event.findUniqueOrThrow({ where: { id: eventId } })).status,
    ).toBe('PUBLISHED');
    const { tierIds } = await eventOnSale(away, owner.accessToken, [tier]);
    const held = await away.request<{ holdTickets: { id: string } }>(
      holdMutation,
      { tierId: tierIds[0], quantity: 2 },
      { token: buyer.accessToken },
    );
    expect(held.errors).toBeUndefined();
    expect(
      await away.databases.tickets.hold.count({ where: { id: held.data?.holdTickets.id } }),
    ).toBe(1);
    const [ticket] = await buyTickets(away, buyer.accessToken, tierIds[0] as string);
    const cancelled = await away.request<{ cancelTicket: { status: string } }>(
      'mutation ($id: ID!) { cancelTicket(id: $id) { status } }',
      { id: (ticket as BoughtTicket).id },
      { token: buyer.accessToken },
    );
    expect(cancelled.errors).toBeUndefined();
    expect(cancelled.data?.cancelTicket.status).toBe('CANCELLED');
  });
});
