// Bad input names the argument at fault. An error refusing a request because of one
// argument's value (an id that names nothing the caller may see, a tier sold out, a hold
// gone) says in `extensions.field` which argument, as the client wrote its path, so that a
// client can show the refusal beside the field rather than guess it from the message. A
// query field that answers null for an unknown id is not refused, and names nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, eventOnSale, logIn, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let buyer: AuthPayload;
let adminToken: string;
/** A tier of one ticket, sold to `buyer` before the tests. */
let soldOutTierId: string;
/** A tier with tickets to spare. */
let tierId: string;
/** A tier whose sales open tomorrow. */
let notYetTierId: string;

const adminEmail = 'error-fields-admin@example.com';
const adminPassword = 'the admin password of error fields';
const tier = { name: 'Floor', priceCents: 2500, currency: 'EUR', maxPerOrder: 4 };

beforeAll(async () => {
  supergraph = await startSupergraph({
    env: { BOOTSTRAP_ADMIN_EMAIL: adminEmail, BOOTSTRAP_ADMIN_PASSWORD: adminPassword },
  });
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  buyer = await signUp(supergraph);
  adminToken = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn
    .accessToken as string;
  ({
    tierIds: [soldOutTierId = '', tierId = '', notYetTierId = ''],
  } = await eventOnSale(supergraph, organizer.accessToken, [
    { ...tier, capacity: 1 },
    { ...tier, capacity: 100 },
    { ...tier, capacity: 100, salesStartAt: new Date(Date.now() + 86_400_000).toISOString() },
  ]));
  const bought = await supergraph.request(
    purchase,
    {
      input: { tierId: soldOutTierId, quantity: 1, idempotencyKey: randomUUID() },
    },
    { token: buyer.accessToken },
  );
  expect(bought.errors).toBeUndefined();
});
afterAll(async () => {
  await supergraph?.stop();
});

/** A refusal: the document, its variables, who sends it, and what its error must say. */
interface Refusal {
  document: string;
  variables: () => Record<string, unknown>;
  token: () => string;
  code: string;
  field: string;
}

async function refused({ document, variables, token }: Refusal) {
  const result = await supergraph.request(document, variables(), { token: token() });
  return result.errors?.[0]?.extensions;
}

/** An id no row has. */
const unknown = () => randomUUID();

const purchase = 'mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id } }';

describe('the events service names the id of an event it does not find', () => {
  const cases: Record<string, Refusal> = {
    updateEvent: {
      document: 'mutation ($id: ID!) { updateEvent(id: $id, input: { title: "T" }) { id } }',
      variables: () => ({ id: unknown() }),
      token: () => organizer.accessToken,
      code: 'NOT_FOUND',
      field: 'id',
    },
    publishEvent: {
      document: 'mutation ($id: ID!) { publishEvent(id: $id) { id } }',
      variables: () => ({ id: unknown() }),
      token: () => organizer.accessToken,
      code: 'NOT_FOUND',
      field: 'id',
    },
    cancelEvent: {
      document: 'mutation ($id: ID!) { cancelEvent(id: $id) { id } }',
      variables: () => ({ id: unknown() }),
      token: () => organizer.accessToken,
      code: 'NOT_FOUND',
      field: 'id',
    },
    deleteEvent: {
      document: 'mutation ($id: ID!) { deleteEvent(id: $id) }',
      variables: () => ({ id: 'not-a-uuid' }),
      token: () => organizer.accessToken,
      code: 'NOT_FOUND',
      field: 'id',
    },
  };
  it.each(Object.keys(cases))('%s', async (name) => {
    const refusal = cases[name] as Refusal;
    expect(await refused(refusal)).toMatchObject({ code: refusal.code, field: refusal.field });
  });

  it('answers event(id) for an unknown id with null, not an error', async () => {
    const result = await supergraph.request('query ($id: ID!) { event(id: $id) { id } }', {
      id: unknown(),
    });
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ event: null });
  });
});

describe('the tickets service names the argument at fault', () => {
  const asOrganizer = () => organizer.accessToken;
  const asBuyer = () => buyer.accessToken;
  const notFound = (
    document: string,
    variables: () => Record<string, unknown>,
    field: string,
    token = asBuyer,
  ): Refusal => ({ document, variables, token, code: 'NOT_FOUND', field });
  const cases: Record<string, Refusal> = {
    'createTicketTier, an unknown event': notFound(
      'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }',
      () => ({ eventId: unknown(), input: { ...tier, capacity: 10 } }),
      'eventId',
      asOrganizer,
    ),
    'createTicketTier, an event id that is not a UUID': notFound(
      'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }',
      () => ({ eventId: 'not-an-event', input: { ...tier, capacity: 10 } }),
      'eventId',
      asOrganizer,
    ),
    updateTicketTier: notFound(
      'mutation ($id: ID!) { updateTicketTier(id: $id, input: { name: "Renamed" }) { id } }',
      () => ({ id: unknown() }),
      'id',
      asOrganizer,
    ),
    deleteTicketTier: notFound(
      'mutation ($id: ID!) { deleteTicketTier(id: $id) }',
      () => ({ id: unknown() }),
      'id',
      asOrganizer,
    ),
    holdTickets: notFound(
      'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }',
      () => ({ tierId: unknown() }),
      'tierId',
    ),
    'purchaseTickets, an unknown tier': notFound(
      purchase,
      () => ({ input: { tierId: unknown(), quantity: 1, idempotencyKey: randomUUID() } }),
      'input.tierId',
    ),
    'purchaseTickets, a tier id that is not a UUID': notFound(
      purchase,
      () => ({ input: { tierId: 'not-a-tier', quantity: 1, idempotencyKey: randomUUID() } }),
      'input.tierId',
    ),
    refundOrder: notFound(
      'mutation ($orderId: ID!) { refundOrder(orderId: $orderId) { id } }',
      () => ({ orderId: unknown() }),
      'orderId',
    ),
    cancelTicket: notFound(
      'mutation ($id: ID!) { cancelTicket(id: $id) { id } }',
      () => ({ id: unknown() }),
      'id',
    ),
    transferTicket: notFound(
      'mutation ($id: ID!) { transferTicket(id: $id, toEmail: "someone@example.com") { id } }',
      () => ({ id: unknown() }),
      'id',
    ),
    acceptTicketTransfer: notFound(
      'mutation ($id: ID!) { acceptTicketTransfer(id: $id) { id } }',
      () => ({ id: unknown() }),
      'id',
    ),
    declineTicketTransfer: notFound(
      'mutation ($id: ID!) { declineTicketTransfer(id: $id) { id } }',
      () => ({ id: unknown() }),
      'id',
    ),
    cancelTicketTransfer: notFound(
      'mutation ($id: ID!) { cancelTicketTransfer(id: $id) { id } }',
      () => ({ id: unknown() }),
      'id',
    ),
    joinWaitlist: notFound(
      'mutation ($tierId: ID!) { joinWaitlist(tierId: $tierId, quantity: 1) { quantity } }',
      () => ({ tierId: unknown() }),
      'tierId',
    ),
    addDoorStaff: notFound(
      'mutation ($eventId: ID!) { addDoorStaff(eventId: $eventId, email: "door@example.com") { addedAt } }',
      () => ({ eventId: unknown() }),
      'eventId',
      asOrganizer,
    ),
    removeDoorStaff: notFound(
      'mutation ($eventId: ID!, $userId: ID!) { removeDoorStaff(eventId: $eventId, userId: $userId) }',
      () => ({ eventId: unknown(), userId: unknown() }),
      'eventId',
      asOrganizer,
    ),
    checkInTicket: notFound(
      'mutation ($eventId: ID!) { checkInTicket(code: "ABCD-EFGH", eventId: $eventId) { ticket { id } } }',
      () => ({ eventId: unknown() }),
      'eventId',
      asOrganizer,
    ),
    undoCheckIn: notFound(
      'mutation ($ticketId: ID!, $eventId: ID!) { undoCheckIn(ticketId: $ticketId, eventId: $eventId) { id } }',
      () => ({ ticketId: unknown(), eventId: unknown() }),
      'eventId',
      asOrganizer,
    ),
    uploadCheckIns: notFound(
      'mutation ($eventId: ID!) { uploadCheckIns(eventId: $eventId, scans: []) { index } }',
      () => ({ eventId: 'not-an-event' }),
      'eventId',
      asOrganizer,
    ),
    'holdTickets, a sold-out tier': {
      document: 'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }',
      variables: () => ({ tierId: soldOutTierId }),
      token: asBuyer,
      code: 'SOLD_OUT',
      field: 'tierId',
    },
    'purchaseTickets, a sold-out tier': {
      document: purchase,
      variables: () => ({
        input: { tierId: soldOutTierId, quantity: 1, idempotencyKey: randomUUID() },
      }),
      token: asBuyer,
      code: 'SOLD_OUT',
      field: 'input.tierId',
    },
    'holdTickets, a tier not on sale yet': {
      document: 'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }',
      variables: () => ({ tierId: notYetTierId }),
      token: asBuyer,
      code: 'SALES_CLOSED',
      field: 'tierId',
    },
    'purchaseTickets, a tier not on sale yet': {
      document: purchase,
      variables: () => ({
        input: { tierId: notYetTierId, quantity: 1, idempotencyKey: randomUUID() },
      }),
      token: asBuyer,
      code: 'SALES_CLOSED',
      field: 'input.tierId',
    },
    'joinWaitlist, a tier not on sale yet': {
      document:
        'mutation ($tierId: ID!) { joinWaitlist(tierId: $tierId, quantity: 1) { quantity } }',
      variables: () => ({ tierId: notYetTierId }),
      token: asBuyer,
      code: 'SALES_CLOSED',
      field: 'tierId',
    },
  };
  it.each(Object.keys(cases))('%s', async (name) => {
    const refusal = cases[name] as Refusal;
    expect(await refused(refusal)).toMatchObject({ code: refusal.code, field: refusal.field });
  });

  it('names the id of a hold released already, as it names one not found', async () => {
    const held = await supergraph.request<{ holdTickets: { id: string } }>(
      'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }',
      { tierId },
      { token: buyer.accessToken },
    );
    const id = held.data?.holdTickets.id as string;
    const release = 'mutation ($id: ID!) { releaseHold(id: $id) { id } }';
    const first = await supergraph.request(release, { id }, { token: buyer.accessToken });
    expect(first.errors).toBeUndefined();
    const again = await supergraph.request(release, { id }, { token: buyer.accessToken });
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: 'HOLD_EXPIRED', field: 'id' });
  });

  it('answers ticket(id) and order(id) for an unknown id with null, not an error', async () => {
    const result = await supergraph.request(
      'query ($id: ID!) { ticket(id: $id) { id } order(id: $id) { id } }',
      { id: unknown() },
      { token: buyer.accessToken },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ ticket: null, order: null });
  });
});

describe('the users service names the id of an account it does not find', () => {
  it('setUserRole', async () => {
    const refusal: Refusal = {
      document: 'mutation ($userId: ID!) { setUserRole(userId: $userId, role: ORGANIZER) { id } }',
      variables: () => ({ userId: unknown() }),
      token: () => adminToken,
      code: 'NOT_FOUND',
      field: 'userId',
    };
    expect(await refused(refusal)).toMatchObject({ code: refusal.code, field: refusal.field });
  });

  it('answers user(id) for an unknown id with null, not an error', async () => {
    const result = await supergraph.request(
      'query ($id: ID!) { user(id: $id) { id } }',
      { id: unknown() },
      { token: adminToken },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ user: null });
  });
});
