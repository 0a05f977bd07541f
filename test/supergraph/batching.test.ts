// Entity references are batched: a federated listing costs the same number of SQL
// statements in each subgraph whatever the number of events, organizers and tiers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestStatements, type Supergraph, startSupergraph } from './harness.ts';
import { signUp } from './operations.ts';

const listing = /* GraphQL */ `
  query ($first: Int!) {
    events(first: $first) {
      edges { node { title organizer { name } ticketsAvailable ticketTiers { name available } } }
    }
  }
`;
const eventCount = 60;
let supergraph: Supergraph;

beforeAll(async () => {
  supergraph = await startSupergraph();
  const { users, events, tickets } = supergraph.databases;
  // Every event has its own organizer, so each page needs as many User references.
  const organizers = Array.from({ length: eventCount }, (_, i) => ({
    id: `0190a000-0000-7000-8000-${String(i + 1).padStart(12, '0')}`,
    email: `organizer-${i}@example.com`,
    name: `Organizer ${i}`,
    role: 'ORGANIZER' as const,
  }));
  await users.user.createMany({ data: organizers });
  const startsAt = Date.now() + 7 * 86_400_000;
  const created = organizers.map((organizer, i) => ({
    id: `0190a000-0000-7000-8001-${String(i + 1).padStart(12, '0')}`,
    title: `Event ${i}`,
    venue: 'Hall',
    city: 'Lisbon',
    cityKey: 'lisbon',
    timezone: 'Europe/Lisbon',
    startsAt: new Date(startsAt + i * 3_600_000),
    status: 'PUBLISHED' as const,
    organizerId: organizer.id,
  }));
  await events.event.createMany({ data: created });
  await tickets.ticketTier.createMany({
    data: created.flatMap((event) => [
      { eventId: event.id, name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 100 },
      { eventId: event.id, name: 'VIP', priceCents: 5000, currency: 'EUR', capacity: 10 },
    ]),
  });
});
afterAll(async () => {
  await supergraph?.stop();
});

/** The statements each subgraph sends while answering one listing of `first` events. */
async function statementsFor(first: number, query = listing) {
  for (const log of Object.values(supergraph.sql)) log.length = 0;
  const result = await supergraph.request<{
    events: { edges: { node: { organizer: { name: string } } }[] };
  }>(query, { first });
  expect(result.errors).toBeUndefined();
  expect(result.data?.events.edges).toHaveLength(first);
  expect(new Set(result.data?.events.edges.map((edge) => edge.node.organizer.name)).size).toBe(
    first,
  );
  // Background jobs run whatever the requests: their statements are not the request's.
  return {
    users: requestStatements(supergraph.sql.users).length,
    events: requestStatements(supergraph.sql.events).length,
    tickets: requestStatements(supergraph.sql.tickets).length,
  };
}

describe('a federated listing', () => {
  it('costs the same SQL statements for 5, 20 and 50 events: one batch per subgraph', async () => {
    const small = await statementsFor(5);
    // events: the page and its count. tickets: the tiers with their unexpired holds (one
    // joined statement), and the events' sale status.
    expect(small).toEqual({ users: 1, events: 2, tickets: 2 });
    expect(await statementsFor(20)).toEqual(small);
    expect(await statementsFor(50)).toEqual(small);
  });

  it('costs the same statements with every organizer’s organizedEvents: one batch for all', async () => {
    const withOrganizedEvents = /* GraphQL */ `
      query ($first: Int!) {
        events(first: $first) {
          edges { node { organizer { name organizedEvents(first: 3) { totalCount } } } }
        }
      }
    `;
    const small = await statementsFor(5, withOrganizedEvents);
    // events: the page and its count, then the organizers' pages and their rows.
    expect(small).toEqual({ users: 1, events: 4, tickets: 0 });
    expect(await statementsFor(50, withOrganizedEvents)).toEqual(small);
  });
});

describe('an organizer’s own events, with what only their organizer may read', () => {
  // The tickets service asks the events service who organizes an event before it answers
  // its door staff, sales or check-ins. It asked once an event and field: a page of 100
  // of one's events with those three fields was 300 calls from the tickets service to the
  // events service, for one request of any organizer (anyone may sign up as one).
  const dashboard = /* GraphQL */ `
    query ($first: Int!) {
      me {
        organizedEvents(first: $first) {
          edges { node { title doorStaff { addedAt } sales { gross { currency } } checkIns { total } } }
        }
      }
    }
  `;

  /** How many requests the events subgraph answered for one dashboard of `first` events. */
  async function eventsRequestsFor(token: string, first: number) {
    supergraph.eventsViewers.length = 0;
    const result = await supergraph.request<{
      me: { organizedEvents: { edges: { node: { doorStaff: unknown[] } }[] } };
    }>(dashboard, { first }, { token });
    expect(result.errors).toBeUndefined();
    expect(result.data?.me.organizedEvents.edges).toHaveLength(first);
    for (const { node } of result.data?.me.organizedEvents.edges ?? []) {
      expect(node.doorStaff).toEqual([]);
    }
    return supergraph.eventsViewers.length;
  }

  it('costs the events service the same requests for 2 events as for 30: one to list, one to check', async () => {
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const startsAt = Date.now() + 7 * 86_400_000;
    await supergraph.databases.events.event.createMany({
      data: Array.from({ length: 30 }, (_, i) => ({
        title: `Own ${i}`,
        venue: 'Hall',
        city: 'Lisbon',
        cityKey: 'lisbon',
        timezone: 'Europe/Lisbon',
        startsAt: new Date(startsAt + i * 3_600_000),
        status: 'PUBLISHED' as const,
        organizerId: organizer.user.id,
      })),
    });
    expect(await eventsRequestsFor(organizer.accessToken, 2)).toBe(2);
    expect(await eventsRequestsFor(organizer.accessToken, 30)).toBe(2);
  });

  it('still refuses another organizer each of those events, field by field', async () => {
    const other = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const result = await supergraph.request<{
      events: { edges: { node: { title: string; doorStaff: null } }[] };
    }>(
      '{ events(first: 3) { edges { node { title doorStaff { addedAt } } } } }',
      {},
      { token: other.accessToken },
    );
    expect(result.data?.events.edges).toHaveLength(3);
    expect(result.data?.events.edges.map(({ node }) => node.doorStaff)).toEqual([null, null, null]);
    expect(result.errors?.map((error) => error.extensions?.code)).toEqual([
      'FORBIDDEN',
      'FORBIDDEN',
      'FORBIDDEN',
    ]);
  });
});

describe('a page of events with what only their door staff may read', () => {
  // Whether the caller is an event's door staff was one statement an event and field: any
  // customer's page of 100 events with checkIns and ticketKeys was 200 statements in the
  // tickets database, each answered FORBIDDEN.
  const doorFields = /* GraphQL */ `
    query ($first: Int!) {
      events(first: $first) { edges { node { title checkIns { total } ticketKeys { kid } } } }
    }
  `;

  async function ticketsStatementsFor(token: string, first: number) {
    supergraph.sql.tickets.length = 0;
    const result = await supergraph.request<{ events: { edges: unknown[] } }>(
      doorFields,
      { first },
      { token },
    );
    expect(result.data?.events.edges).toHaveLength(first);
    expect(new Set(result.errors?.map((error) => error.extensions?.code))).toEqual(
      new Set(['FORBIDDEN']),
    );
    expect(result.errors).toHaveLength(2 * first);
    return requestStatements(supergraph.sql.tickets).length;
  }

  it('costs a customer the same statements for 2 events as for 50: one lookup for all', async () => {
    const customer = await signUp(supergraph);
    expect(await ticketsStatementsFor(customer.accessToken, 2)).toBe(1);
    expect(await ticketsStatementsFor(customer.accessToken, 50)).toBe(1);
  });
});
