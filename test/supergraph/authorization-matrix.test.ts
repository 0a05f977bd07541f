// Who may read and write what, over the whole API schema: one table, one entry per field
// whose data is not public, each tried as every kind of caller, by the paths a client has
// (root fields with another's id, entities reached across subgraphs, aliases, fragments).
// The table is checked against the composed API schema, so that a field added without an
// entry here fails this test: every field is public, or names the probes that hold it.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type GraphQLObjectType, isObjectType } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiSchema } from '../../gateway/src/schema-check.ts';
import { testRedisUrl } from '../support.ts';
import { acceptTransfer, addDoorStaff, buyTickets, offerTicket, scan } from './door.ts';
import { type GraphQLResult, type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  cancelledEvent,
  draftEvent,
  eventOnSale,
  logIn,
  signUp,
  strongPassword,
  uniqueEmail,
} from './operations.ts';

const adminEmail = 'matrix-admin@example.com';
const adminPassword = 'the matrix admin password';

/** The live callers every probe is sent as. */
const roles = [
  'anonymous',
  'buyer',
  'stranger',
  'organizer',
  'rival',
  'door',
  'otherDoor',
  'admin',
] as const;
type Role = (typeof roles)[number];
/**
 * Tokens that were good once: an account deleted since, an admin demoted since. Every probe
 * is sent with each, and the whole request must be UNAUTHENTICATED (HTTP 401).
 */
const deadTokens = ['deleted', 'demoted'] as const;

/** What a probe must answer: the value it picks from the data, or an error with this code. */
type Outcome = { data: unknown } | { error: string } | { allowed: string };
const ok = (data: unknown): Outcome => ({ data });
const err = (error: string): Outcome => ({ error });
const UNAUTHENTICATED = err('UNAUTHENTICATED');
const FORBIDDEN = err('FORBIDDEN');
const NOT_FOUND = err('NOT_FOUND');
/**
 * A caller who may do this: not sent here, since it would change what the other probes
 * read; `shownBy` names the test that shows it done.
 */
const allowed = (shownBy: string): Outcome => ({ allowed: shownBy });

/** Everyone but the ones named gets `others`. */
function only(allowed: Partial<Record<Role, Outcome>>, others: Outcome): Record<Role, Outcome> {
  return Object.fromEntries(roles.map((role) => [role, allowed[role] ?? others])) as Record<
    Role,
    Outcome
  >;
}

interface Probe {
  query: string;
  variables?: Record<string, unknown>;
  /** The value compared with an outcome's data. */
  pick: (data: Record<string, unknown> | null | undefined) => unknown;
  expected: Record<Role, Outcome>;
  /** A mutation: every refusal must leave the three databases as they were. */
  writes?: boolean;
}

let supergraph: Supergraph;
const tokens = {} as Record<Role | (typeof deadTokens)[number], string | undefined>;
const users = {} as Record<'buyer' | 'stranger' | 'organizer' | 'rival' | 'door', AuthPayload>;
/** The fixtures' ids. */
const ids = {} as Record<
  | 'event'
  | 'tier'
  | 'soldOutTier'
  | 'draft'
  | 'draftTier'
  | 'cancelled'
  | 'rivalEvent'
  | 'rivalTier'
  | 'ticket'
  | 'offered'
  | 'admitted'
  | 'order'
  | 'hold'
  | 'offer'
  | 'waitlistEntry'
  | 'given'
  | 'givenOrder',
  string
>;
const secrets = {} as Record<
  'ticketCode' | 'ticketQr' | 'offeredCode' | 'admittedCode' | 'admittedQr',
  string
>;

/** Follows a path of keys (and `edges[].node` as `*`) through an answer's data. */
function at(data: unknown, ...path: string[]): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || value === undefined) return value;
    if (key === '*') {
      value = (value as { edges: { node: unknown }[] }).edges.map((edge) => edge.node);
    } else value = (value as Record<string, unknown>)[key];
  }
  return value;
}
const idsOf = (list: unknown) => ((list ?? []) as { id: string }[]).map((item) => item.id);

const eventQuery = (fields: string) => `query ($id: ID!) { event(id: $id) { ${fields} } }`;

// The probes, built once the fixtures exist (their ids are read when they run).
const probes: Record<string, () => Probe> = {
  // Reading -------------------------------------------------------------------------------
  'a draft by id': () => ({
    query: eventQuery('id status'),
    variables: { id: ids.draft },
    pick: (data) => at(data, 'event', 'id') ?? null,
    expected: only({ organizer: ok(ids.draft), admin: ok(ids.draft) }, ok(null)),
  }),
  'a cancelled event by id': () => ({
    query: eventQuery('id status'),
    variables: { id: ids.cancelled },
    pick: (data) => at(data, 'event', 'status'),
    expected: only({}, ok('CANCELLED')),
  }),
  'drafts in the listing': () => ({
    query: '{ events(first: 100, filter: { status: DRAFT }) { totalCount edges { node { id } } } }',
    pick: (data) => [at(data, 'events', 'totalCount'), idsOf(at(data, 'events', '*'))],
    expected: only({ organizer: ok([1, [ids.draft]]), admin: ok([1, [ids.draft]]) }, ok([0, []])),
  }),
  'drafts among an organizer’s events': () => ({
    query: eventQuery(
      'organizer { organizedEvents(first: 100) { totalCount edges { node { id } } } }',
    ),
    variables: { id: ids.event },
    pick: (data) => {
      const events = at(data, 'event', 'organizer', 'organizedEvents');
      return [at(events, 'totalCount'), idsOf(at(events, '*')).includes(ids.draft)];
    },
    expected: only({ organizer: ok([3, true]), admin: ok([3, true]) }, ok([2, false])),
  }),
  'a draft by its title in the listing': () => ({
    query:
      '{ events(first: 100, filter: { search: "Secret draft" }) { totalCount edges { node { id } } } }',
    pick: (data) => [at(data, 'events', 'totalCount'), idsOf(at(data, 'events', '*'))],
    expected: only({ organizer: ok([1, [ids.draft]]), admin: ok([1, [ids.draft]]) }, ok([0, []])),
  }),
  'the subgraphs’ own root fields, at the gateway': () => ({
    query: `{ _service { sdl } _entities(representations: [{ __typename: "User", id: "${users.buyer.user.id}" }]) { ... on User { email } } }`,
    pick: (data) => data ?? null,
    expected: only({}, err('GRAPHQL_VALIDATION_FAILED')),
  }),
  'someone’s ticket by id': () => ({
    query: 'query ($id: ID!) { ticket(id: $id) { id } }',
    variables: { id: ids.ticket },
    pick: (data) => at(data, 'ticket', 'id') ?? null,
    expected: only({ buyer: ok(ids.ticket), admin: ok(ids.ticket) }, ok(null)),
  }),
  'someone’s ticket in my tickets': () => ({
    query: '{ myTickets(first: 100) { edges { node { id } } } }',
    pick: (data) => idsOf(at(data, 'myTickets', '*')).includes(ids.ticket),
    expected: only({ anonymous: UNAUTHENTICATED, buyer: ok(true) }, ok(false)),
  }),
  'someone’s order by id': () => ({
    query: 'query ($id: ID!) { order(id: $id) { id totalCents } }',
    variables: { id: ids.order },
    pick: (data) => at(data, 'order', 'id') ?? null,
    expected: only({ buyer: ok(ids.order), admin: ok(ids.order) }, ok(null)),
  }),
  'someone’s order in my orders': () => ({
    query: '{ myOrders(first: 100) { totalCount edges { node { id } } } }',
    pick: (data) => idsOf(at(data, 'myOrders', '*')).includes(ids.order),
    expected: only({ anonymous: UNAUTHENTICATED, buyer: ok(true) }, ok(false)),
  }),
  'someone’s hold in my holds': () => ({
    query: '{ myHolds { id } }',
    pick: (data) => idsOf(at(data, 'myHolds')).includes(ids.hold),
    expected: only({ anonymous: UNAUTHENTICATED, buyer: ok(true) }, ok(false)),
  }),
  'someone’s waitlist entry in my waitlist': () => ({
    query: '{ myWaitlist { id } }',
    pick: (data) => idsOf(at(data, 'myWaitlist')).includes(ids.waitlistEntry),
    expected: only({ anonymous: UNAUTHENTICATED, buyer: ok(true) }, ok(false)),
  }),
  'someone’s transfer offer in my offers': () => ({
    query: '{ myTicketTransfers(first: 100) { totalCount edges { node { id } } } }',
    pick: (data) => idsOf(at(data, 'myTicketTransfers', '*')).includes(ids.offer),
    expected: only({ anonymous: UNAUTHENTICATED, buyer: ok(true), stranger: ok(true) }, ok(false)),
  }),
  'the offered ticket, as its receiver sees it': () => ({
    query: `{ myTicketTransfers(first: 100) { edges { node { id ticket {
      id code qrToken order { id } pendingTransfer { id } owner { id } } } } } }`,
    pick: (data) => {
      const offer = (at(data, 'myTicketTransfers', '*') as { id: string; ticket: unknown }[])?.find(
        (node) => node?.id === ids.offer,
      );
      return offer ? at(offer, 'ticket', 'code') : false;
    },
    // The giver sees the code of the ticket still theirs; the receiver is refused it.
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        buyer: ok(secrets.offeredCode),
        stranger: FORBIDDEN,
      },
      ok(false),
    ),
  }),
  'the offered ticket’s order, as its receiver sees it': () => ({
    query: `{ myTicketTransfers(first: 100) { edges { node { id ticket { id order { id } } } } } }`,
    pick: (data) => {
      const offer = (at(data, 'myTicketTransfers', '*') as { id: string }[])?.find(
        (node) => node?.id === ids.offer,
      );
      return offer ? (at(offer, 'ticket', 'order', 'id') ?? null) : false;
    },
    expected: only(
      { anonymous: UNAUTHENTICATED, buyer: ok(ids.order), stranger: ok(null) },
      ok(false),
    ),
  }),
  'a ticket’s code and QR token': () => ({
    query: 'query ($id: ID!) { ticket(id: $id) { code qrToken pendingTransfer { id } } }',
    variables: { id: ids.offered },
    pick: (data) => {
      const ticket = at(data, 'ticket') as Record<string, unknown> | null;
      return (
        ticket && [typeof ticket.code, typeof ticket.qrToken, at(ticket, 'pendingTransfer', 'id')]
      );
    },
    expected: only(
      {
        buyer: ok(['string', 'string', ids.offer]),
        admin: ok(['string', 'string', ids.offer]),
      },
      ok(null),
    ),
  }),
  'a given ticket, as its buyer sees it through the order': () => ({
    query: `query ($id: ID!) { order(id: $id) { tickets { id code qrToken pendingTransfer { id } owner { id } } } }`,
    variables: { id: ids.givenOrder },
    pick: (data) => at(data, 'order', 'tickets') ?? null,
    expected: only(
      {
        buyer: ok([
          {
            id: ids.given,
            code: null,
            qrToken: null,
            pendingTransfer: null,
            owner: { id: users.door.user.id },
          },
        ]),
        admin: ok([
          {
            id: ids.given,
            code: expect.any(String),
            qrToken: expect.any(String),
            pendingTransfer: null,
            owner: { id: users.door.user.id },
          },
        ]),
      },
      ok(null),
    ),
  }),
  'a given ticket’s order, as its receiver sees it': () => ({
    query: 'query ($id: ID!) { ticket(id: $id) { id code order { id totalCents } } }',
    variables: { id: ids.given },
    pick: (data) => {
      const ticket = at(data, 'ticket') as { code: unknown; order: unknown } | null;
      return ticket && [typeof ticket.code, ticket.order];
    },
    expected: only(
      {
        door: ok(['string', null]),
        admin: ok(['string', { id: ids.givenOrder, totalCents: 1500 }]),
      },
      ok(null),
    ),
  }),
  'a scanned ticket’s code, as the door sees it': () => ({
    writes: true,
    query: `mutation ($id: ID!, $scans: [OfflineScanInput!]!) {
      uploadCheckIns(eventId: $id, scans: $scans) { outcome ticket { id code } } }`,
    variables: {
      id: ids.event,
      scans: [{ token: secrets.admittedQr, scannedAt: new Date().toISOString() }],
    },
    // The door and the organizer see the outcome and the ticket, and are refused its code.
    pick: (data) =>
      (at(data, 'uploadCheckIns') as { ticket: { code: string | null } | null }[] | null)?.map(
        (result) => result.ticket?.code ?? null,
      ) ?? null,
    expected: only({ anonymous: UNAUTHENTICATED, admin: ok([secrets.admittedCode]) }, FORBIDDEN),
  }),
  'cancelTicket, one given away': () => ({
    writes: true,
    query: 'mutation ($id: ID!) { cancelTicket(id: $id) { id } }',
    variables: { id: ids.given },
    pick: (data) => at(data, 'cancelTicket'),
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        door: allowed('tickets.test.ts'),
        admin: allowed('tickets.test.ts'),
      },
      NOT_FOUND,
    ),
  }),
  'refundOrder, a ticket given away': () => ({
    writes: true,
    query:
      'mutation ($id: ID!, $tickets: [ID!]) { refundOrder(orderId: $id, ticketIds: $tickets) { id } }',
    variables: { id: ids.givenOrder, tickets: [ids.given] },
    pick: (data) => at(data, 'refundOrder'),
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        buyer: err('TICKET_TRANSFERRED'),
        organizer: allowed('refunds.test.ts'),
        admin: allowed('refunds.test.ts'),
      },
      NOT_FOUND,
    ),
  }),
  'a user by id': () => ({
    query: 'query ($id: ID!) { user(id: $id) { id email } }',
    variables: { id: users.buyer.user.id },
    pick: (data) => at(data, 'user', 'email') ?? null,
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        buyer: ok(users.buyer.user.email),
        admin: ok(users.buyer.user.email),
      },
      FORBIDDEN,
    ),
  }),
  'the caller': () => ({
    query: '{ me { id email } }',
    pick: (data) => at(data, 'me', 'id') ?? null,
    expected: {
      anonymous: ok(null),
      buyer: ok(users.buyer.user.id),
      stranger: ok(users.stranger.user.id),
      organizer: ok(users.organizer.user.id),
      rival: ok(users.rival.user.id),
      door: ok(users.door.user.id),
      otherDoor: ok(tokenOwner.otherDoor),
      admin: ok(tokenOwner.admin),
    },
  }),
  'an organizer’s email, through their event': () => ({
    query: eventQuery('organizer { id email }'),
    variables: { id: ids.event },
    pick: (data) => at(data, 'event', 'organizer', 'email') ?? null,
    expected: only(
      { organizer: ok(users.organizer.user.email), admin: ok(users.organizer.user.email) },
      FORBIDDEN,
    ),
  }),
  'an organizer’s email, through aliases and fragments': () => ({
    query: `query ($id: ID!) { a: event(id: $id) { ... on Event { o: organizer { ...who } } } }
      fragment who on User { ... on User { mail: email } }`,
    variables: { id: ids.event },
    pick: (data) => at(data, 'a', 'o', 'mail') ?? null,
    expected: only(
      { organizer: ok(users.organizer.user.email), admin: ok(users.organizer.user.email) },
      FORBIDDEN,
    ),
  }),
  'an organizer’s role, through their event': () => ({
    query: eventQuery('organizer { name role }'),
    variables: { id: ids.event },
    pick: (data) => at(data, 'event', 'organizer', 'role') ?? null,
    expected: only({ organizer: ok('ORGANIZER'), admin: ok('ORGANIZER') }, FORBIDDEN),
  }),
  'an attendee’s role, through the sales': () => ({
    query: eventQuery(`sales { attendees(tierId: "${ids.tier}", first: 1) {
      edges { node { holder { role } } } } }`),
    variables: { id: ids.event },
    pick: (data) => at(data, 'event', 'sales', 'attendees', '*') ?? null,
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        organizer: FORBIDDEN,
        admin: ok([{ holder: { role: 'CUSTOMER' } }]),
      },
      FORBIDDEN,
    ),
  }),
  'a signed-in account’s own email and role, in the sign-in’s answer': () => ({
    // Whoever sends it, the fields under the sign-in are the stranger's, who signed in (a
    // path from there to someone else's address is deeper than the gateway's limit).
    query: `mutation ($email: String!, $password: String!) {
      signedIn: logIn(email: $email, password: $password) {
        user { email role tickets(first: 5) { totalCount } } } }`,
    variables: { email: users.stranger.user.email, password: strongPassword },
    pick: (data) => at(data, 'signedIn', 'user'),
    expected: only(
      {},
      ok({ email: users.stranger.user.email, role: 'CUSTOMER', tickets: { totalCount: 1 } }),
    ),
  }),
  'an organizer’s tickets, through their event': () => ({
    query: eventQuery('organizer { tickets(first: 5) { totalCount } }'),
    variables: { id: ids.event },
    pick: (data) => at(data, 'event', 'organizer', 'tickets', 'totalCount') ?? null,
    expected: only({ organizer: ok(0), admin: ok(0) }, FORBIDDEN),
  }),
  'a ticket’s tier’s event’s organizer’s email': () => ({
    query: `query ($id: ID!) { ticket(id: $id) { owner { email } tier { event { organizer { email } } } } }`,
    variables: { id: ids.ticket },
    pick: (data) =>
      at(data, 'ticket') && (at(data, 'ticket', 'tier', 'event', 'organizer', 'email') ?? null),
    // The buyer is refused the organizer's address (their own reads).
    expected: only({ buyer: FORBIDDEN, admin: ok(users.organizer.user.email) }, ok(null)),
  }),
  'an event’s check-ins': () => ({
    query: eventQuery('checkIns { checkedIn total }'),
    variables: { id: ids.event },
    pick: (data) => at(data, 'event', 'checkIns', 'checkedIn') ?? null,
    expected: only(
      { anonymous: UNAUTHENTICATED, organizer: ok(1), door: ok(1), admin: ok(1) },
      FORBIDDEN,
    ),
  }),
  'an event’s ticket keys': () => ({
    query: eventQuery('ticketKeys { kid }'),
    variables: { id: ids.event },
    pick: (data) => (at(data, 'event', 'ticketKeys') as unknown[] | null)?.length ?? null,
    expected: only(
      { anonymous: UNAUTHENTICATED, organizer: ok(1), door: ok(1), admin: ok(1) },
      FORBIDDEN,
    ),
  }),
  'an event’s door staff': () => ({
    query: eventQuery('doorStaff { addedAt user { id } }'),
    variables: { id: ids.event },
    pick: (data) =>
      idsOf(
        (at(data, 'event', 'doorStaff') as { user: unknown }[] | null)?.map((s) => s.user) ?? null,
      ),
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        organizer: ok([users.door.user.id]),
        admin: ok([users.door.user.id]),
      },
      FORBIDDEN,
    ),
  }),
  'an event’s sales': () => ({
    query: eventQuery(`sales { tiers { sold held } gross { grossCents } checkIns { total }
      salesPerHour(hours: 2) { tickets } attendees(tierId: "${ids.tier}", first: 5) { totalCount } }`),
    variables: { id: ids.event },
    pick: (data) => at(data, 'event', 'sales', 'attendees', 'totalCount') ?? null,
    expected: only({ anonymous: UNAUTHENTICATED, organizer: ok(5), admin: ok(5) }, FORBIDDEN),
  }),
  'another event’s attendees, through one’s own sales': () => ({
    query: eventQuery(`sales { attendees(tierId: "${ids.rivalTier}", first: 5) { totalCount } }`),
    variables: { id: ids.event },
    pick: (data) => at(data, 'event', 'sales', 'attendees') ?? null,
    expected: only(
      { anonymous: UNAUTHENTICATED, organizer: NOT_FOUND, admin: NOT_FOUND },
      FORBIDDEN,
    ),
  }),
  'an attendee’s email and tickets, through the sales': () => ({
    query: eventQuery(`sales { attendees(tierId: "${ids.tier}", first: 5) {
      edges { node { holder { id email } } } } }`),
    variables: { id: ids.event },
    pick: (data) => {
      const holders = at(data, 'event', 'sales', 'attendees', '*') as
        | { holder: { email: string } }[]
        | null;
      return holders ? holders.map((node) => node.holder?.email ?? null).sort() : null;
    },
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        organizer: FORBIDDEN,
        admin: ok([...Array(4).fill(users.buyer.user.email), users.door.user.email].sort()),
      },
      FORBIDDEN,
    ),
  }),

  // Writing: each refusal leaves the three databases as they were -----------------------------
  createEvent: () => ({
    writes: true,
    query: `mutation ($input: CreateEventInput!) { createEvent(input: $input) { id } }`,
    variables: {
      input: {
        title: 'Intruder',
        venue: 'Hall',
        city: 'Ticketton',
        timezone: 'Europe/Berlin',
        startsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      },
    },
    pick: (data) => at(data, 'createEvent'),
    expected: manager(FORBIDDEN, 'events.test.ts'),
  }),
  'updateEvent, a published event': () =>
    eventWrite('updateEvent(id: $id, input: { title: "Taken" }) { id }', ids.event, FORBIDDEN),
  'updateEvent, a draft': () =>
    eventWrite('updateEvent(id: $id, input: { title: "Taken" }) { id }', ids.draft, NOT_FOUND),
  'publishEvent, a draft': () => eventWrite('publishEvent(id: $id) { id }', ids.draft, NOT_FOUND),
  'cancelEvent, a published event': () =>
    eventWrite('cancelEvent(id: $id, reason: "mine now") { id }', ids.event, FORBIDDEN),
  'deleteEvent, a draft': () => eventWrite('deleteEvent(id: $id)', ids.draft, NOT_FOUND),
  'createTicketTier, a published event': () =>
    eventWrite(
      'createTicketTier(eventId: $id, input: { name: "Free", priceCents: 0, currency: "EUR", capacity: 500 }) { id }',
      ids.event,
      FORBIDDEN,
    ),
  'createTicketTier, a draft': () =>
    eventWrite(
      'createTicketTier(eventId: $id, input: { name: "Free", priceCents: 0, currency: "EUR", capacity: 500 }) { id }',
      ids.draft,
      NOT_FOUND,
    ),
  'updateTicketTier, a published event’s': () =>
    eventWrite('updateTicketTier(id: $id, input: { priceCents: 1 }) { id }', ids.tier, FORBIDDEN),
  'updateTicketTier, a draft’s': () =>
    eventWrite(
      'updateTicketTier(id: $id, input: { priceCents: 1 }) { id }',
      ids.draftTier,
      NOT_FOUND,
    ),
  'deleteTicketTier, a draft’s': () =>
    eventWrite('deleteTicketTier(id: $id)', ids.draftTier, NOT_FOUND),
  'holdTickets, a draft’s tier': () => ({
    writes: true,
    query: 'mutation ($id: ID!) { holdTickets(tierId: $id, quantity: 1) { id } }',
    variables: { id: ids.draftTier },
    pick: (data) => at(data, 'holdTickets'),
    expected: only({ anonymous: UNAUTHENTICATED }, err('SALES_CLOSED')),
  }),
  'purchaseTickets, a draft’s tier': () => ({
    writes: true,
    query: 'mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id } }',
    variables: { input: { tierId: ids.draftTier, quantity: 1, idempotencyKey: randomUUID() } },
    pick: (data) => at(data, 'purchaseTickets'),
    expected: only({ anonymous: UNAUTHENTICATED }, err('SALES_CLOSED')),
  }),
  'purchaseTickets, someone’s hold': () => ({
    writes: true,
    query: 'mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id } }',
    variables: { input: { holdId: ids.hold, idempotencyKey: randomUUID() } },
    pick: (data) => at(data, 'purchaseTickets'),
    expected: only(
      { anonymous: UNAUTHENTICATED, buyer: allowed('holds.test.ts') },
      err('HOLD_NOT_FOUND'),
    ),
  }),
  'releaseHold, someone’s': () => ({
    writes: true,
    query: 'mutation ($id: ID!) { releaseHold(id: $id) { id status } }',
    variables: { id: ids.hold },
    pick: (data) => at(data, 'releaseHold'),
    expected: only(
      { anonymous: UNAUTHENTICATED, buyer: allowed('holds.test.ts') },
      err('HOLD_NOT_FOUND'),
    ),
  }),
  'cancelTicket, someone’s': () => ({
    writes: true,
    query: 'mutation ($id: ID!) { cancelTicket(id: $id) { id status } }',
    variables: { id: ids.ticket },
    pick: (data) => at(data, 'cancelTicket'),
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        buyer: allowed('tickets.test.ts'),
        admin: allowed('tickets.test.ts'),
      },
      NOT_FOUND,
    ),
  }),
  'addDoorStaff, another’s event': () =>
    organizerWrite(
      'addDoorStaff(eventId: $id, email: $email) { addedAt }',
      { id: ids.event, email: users.stranger.user.email },
      'check-in.test.ts',
    ),
  'removeDoorStaff, another’s event': () =>
    organizerWrite(
      'removeDoorStaff(eventId: $id, userId: $userId)',
      { id: ids.event, userId: users.door.user.id },
      'check-in.test.ts',
    ),
  'checkInTicket, another’s event': () => ({
    writes: true,
    query:
      'mutation ($code: String!, $id: ID!) { checkInTicket(code: $code, eventId: $id) { checkedInAt } }',
    variables: { code: secrets.ticketCode, id: ids.event },
    pick: (data) => at(data, 'checkInTicket'),
    expected: door(FORBIDDEN),
  }),
  'checkInTicket, a ticket of another event at one’s own door': () => ({
    writes: true,
    query: `mutation ($code: String!, $id: ID!) {
      checkInTicket(code: $code, eventId: $id) { checkedInAt ticket { id code owner { name } } } }`,
    variables: { code: secrets.ticketQr, id: ids.rivalEvent },
    pick: (data) => at(data, 'checkInTicket'),
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        otherDoor: err('WRONG_EVENT'),
        rival: err('WRONG_EVENT'),
        admin: err('WRONG_EVENT'),
      },
      FORBIDDEN,
    ),
  }),
  'undoCheckIn, another’s event': () => ({
    writes: true,
    query:
      'mutation ($ticketId: ID!, $id: ID!) { undoCheckIn(ticketId: $ticketId, eventId: $id) { id } }',
    variables: { ticketId: ids.admitted, id: ids.event },
    pick: (data) => at(data, 'undoCheckIn'),
    expected: door(FORBIDDEN),
  }),
  'undoCheckIn, a ticket of another event at one’s own door': () => ({
    writes: true,
    query:
      'mutation ($ticketId: ID!, $id: ID!) { undoCheckIn(ticketId: $ticketId, eventId: $id) { id } }',
    variables: { ticketId: ids.admitted, id: ids.rivalEvent },
    pick: (data) => at(data, 'undoCheckIn'),
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        otherDoor: err('TICKET_NOT_FOUND'),
        rival: err('TICKET_NOT_FOUND'),
        admin: err('TICKET_NOT_FOUND'),
      },
      FORBIDDEN,
    ),
  }),
  'uploadCheckIns, another’s event': () => ({
    writes: true,
    query: `mutation ($id: ID!, $scans: [OfflineScanInput!]!) {
      uploadCheckIns(eventId: $id, scans: $scans) { outcome ticket { id } } }`,
    variables: {
      id: ids.event,
      scans: [{ token: secrets.ticketQr, scannedAt: new Date().toISOString() }],
    },
    pick: (data) => at(data, 'uploadCheckIns'),
    expected: door(FORBIDDEN),
  }),
  'uploadCheckIns, a ticket of another event at one’s own door': () => ({
    writes: true,
    query: `mutation ($id: ID!, $scans: [OfflineScanInput!]!) {
      uploadCheckIns(eventId: $id, scans: $scans) { outcome checkedInAt ticket { id code owner { name } } } }`,
    variables: {
      id: ids.rivalEvent,
      scans: [{ token: secrets.ticketQr, scannedAt: new Date().toISOString() }],
    },
    pick: (data) => at(data, 'uploadCheckIns'),
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        otherDoor: ok([{ outcome: 'WRONG_EVENT', checkedInAt: null, ticket: null }]),
        rival: ok([{ outcome: 'WRONG_EVENT', checkedInAt: null, ticket: null }]),
        admin: ok([{ outcome: 'WRONG_EVENT', checkedInAt: null, ticket: null }]),
      },
      FORBIDDEN,
    ),
  }),
  'transferTicket, someone’s': () => ({
    writes: true,
    query: 'mutation ($id: ID!, $to: String!) { transferTicket(id: $id, toEmail: $to) { id } }',
    variables: { id: ids.ticket, to: users.rival.user.email },
    pick: (data) => at(data, 'transferTicket'),
    expected: only({ anonymous: UNAUTHENTICATED, buyer: allowed('transfers.test.ts') }, NOT_FOUND),
  }),
  'acceptTicketTransfer, an offer to someone else': () =>
    offerWrite('acceptTicketTransfer(id: $id) { id }', 'stranger'),
  'declineTicketTransfer, an offer to someone else': () =>
    offerWrite('declineTicketTransfer(id: $id) { id }', 'stranger'),
  'cancelTicketTransfer, someone else’s offer': () =>
    offerWrite('cancelTicketTransfer(id: $id) { id }', 'buyer'),
  'refundOrder, someone’s': () => ({
    writes: true,
    query: 'mutation ($id: ID!) { refundOrder(orderId: $id) { id status } }',
    variables: { id: ids.order },
    pick: (data) => at(data, 'refundOrder'),
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        buyer: allowed('refunds.test.ts'),
        organizer: allowed('refunds.test.ts'),
        admin: allowed('refunds.test.ts'),
      },
      NOT_FOUND,
    ),
  }),
  'leaveWaitlist, a queue someone else is in': () => ({
    writes: true,
    query: 'mutation ($id: ID!) { leaveWaitlist(tierId: $id) { id } }',
    variables: { id: ids.soldOutTier },
    pick: (data) => at(data, 'leaveWaitlist'),
    expected: only(
      { anonymous: UNAUTHENTICATED, buyer: allowed('waitlist.test.ts') },
      err('NOT_ON_WAITLIST'),
    ),
  }),
  'joinWaitlist, a draft’s tier': () => ({
    writes: true,
    query:
      'mutation ($id: ID!) { joinWaitlist(tierId: $id, quantity: 1) { id tier { name capacity } } }',
    variables: { id: ids.draftTier },
    pick: (data) => at(data, 'joinWaitlist'),
    expected: only({ anonymous: UNAUTHENTICATED }, err('SALES_CLOSED')),
  }),
  'joinWaitlist, anonymously': () =>
    selfWrite(
      'joinWaitlist(tierId: $id, quantity: 1) { id }',
      { id: ids.soldOutTier },
      'waitlist.test.ts',
    ),
  'updateProfile, anonymously': () =>
    selfWrite('updateProfile(input: { name: "Nobody" }) { id }', {}, 'accounts.test.ts'),
  'changePassword, anonymously': () =>
    selfWrite(
      'changePassword(currentPassword: $password, newPassword: "a brand new passphrase here")',
      { password: strongPassword },
      'accounts.test.ts',
    ),
  'deleteAccount, anonymously': () =>
    selfWrite(
      'deleteAccount(password: $password)',
      { password: strongPassword },
      'accounts.test.ts',
    ),
  'setUserRole, someone': () => ({
    writes: true,
    query: 'mutation ($id: ID!) { setUserRole(userId: $id, role: ADMIN) { id role } }',
    variables: { id: users.stranger.user.id },
    pick: (data) => at(data, 'setUserRole'),
    expected: only({ anonymous: UNAUTHENTICATED, admin: allowed('accounts.test.ts') }, FORBIDDEN),
  }),
};

/** Organizers and admins may; customers are FORBIDDEN; anonymous callers UNAUTHENTICATED. */
function manager(customers: Outcome, shownBy: string): Record<Role, Outcome> {
  return only(
    {
      anonymous: UNAUTHENTICATED,
      organizer: allowed(shownBy),
      rival: allowed(shownBy),
      admin: allowed(shownBy),
    },
    customers,
  );
}

/** A change to the organizer's event or tier `id`: the rival gets `rival`. */
function eventWrite(field: string, id: string, rival: Outcome): Probe {
  return {
    writes: true,
    query: `mutation ($id: ID!) { ${field} }`,
    variables: { id },
    pick: (data) => data && Object.values(data)[0],
    expected: only(
      {
        anonymous: UNAUTHENTICATED,
        organizer: allowed('events.test.ts'),
        rival,
        admin: allowed('events.test.ts'),
      },
      FORBIDDEN,
    ),
  };
}

/** What only the event's organizer and admins may do. */
function organizerWrite(field: string, variables: Record<string, unknown>, shownBy: string): Probe {
  const declared = Object.keys(variables)
    .map((name) => `$${name}: ${name === 'email' ? 'String!' : 'ID!'}`)
    .join(', ');
  return {
    writes: true,
    query: `mutation (${declared}) { ${field} }`,
    variables,
    pick: (data) => data && Object.values(data)[0],
    expected: only(
      { anonymous: UNAUTHENTICATED, organizer: allowed(shownBy), admin: allowed(shownBy) },
      FORBIDDEN,
    ),
  };
}

/** What the event's door staff, organizer and admins may do; `others` for everyone else. */
function door(others: Outcome): Record<Role, Outcome> {
  return only(
    {
      anonymous: UNAUTHENTICATED,
      door: allowed('check-in.test.ts'),
      organizer: allowed('check-in.test.ts'),
      admin: allowed('check-in.test.ts'),
    },
    others,
  );
}

/** An answer to the buyer's offer to the stranger, which only `party` may give. */
function offerWrite(field: string, party: Role): Probe {
  return {
    writes: true,
    query: `mutation ($id: ID!) { ${field} }`,
    variables: { id: ids.offer },
    pick: (data) => data && Object.values(data)[0],
    expected: only(
      { anonymous: UNAUTHENTICATED, [party]: allowed('transfers.test.ts') },
      NOT_FOUND,
    ),
  };
}

/** What a caller does to their own account or place: anonymous callers are UNAUTHENTICATED. */
function selfWrite(field: string, variables: Record<string, unknown>, shownBy: string): Probe {
  const declared = Object.keys(variables)
    .map((name) => `$${name}: ${name === 'password' ? 'String!' : 'ID!'}`)
    .join(', ');
  return {
    writes: true,
    query: `mutation ${declared ? `(${declared})` : ''} { ${field} }`,
    variables,
    pick: (data) => data && Object.values(data)[0],
    expected: only({ anonymous: UNAUTHENTICATED }, allowed(shownBy)),
  };
}

/**
 * Every row of the three databases, as one digest a table: what a refused mutation must
 * leave as it was. The events outbox is left out (its relay marks deliveries at any time).
 */
async function databaseState(): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  for (const [name, url] of Object.entries(supergraph.databaseUrls)) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows: tables } = await client.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
           AND table_name NOT IN ('_prisma_migrations', 'outbox_messages')
         ORDER BY table_name`,
      );
      for (const { table_name: table } of tables) {
        const { rows } = await client.query<{ digest: string | null }>(
          `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS digest FROM "${table}" t`,
        );
        state[`${name}.${table}`] = rows[0]?.digest ?? 'empty';
      }
    } finally {
      await client.end();
    }
  }
  return state;
}

/** Who each token belongs to, for the callers without a payload kept. */
const tokenOwner = {} as Record<'otherDoor' | 'admin', string>;

beforeAll(async () => {
  supergraph = await startSupergraph({
    env: {
      REDIS_URL: testRedisUrl,
      BOOTSTRAP_ADMIN_EMAIL: adminEmail,
      BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
      ACCOUNT_WRITES_PER_SECOND: '1000',
      ACCOUNT_WRITE_BURST: '100000',
    },
  });
  // One at a time: new passwords are hashed one after the other.
  const buyer = await signUp(supergraph, { email: uniqueEmail('buyer'), name: 'Buyer' });
  const stranger = await signUp(supergraph, { email: uniqueEmail('stranger'), name: 'Stranger' });
  const organizer = await signUp(supergraph, {
    email: uniqueEmail('organizer'),
    accountType: 'ORGANIZER',
  });
  const rival = await signUp(supergraph, { email: uniqueEmail('rival'), accountType: 'ORGANIZER' });
  const door = await signUp(supergraph, { email: uniqueEmail('door') });
  const otherDoor = await signUp(supergraph, { email: uniqueEmail('other-door') });
  const doomed = await signUp(supergraph, { email: uniqueEmail('deleted') });
  const demoted = await signUp(supergraph, { email: uniqueEmail('demoted') });
  const admin = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn;
  if (!admin) throw new Error('the admin could not log in');
  Object.assign(users, { buyer, stranger, organizer, rival, door });
  Object.assign(tokenOwner, { otherDoor: otherDoor.user.id, admin: admin.user.id });
  Object.assign(tokens, {
    anonymous: undefined,
    buyer: buyer.accessToken,
    stranger: stranger.accessToken,
    organizer: organizer.accessToken,
    rival: rival.accessToken,
    door: door.accessToken,
    otherDoor: otherDoor.accessToken,
    admin: admin.accessToken,
  });

  const tier = (name: string, capacity = 100) => ({
    name,
    priceCents: 1500,
    currency: 'EUR',
    capacity,
    maxPerOrder: 10,
  });
  const sale = await eventOnSale(supergraph, organizer.accessToken, [tier('GA'), tier('Tiny', 1)]);
  const rivalSale = await eventOnSale(supergraph, rival.accessToken, [tier('Rival')]);
  ids.event = sale.eventId;
  [ids.tier, ids.soldOutTier] = sale.tierIds as [string, string];
  ids.rivalEvent = rivalSale.eventId;
  ids.rivalTier = rivalSale.tierIds[0] as string;
  ids.draft = await draftEvent(supergraph, organizer.accessToken, 'Secret draft');
  const draftTier = await supergraph.request<{ createTicketTier: { id: string } }>(
    'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }',
    { eventId: ids.draft, input: tier('Draft tier') },
    { token: organizer.accessToken },
  );
  ids.draftTier = draftTier.data?.createTicketTier.id as string;
  ids.cancelled = (await eventOnSale(supergraph, organizer.accessToken, [])).eventId;
  await cancelledEvent(supergraph, organizer.accessToken, ids.cancelled);

  // The buyer's ticket, one offered to the stranger and one admitted, in one order; a hold.
  const [ticket, offered, admitted] = await buyTickets(supergraph, buyer.accessToken, ids.tier, 4);
  if (!ticket || !offered || !admitted) throw new Error('the purchase failed');
  ids.ticket = ticket.id;
  ids.offered = offered.id;
  ids.admitted = admitted.id;
  secrets.ticketCode = ticket.code;
  secrets.ticketQr = ticket.qrToken;
  secrets.admittedCode = admitted.code;
  secrets.offeredCode = offered.code;
  secrets.admittedQr = admitted.qrToken;
  const order = await supergraph.request<{ ticket: { order: { id: string } } }>(
    'query ($id: ID!) { ticket(id: $id) { order { id } } }',
    { id: ticket.id },
    { token: buyer.accessToken },
  );
  ids.order = order.data?.ticket.order.id as string;
  const hold = await supergraph.request<{ holdTickets: { id: string } }>(
    'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }',
    { tierId: ids.tier },
    { token: buyer.accessToken },
  );
  ids.hold = hold.data?.holdTickets.id as string;
  ids.offer = (await offerTicket(
    supergraph,
    buyer.accessToken,
    offered.id,
    stranger.user.email,
  )) as string;

  // A ticket the buyer bought and gave to the door staffer, who accepted it.
  const [given] = await buyTickets(supergraph, buyer.accessToken, ids.tier, 1);
  if (!given) throw new Error('the purchase failed');
  ids.given = given.id;
  const givenOrder = await supergraph.request<{ ticket: { order: { id: string } } }>(
    'query ($id: ID!) { ticket(id: $id) { order { id } } }',
    { id: given.id },
    { token: buyer.accessToken },
  );
  ids.givenOrder = givenOrder.data?.ticket.order.id as string;
  const gift = await offerTicket(supergraph, buyer.accessToken, given.id, door.user.email);
  const accepted = await acceptTransfer(supergraph, door.accessToken, gift as string);
  if (!accepted.data) throw new Error(`the transfer failed: ${JSON.stringify(accepted.errors)}`);

  // Door staff of each event; one admission.
  for (const [token, eventId, email] of [
    [organizer.accessToken, ids.event, door.user.email],
    [rival.accessToken, ids.rivalEvent, otherDoor.user.email],
  ] as const) {
    const added = await addDoorStaff(supergraph, token, eventId, email);
    if (!added.data) throw new Error(`addDoorStaff failed: ${JSON.stringify(added.errors)}`);
  }
  const admission = await scan(supergraph, door.accessToken, admitted.code, ids.event);
  // Each event's QR signing key exists from its first use on: made here for both, so that a
  // probe's scan does not make one.
  for (const [token, eventId] of [
    [organizer.accessToken, ids.event],
    [rival.accessToken, ids.rivalEvent],
  ] as const) {
    await supergraph.request(eventQuery('ticketKeys { kid }'), { id: eventId }, { token });
  }
  if (!admission.data) throw new Error(`the scan failed: ${JSON.stringify(admission.errors)}`);

  // The stranger buys the tiny tier out; the buyer waits for it.
  await buyTickets(supergraph, stranger.accessToken, ids.soldOutTier, 1);
  const waiting = await supergraph.request<{ joinWaitlist: { id: string } }>(
    'mutation ($tierId: ID!) { joinWaitlist(tierId: $tierId, quantity: 1) { id } }',
    { tierId: ids.soldOutTier },
    { token: buyer.accessToken },
  );
  ids.waitlistEntry = waiting.data?.joinWaitlist.id as string;

  // A token whose account was deleted since; one of an admin demoted since.
  tokens.deleted = doomed.accessToken;
  const deleted = await supergraph.request(
    'mutation ($password: String!) { deleteAccount(password: $password) }',
    { password: strongPassword },
    { token: doomed.accessToken },
  );
  if (!deleted.data) throw new Error(`deleteAccount failed: ${JSON.stringify(deleted.errors)}`);
  const setRole =
    'mutation ($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { id } }';
  await supergraph.request(
    setRole,
    { id: demoted.user.id, role: 'ADMIN' },
    { token: admin.accessToken },
  );
  const promoted = await logIn(supergraph, demoted.user.email);
  tokens.demoted = promoted.data?.logIn.accessToken;
  if (promoted.data?.logIn.user.role !== 'ADMIN') throw new Error('the promotion failed');
  await supergraph.request(
    setRole,
    { id: demoted.user.id, role: 'CUSTOMER' },
    { token: admin.accessToken },
  );
  // Revocations reach the gateway through Redis (within a second: revocation.test.ts
  // measures that): the probes begin once it refuses both, however long they took to come.
  for (const dead of deadTokens) {
    const deadline = Date.now() + 15_000;
    while (
      (await supergraph.request('{ me { id } }', {}, { token: tokens[dead] })).status !== 401
    ) {
      if (Date.now() > deadline) throw new Error(`the ${dead} token was still taken after 15 s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  for (const [name, value] of Object.entries(ids)) {
    if (!value) throw new Error(`fixture ${name} was not made`);
  }
}, 120_000);

afterAll(async () => {
  await supergraph?.stop();
});

/** Whether `value` holds anything but nulls and `false` (a refused field's data must not). */
function holdsData(value: unknown): boolean {
  if (value === null || value === undefined || value === false) return false;
  if (typeof value !== 'object') return true;
  return Object.values(value).some(holdsData);
}

function describeOutcome(
  result: GraphQLResult,
  probe: Probe,
): Outcome | { unexpected: unknown } | { error: string; leaked: unknown } {
  const code = result.errors?.[0]?.extensions?.code;
  if (typeof code === 'string') {
    // What the probe looks at is null beside its error: nothing refused came through.
    const picked = probe.pick(result.data as Record<string, unknown>);
    return holdsData(picked) ? { error: code, leaked: picked } : { error: code };
  }
  if (result.errors) return { unexpected: result.errors };
  return { data: probe.pick(result.data as Record<string, unknown>) };
}

/** Public, or the probes that hold a field to account. */
type HeldBy = 'public' | readonly string[];

/**
 * Every field of the API schema, by name: public, or held by the probes named (by a
 * field's own entry, or among its type's `fields` when the type is reached only through
 * fields those probes hold). A field the schema gains without being named here fails the
 * guard below, whatever its type's entry says.
 */
const coverage: Record<string, HeldBy | { fields: string; heldBy: HeldBy }> = {
  // Structure and public catalogue data.
  PageInfo: { fields: 'hasNextPage endCursor', heldBy: 'public' },
  EventConnection: { fields: 'edges pageInfo totalCount', heldBy: 'public' },
  EventEdge: { fields: 'cursor node', heldBy: 'public' },
  TicketTier: {
    fields:
      'id event name priceCents currency capacity sold available onSale maxPerOrder salesStartAt salesEndAt',
    heldBy: 'public',
  },
  Event: {
    fields:
      'id title description venue city startsAt endsAt timezone status cancellationReason publishedAt cancelledAt createdAt updatedAt ticketTiers ticketsAvailable',
    heldBy: 'public',
  },
  'Event.organizer': 'public',
  'Event.checkIns': ['an event’s check-ins'],
  'Event.ticketKeys': ['an event’s ticket keys'],
  'Event.doorStaff': ['an event’s door staff'],
  'Event.sales': [
    'an event’s sales',
    'another event’s attendees, through one’s own sales',
    'an attendee’s email and tickets, through the sales',
  ],
  User: { fields: 'id name createdAt', heldBy: 'public' },
  'User.email': [
    'a user by id',
    'an organizer’s email, through their event',
    'an organizer’s email, through aliases and fragments',
    'a ticket’s tier’s event’s organizer’s email',
    'an attendee’s email and tickets, through the sales',
  ],
  'User.role': [
    'a signed-in account’s own email and role, in the sign-in’s answer',
    'an organizer’s role, through their event',
    'an attendee’s role, through the sales',
  ],
  'User.tickets': ['an organizer’s tickets, through their event'],
  'User.organizedEvents': ['drafts among an organizer’s events'],
  // Reached only through what its owner, the event's staff or an admin may read.
  Ticket: {
    fields: 'id tier event status purchasedAt checkedInAt',
    heldBy: ['someone’s ticket by id', 'someone’s ticket in my tickets'],
  },
  'Ticket.code': [
    'a ticket’s code and QR token',
    'the offered ticket, as its receiver sees it',
    'a given ticket, as its buyer sees it through the order',
    'a scanned ticket’s code, as the door sees it',
  ],
  'Ticket.qrToken': ['a ticket’s code and QR token'],
  'Ticket.order': [
    'the offered ticket’s order, as its receiver sees it',
    'a given ticket’s order, as its receiver sees it',
  ],
  'Ticket.pendingTransfer': ['a ticket’s code and QR token'],
  'Ticket.owner': ['a ticket’s tier’s event’s organizer’s email'],
  TicketConnection: {
    fields: 'edges pageInfo totalCount',
    heldBy: ['someone’s ticket in my tickets', 'an organizer’s tickets, through their event'],
  },
  TicketEdge: { fields: 'cursor node', heldBy: ['someone’s ticket in my tickets'] },
  Order: {
    fields: 'id tickets totalCents currency event createdAt status refundedCents refunds',
    heldBy: ['someone’s order by id', 'someone’s order in my orders'],
  },
  OrderConnection: {
    fields: 'edges pageInfo totalCount',
    heldBy: ['someone’s order in my orders'],
  },
  OrderEdge: { fields: 'cursor node', heldBy: ['someone’s order in my orders'] },
  Refund: {
    fields: 'id amountCents currency reason tickets createdAt sentAt',
    heldBy: ['someone’s order by id', 'refundOrder, someone’s'],
  },
  Hold: {
    fields: 'id tier quantity priceCents currency expiresAt status',
    heldBy: ['someone’s hold in my holds', 'releaseHold, someone’s'],
  },
  WaitlistEntry: {
    fields: 'id tier quantity waiting status place offers joinedAt',
    heldBy: ['someone’s waitlist entry in my waitlist', 'joinWaitlist, a draft’s tier'],
  },
  TicketTransfer: {
    fields: 'id ticket from to status createdAt expiresAt',
    heldBy: ['someone’s transfer offer in my offers'],
  },
  TicketTransferConnection: {
    fields: 'edges pageInfo totalCount',
    heldBy: ['someone’s transfer offer in my offers'],
  },
  TicketTransferEdge: { fields: 'cursor node', heldBy: ['someone’s transfer offer in my offers'] },
  CheckInCounts: {
    fields: 'checkedIn total',
    heldBy: ['an event’s check-ins', 'an event’s sales'],
  },
  TicketKey: { fields: 'kid kty crv x alg', heldBy: ['an event’s ticket keys'] },
  DoorStaff: { fields: 'user addedAt', heldBy: ['an event’s door staff'] },
  EventSales: {
    fields: 'tiers gross checkIns salesPerHour attendees',
    heldBy: ['an event’s sales'],
  },
  TierSales: { fields: 'tier capacity sold held available', heldBy: ['an event’s sales'] },
  HourlySales: { fields: 'hour tickets orders', heldBy: ['an event’s sales'] },
  SalesAmount: { fields: 'currency grossCents refundedCents', heldBy: ['an event’s sales'] },
  AttendeeConnection: {
    fields: 'edges pageInfo totalCount',
    heldBy: ['an event’s sales', 'another event’s attendees, through one’s own sales'],
  },
  AttendeeEdge: {
    fields: 'cursor node',
    heldBy: ['an attendee’s email and tickets, through the sales'],
  },
  Attendee: {
    fields: 'ticketId holder status checkedInAt checkedIn purchasedAt',
    heldBy: ['an attendee’s email and tickets, through the sales'],
  },
  CheckIn: {
    fields: 'ticket checkedInAt',
    heldBy: [
      'checkInTicket, another’s event',
      'checkInTicket, a ticket of another event at one’s own door',
    ],
  },
  OfflineScanResult: {
    fields: 'index outcome ticket checkedInAt',
    heldBy: [
      'uploadCheckIns, another’s event',
      'uploadCheckIns, a ticket of another event at one’s own door',
    ],
  },
  // A sign-in's answer is the caller's own (test/supergraph/sign-in-identity.test.ts).
  AuthPayload: {
    fields: 'accessToken refreshToken accessTokenExpiresAt user',
    heldBy: ['a signed-in account’s own email and role, in the sign-in’s answer'],
  },
  // Root fields.
  'Query.event': ['a draft by id', 'a cancelled event by id'],
  'Query.events': ['drafts in the listing', 'a draft by its title in the listing'],
  'Query.ticket': ['someone’s ticket by id'],
  'Query.myTickets': ['someone’s ticket in my tickets'],
  'Query.order': ['someone’s order by id'],
  'Query.myOrders': ['someone’s order in my orders'],
  'Query.myHolds': ['someone’s hold in my holds'],
  'Query.myWaitlist': ['someone’s waitlist entry in my waitlist'],
  'Query.myTicketTransfers': ['someone’s transfer offer in my offers'],
  'Query.me': ['the caller'],
  'Query.user': ['a user by id'],
  'Mutation.createEvent': ['createEvent'],
  'Mutation.updateEvent': ['updateEvent, a published event', 'updateEvent, a draft'],
  'Mutation.publishEvent': ['publishEvent, a draft'],
  'Mutation.cancelEvent': ['cancelEvent, a published event'],
  'Mutation.deleteEvent': ['deleteEvent, a draft'],
  'Mutation.createTicketTier': ['createTicketTier, a published event', 'createTicketTier, a draft'],
  'Mutation.updateTicketTier': [
    'updateTicketTier, a published event’s',
    'updateTicketTier, a draft’s',
  ],
  'Mutation.deleteTicketTier': ['deleteTicketTier, a draft’s'],
  'Mutation.holdTickets': ['holdTickets, a draft’s tier'],
  'Mutation.purchaseTickets': [
    'purchaseTickets, a draft’s tier',
    'purchaseTickets, someone’s hold',
  ],
  'Mutation.releaseHold': ['releaseHold, someone’s'],
  'Mutation.cancelTicket': ['cancelTicket, someone’s', 'cancelTicket, one given away'],
  'Mutation.addDoorStaff': ['addDoorStaff, another’s event'],
  'Mutation.removeDoorStaff': ['removeDoorStaff, another’s event'],
  'Mutation.checkInTicket': [
    'checkInTicket, another’s event',
    'checkInTicket, a ticket of another event at one’s own door',
  ],
  'Mutation.undoCheckIn': [
    'undoCheckIn, another’s event',
    'undoCheckIn, a ticket of another event at one’s own door',
  ],
  'Mutation.uploadCheckIns': [
    'uploadCheckIns, another’s event',
    'uploadCheckIns, a ticket of another event at one’s own door',
  ],
  'Mutation.transferTicket': ['transferTicket, someone’s'],
  'Mutation.acceptTicketTransfer': ['acceptTicketTransfer, an offer to someone else'],
  'Mutation.declineTicketTransfer': ['declineTicketTransfer, an offer to someone else'],
  'Mutation.cancelTicketTransfer': ['cancelTicketTransfer, someone else’s offer'],
  'Mutation.refundOrder': ['refundOrder, someone’s', 'refundOrder, a ticket given away'],
  'Mutation.joinWaitlist': ['joinWaitlist, a draft’s tier', 'joinWaitlist, anonymously'],
  'Mutation.leaveWaitlist': ['leaveWaitlist, a queue someone else is in'],
  // Signing in and out take the secret they act on (a password, a refresh token).
  'Mutation.signUp': 'public',
  'Mutation.logIn': ['a signed-in account’s own email and role, in the sign-in’s answer'],
  'Mutation.refreshSession': 'public',
  'Mutation.logOut': 'public',
  'Mutation.updateProfile': ['updateProfile, anonymously'],
  'Mutation.changePassword': ['changePassword, anonymously'],
  'Mutation.deleteAccount': ['deleteAccount, anonymously'],
  'Mutation.setUserRole': ['setUserRole, someone'],
};

describe('the table', () => {
  it('covers every field of the API schema, and names only probes that exist', () => {
    const schema = apiSchema(
      readFileSync(new URL('../../gateway/supergraph.graphql', import.meta.url), 'utf8'),
    );
    const types = Object.values(schema.getTypeMap()).filter(
      (type): type is GraphQLObjectType => isObjectType(type) && !type.name.startsWith('__'),
    );
    const coordinates = types.flatMap((type) =>
      Object.keys(type.getFields()).map((field) => `${type.name}.${field}`),
    );
    const named = new Map<string, HeldBy>();
    for (const [key, entry] of Object.entries(coverage)) {
      if (typeof entry === 'object' && 'fields' in entry) {
        for (const field of entry.fields.split(' ')) named.set(`${key}.${field}`, entry.heldBy);
      } else named.set(key, entry);
    }
    const uncovered = coordinates.filter((coordinate) => !named.has(coordinate));
    const stale = [...named.keys()].filter((key) => !coordinates.includes(key));
    const unknownProbes = [...named.values()]
      .flatMap((entry) => (entry === 'public' ? [] : entry))
      .filter((name) => !(name in probes));
    // Every root field has an entry of its own: none is public by its type's.
    const rootsWithoutEntry = coordinates.filter(
      (coordinate) =>
        (coordinate.startsWith('Query.') || coordinate.startsWith('Mutation.')) &&
        !(coordinate in coverage),
    );
    expect({ uncovered, stale, unknownProbes, rootsWithoutEntry }).toEqual({
      uncovered: [],
      stale: [],
      unknownProbes: [],
      rootsWithoutEntry: [],
    });
    expect(coordinates).toContain('Ticket.qrToken');
    expect(coordinates.length).toBeGreaterThan(150);
  });
});

describe('the authorization matrix', () => {
  for (const [name, build] of Object.entries(probes)) {
    it(name, async () => {
      const probe = build();
      const answers: Record<string, unknown> = {};
      const wanted: Record<string, unknown> = {};
      for (const role of roles) {
        wanted[role] = probe.expected[role];
        if ('allowed' in probe.expected[role]) {
          answers[role] = probe.expected[role];
          continue;
        }
        const before = probe.writes ? await databaseState() : undefined;
        const result = await supergraph.request(probe.query, probe.variables, {
          token: tokens[role],
        });
        answers[role] = describeOutcome(result, probe);
        if (before) {
          const after = await databaseState();
          const changed = Object.keys(after).filter((table) => after[table] !== before[table]);
          if (changed.length) answers[role] = { ...(answers[role] as object), changed };
        }
      }
      for (const dead of deadTokens) {
        const result = await supergraph.request(probe.query, probe.variables, {
          token: tokens[dead],
        });
        answers[dead] = { status: result.status, ...describeOutcome(result, probe) };
        wanted[dead] = { status: 401, error: 'UNAUTHENTICATED' };
      }
      expect(answers).toEqual(wanted);
    });
  }
});
