// The sales report and attendee lists through the gateway: what an event sold, per tier, per
// currency and per hour, and who holds its tickets, with the holders' names from the users
// subgraph; for the event's organizer and admins only; and the same SQL statements for an
// event of 10 tickets as for one of 1,000.
import { randomBytes, randomUUID } from 'node:crypto';
import { testServerUrl } from '@ticketing/prisma/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StatementCounter, startStatementCounter } from '../../bench/statement-counter.ts';
import { addDoorStaff, buyTickets, scan } from './door.ts';
import { type Statement, type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, eventOnSale, logIn, signUp } from './operations.ts';

const adminEmail = 'sales-admin@example.com';
const adminPassword = 'the sales admin password';
let supergraph: Supergraph;
/** Every statement the services send, read on the wire between them and PostgreSQL. */
let wire: StatementCounter;
let organizer: AuthPayload;
let otherOrganizer: AuthPayload;
let staff: AuthPayload;
let admin: AuthPayload;
let buyers: AuthPayload[];
let eventId: string;
let euroTierId: string;
let dollarTierId: string;
let otherTierId: string;

const euroTier = {
  name: 'Floor',
  priceCents: 3000,
  currency: 'EUR',
  capacity: 100,
  maxPerOrder: 10,
};
const dollarTier = { name: 'Balcony', priceCents: 5000, currency: 'USD', capacity: 50 };

const reportQuery = /* GraphQL */ `
  query ($id: ID!) {
    event(id: $id) {
      sales {
        tiers { tier { id name } capacity sold held available }
        gross { currency grossCents refundedCents }
        checkIns { checkedIn total }
      }
    }
  }
`;

interface Report {
  tiers: {
    tier: { id: string; name: string };
    capacity: number;
    sold: number;
    held: number;
    available: number;
  }[];
  gross: { currency: string; grossCents: number; refundedCents: number }[];
  checkIns: { checkedIn: number; total: number };
}

const attendeesQuery = /* GraphQL */ `
  query ($id: ID!, $tierId: ID!, $first: Int, $after: String) {
    event(id: $id) {
      sales {
        attendees(tierId: $tierId, first: $first, after: $after) {
          totalCount
          edges { cursor node { ticketId status checkedIn checkedInAt holder { id name } } }
          pageInfo { hasNextPage endCursor }
        }
      }
    }
  }
`;

interface Attendees {
  event: {
    sales: {
      attendees: {
        totalCount: number;
        edges: {
          cursor: string;
          node: {
            ticketId: string;
            status: string;
            checkedIn: boolean;
            checkedInAt: string | null;
            holder: { id: string; name: string } | null;
          };
        }[];
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
      };
    } | null;
  } | null;
}

type AttendeesVariables = { tierId: string; first?: number; after?: string };

const attendeesAs = (token: string | undefined, variables: AttendeesVariables, id = eventId) =>
  supergraph.request<Attendees>(attendeesQuery, { id, ...variables }, token ? { token } : {});

const attendees = (variables: AttendeesVariables) => attendeesAs(organizer.accessToken, variables);

const report = (token: string | undefined, id = eventId) =>
  supergraph.request<{ event: { sales: Report | null } | null }>(
    reportQuery,
    { id },
    token ? { token } : {},
  );

beforeAll(async () => {
  const server = new URL(testServerUrl);
  wire = await startStatementCounter({
    host: server.hostname,
    port: Number(server.port || 5432),
  });
  supergraph = await startSupergraph({
    env: { BOOTSTRAP_ADMIN_EMAIL: adminEmail, BOOTSTRAP_ADMIN_PASSWORD: adminPassword },
    serviceDatabaseUrl: (url) => wire.urlFor(url),
  });
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER', name: 'Olga Organizer' });
  otherOrganizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  staff = await signUp(supergraph, { name: 'Dora Door' });
  buyers = [
    await signUp(supergraph, { name: 'Ann Attendee' }),
    await signUp(supergraph, { name: 'Ben Buyer' }),
    await signUp(supergraph, { name: 'Cleo Customer' }),
  ];
  admin = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn as AuthPayload;
  const mine = await eventOnSale(supergraph, organizer.accessToken, [euroTier, dollarTier]);
  const theirs = await eventOnSale(supergraph, otherOrganizer.accessToken, [euroTier]);
  [eventId, euroTierId, dollarTierId] = [mine.eventId, ...mine.tierIds] as [string, string, string];
  otherTierId = theirs.tierIds[0] as string;
  const added = await addDoorStaff(supergraph, organizer.accessToken, eventId, staff.user.email);
  if (added.errors) throw new Error(JSON.stringify(added.errors));

  // Ann: 2 floor tickets (one order, 6000 EUR), one admitted; Ben: 1 floor ticket, cancelled
  // (its order still counts in gross); Cleo: 2 balcony tickets (one order, 10000 USD), one of
  // them refunded by the organizer (5000 USD), and a hold of 2.
  const [ann, ben, cleo] = buyers as [AuthPayload, AuthPayload, AuthPayload];
  const [admitted] = await buyTickets(supergraph, ann.accessToken, euroTierId, 2);
  const [cancelled] = await buyTickets(supergraph, ben.accessToken, euroTierId, 1);
  const [, refunded] = await buyTickets(supergraph, cleo.accessToken, dollarTierId, 2);
  const scanned = await scan(supergraph, staff.accessToken, admitted?.code as string, eventId);
  if (scanned.errors) throw new Error(JSON.stringify(scanned.errors));
  const cancel = await supergraph.request(
    'mutation ($id: ID!) { cancelTicket(id: $id) { id } }',
    { id: cancelled?.id },
    { token: ben.accessToken },
  );
  if (cancel.errors) throw new Error(JSON.stringify(cancel.errors));
  const { data: order } = await supergraph.request<{ ticket: { order: { id: string } } }>(
    'query ($id: ID!) { ticket(id: $id) { order { id } } }',
    { id: refunded?.id },
    { token: cleo.accessToken },
  );
  const refund = await supergraph.request(
    'mutation ($orderId: ID!, $ids: [ID!]) { refundOrder(orderId: $orderId, ticketIds: $ids) { id } }',
    { orderId: order?.ticket.order.id, ids: [refunded?.id] },
    { token: organizer.accessToken },
  );
  if (refund.errors) throw new Error(JSON.stringify(refund.errors));
  const hold = await supergraph.request(
    'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 2) { id } }',
    { tierId: euroTierId },
    { token: cleo.accessToken },
  );
  if (hold.errors) throw new Error(JSON.stringify(hold.errors));
});
afterAll(async () => {
  await supergraph?.stop();
  await wire?.stop();
});

describe('the sales report', () => {
  it('shows sold, held and available per tier, gross per currency and check-ins', async () => {
    const result = await report(organizer.accessToken);
    expect(result.errors).toBeUndefined();
    expect(result.data?.event?.sales).toEqual({
      tiers: [
        {
          tier: { id: euroTierId, name: 'Floor' },
          capacity: 100,
          sold: 2,
          held: 2,
          available: 96,
        },
        {
          tier: { id: dollarTierId, name: 'Balcony' },
          capacity: 50,
          sold: 1,
          held: 0,
          available: 49,
        },
      ],
      // Ben's cancelled ticket was paid for and not refunded; Cleo's refund is beside her gross.
      gross: [
        { currency: 'EUR', grossCents: 9000, refundedCents: 0 },
        { currency: 'USD', grossCents: 10000, refundedCents: 5000 },
      ],
      checkIns: { checkedIn: 1, total: 3 },
    });
  });

  it('sums past a 32-bit Int: 30 tickets at the top price are 3,000,000,000 cents', async () => {
    const top = { name: 'Patron', priceCents: 100_000_000, currency: 'EUR', capacity: 30 };
    const dear = await eventOnSale(supergraph, organizer.accessToken, [top]);
    for (const buyer of buyers) {
      await buyTickets(supergraph, buyer.accessToken, dear.tierIds[0] as string, 10);
    }
    const result = await report(organizer.accessToken, dear.eventId);
    expect(result.errors).toBeUndefined();
    expect(result.data?.event?.sales?.gross).toEqual([
      { currency: 'EUR', grossCents: 3_000_000_000, refundedCents: 0 },
    ]);
  });

  it('is open to admins', async () => {
    const result = await report(admin.accessToken);
    expect(result.errors).toBeUndefined();
    expect(result.data?.event?.sales?.checkIns).toEqual({ checkedIn: 1, total: 3 });
  });

  it('counts tickets and orders per hour, over a bounded series ending with this hour', async () => {
    const result = await supergraph.request<{
      event: { sales: { salesPerHour: { hour: string; tickets: number; orders: number }[] } };
    }>(
      'query ($id: ID!) { event(id: $id) { sales { salesPerHour(hours: 3) { hour tickets orders } } } }',
      { id: eventId },
      { token: organizer.accessToken },
    );
    const now = Date.now();
    expect(result.errors).toBeUndefined();
    const series = result.data?.event.sales.salesPerHour ?? [];
    expect(series).toHaveLength(3);
    const hours = series.map(({ hour }) => Date.parse(hour));
    expect(hours.map((hour, index) => hour - (hours[0] as number) - index * 3_600_000)).toEqual([
      0, 0, 0,
    ]);
    expect(now - (hours[2] as number)).toBeGreaterThanOrEqual(0);
    expect(now - (hours[2] as number)).toBeLessThan(3_600_000);
    // Five tickets in three orders, all bought minutes ago; the cancelled and refunded ones
    // included.
    expect(series.reduce((sum, hour) => sum + hour.tickets, 0)).toBe(5);
    expect(series.reduce((sum, hour) => sum + hour.orders, 0)).toBe(3);
  });

  it.each([0, 169, -1])('refuses a series of %i hours, naming the argument', async (hours) => {
    const result = await supergraph.request(
      'query ($id: ID!, $hours: Int) { event(id: $id) { sales { salesPerHour(hours: $hours) { hour } } } }',
      { id: eventId, hours },
      { token: organizer.accessToken },
    );
    expect(codeOf(result)).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.extensions?.field).toBe('hours');
    expect(result.errors?.[0]?.extensions?.stacktrace).toBeUndefined();
  });
});

describe('who may see sales', () => {
  it.each([
    ['a customer who bought tickets', 'FORBIDDEN', () => buyers[0]?.accessToken],
    ['its door staff', 'FORBIDDEN', () => staff.accessToken],
    ['another organizer', 'FORBIDDEN', () => otherOrganizer.accessToken],
    ['an anonymous caller', 'UNAUTHENTICATED', () => undefined],
  ])('not %s: %s, and nothing of the report or attendees', async (_, code, token) => {
    const result = await report(token());
    expect(codeOf(result)).toBe(code);
    expect(result.errors?.[0]?.path).toEqual(['event', 'sales']);
    expect(result.data?.event?.sales ?? null).toBeNull();
    const list = await attendeesAs(token(), { tierId: euroTierId });
    expect(codeOf(list)).toBe(code);
    expect(list.data?.event?.sales ?? null).toBeNull();
  });
});

describe('an unknown event', () => {
  it('reads as null, with no report and no error that says more', async () => {
    const result = await report(organizer.accessToken, randomUUID());
    expect(result.errors).toBeUndefined();
    expect(result.data?.event).toBeNull();
  });
});

describe('a tier’s attendees', () => {
  it('show each holder’s name, ticket status and admission, asking users once per page', async () => {
    for (const log of Object.values(supergraph.sql)) log.length = 0;
    const result = await attendees({ tierId: euroTierId });
    expect(result.errors).toBeUndefined();
    const list = result.data?.event?.sales?.attendees;
    expect(list?.totalCount).toBe(3);
    expect(list?.pageInfo.hasNextPage).toBe(false);
    const rows = list?.edges.map(({ node }) => ({
      name: node.holder?.name,
      status: node.status,
      checkedIn: node.checkedIn,
      admittedAt: node.checkedInAt !== null,
    }));
    expect(rows).toEqual(
      expect.arrayContaining([
        { name: 'Ann Attendee', status: 'ACTIVE', checkedIn: true, admittedAt: true },
        { name: 'Ann Attendee', status: 'ACTIVE', checkedIn: false, admittedAt: false },
        { name: 'Ben Buyer', status: 'CANCELLED', checkedIn: false, admittedAt: false },
      ]),
    );
    expect(rows).toHaveLength(3);
    // Two holders, one users statement: the gateway sends the page's holders in one fetch,
    // and the users subgraph loads them in one batch.
    expect(supergraph.sql.users.filter(({ sql }) => /select/i.test(sql))).toHaveLength(1);
  });

  it('page newest first, with the total on every page and no ticket twice', async () => {
    const first = await attendees({ tierId: euroTierId, first: 2 });
    const firstPage = first.data?.event?.sales?.attendees;
    expect(firstPage?.edges).toHaveLength(2);
    expect(firstPage?.pageInfo.hasNextPage).toBe(true);
    const second = await attendees({
      tierId: euroTierId,
      first: 2,
      after: firstPage?.pageInfo.endCursor as string,
    });
    const secondPage = second.data?.event?.sales?.attendees;
    expect(secondPage?.edges).toHaveLength(1);
    expect(secondPage?.pageInfo.hasNextPage).toBe(false);
    expect(secondPage?.totalCount).toBe(3);
    const ids = [...(firstPage?.edges ?? []), ...(secondPage?.edges ?? [])].map(
      ({ node }) => node.ticketId,
    );
    expect(new Set(ids).size).toBe(3);
    // Ben's ticket was bought after Ann's: newest first puts it first.
    expect(firstPage?.edges[0]?.node.holder?.name).toBe('Ben Buyer');
  });

  it.each([
    ['garbage', 'not-a-cursor'],
    ['a forged position', Buffer.from('["yesterday","1"]').toString('base64url')],
    [
      'an id that is no uuid',
      Buffer.from(`["${new Date().toISOString()}","x' OR 1=1"]`).toString('base64url'),
    ],
  ])('refuse a forged cursor (%s) with BAD_USER_INPUT on `after`', async (_, after) => {
    const result = await attendees({ tierId: euroTierId, after });
    expect(codeOf(result)).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.extensions?.field).toBe('after');
    expect(result.data?.event?.sales ?? null).toBeNull();
  });

  it.each([101, 1_000_000, -1])('refuse first: %i, naming it', async (first) => {
    const result = await attendees({ tierId: euroTierId, first });
    expect(codeOf(result)).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.extensions?.field).toBe('first');
  });

  it.each([
    ['a tier of another organizer’s event', () => otherTierId],
    ['an unknown tier', () => randomUUID()],
    ['an id that is no uuid', () => 'tier-1'],
  ])('are NOT_FOUND for %s, naming tierId', async (_, tierId) => {
    const result = await attendees({ tierId: tierId() });
    expect(codeOf(result)).toBe('NOT_FOUND');
    expect(result.errors?.[0]?.extensions?.field).toBe('tierId');
    expect(result.data?.event?.sales ?? null).toBeNull();
  });

  it('of another organizer’s event stay hidden, even with its own tier id', async () => {
    const theirs = await supergraph.databases.tickets.ticketTier.findUniqueOrThrow({
      where: { id: otherTierId },
    });
    const result = await attendeesAs(
      organizer.accessToken,
      { tierId: otherTierId },
      theirs.eventId,
    );
    expect(codeOf(result)).toBe('FORBIDDEN');
    expect(result.data?.event?.sales ?? null).toBeNull();
  });
});

describe('statements', () => {
  const fullReport = /* GraphQL */ `
    query ($id: ID!, $tierId: ID!) {
      event(id: $id) {
        sales {
          tiers { tier { name } sold held available }
          gross { currency grossCents refundedCents }
          checkIns { checkedIn total }
          salesPerHour(hours: 168) { hour tickets orders }
          attendees(tierId: $tierId, first: 100) {
            totalCount
            edges { node { ticketId status checkedIn holder { name } } }
          }
        }
      }
    }
  `;

  async function statementsFor(id: string, tierId: string) {
    for (const log of Object.values(supergraph.sql)) log.length = 0;
    wire.reset();
    const result = await supergraph.request<{
      event: {
        sales: {
          attendees: {
            totalCount: number;
            edges: { node: { ticketId: string; holder: { name: string } | null } }[];
          };
        };
      };
    }>(fullReport, { id, tierId }, { token: organizer.accessToken });
    expect(result.errors).toBeUndefined();
    const background = (sql: string) =>
      sql.includes('outbox_messages') || sql.includes('WITH expired AS');
    const count = (log: Statement[]) => log.filter(({ sql }) => !background(sql)).length;
    // On the wire, by the database each connection opened (test_sg_<subgraph>_…).
    const onWire = (subgraph: string) =>
      wire.statements.filter(
        ({ database, sql }) => database.startsWith(`test_sg_${subgraph}_`) && !background(sql),
      ).length;
    const edges = result.data?.event.sales.attendees.edges ?? [];
    return {
      tickets: result.data?.event.sales.attendees.totalCount,
      page: edges.length,
      holders: edges.map(({ node }) => [node.ticketId, node.holder?.name]),
      statements: {
        users: count(supergraph.sql.users),
        events: count(supergraph.sql.events),
        tickets: count(supergraph.sql.tickets),
      },
      wire: { users: onWire('users'), events: onWire('events'), tickets: onWire('tickets') },
    };
  }

  /**
   * Writes `count` sold tickets of a new tier straight to the database, ten to an order,
   * held by up to 100 people (as if some had been transferred).
   */
  async function eventWithTickets(count: number, holders: { id: string; name: string }[]) {
    const tier = { ...euroTier, capacity: count };
    const { eventId: id, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const tierId = tierIds[0] as string;
    const db = supergraph.databases.tickets;
    const orders = Array.from({ length: count / 10 }, (_, index) => ({
      id: randomUUID(),
      buyerId: (buyers[index % buyers.length] as AuthPayload).user.id,
      idempotencyKey: `bulk-${randomUUID()}`,
      requestHash: 'bulk',
      totalCents: 10 * tier.priceCents,
      currency: tier.currency,
    }));
    await db.order.createMany({ data: orders });
    await db.ticket.createMany({
      data: Array.from({ length: count }, (_, index) => {
        const order = orders[Math.floor(index / 10)] as (typeof orders)[number];
        return {
          tierId,
          eventId: id,
          ownerId: (holders[index % holders.length] as { id: string }).id,
          orderId: order.id,
          code: randomBytes(16).toString('base64url'),
          // Spread over the last two days, so that the hourly series has many hours.
          purchasedAt: new Date(Date.now() - (index % 48) * 3_600_000),
          ...(index % 3 === 0 ? { checkedInAt: new Date(), checkedInBy: organizer.user.id } : {}),
        };
      }),
    });
    await db.ticketTier.update({ where: { id: tierId }, data: { sold: count } });
    return { id, tierId };
  }

  /** The first page of a tier's attendees, as the database says it is: [ticket, name]. */
  async function expectedPage(tierId: string, holders: { id: string; name: string }[]) {
    const page = await supergraph.databases.tickets.ticket.findMany({
      where: { tierId },
      orderBy: [{ purchasedAt: 'desc' }, { id: 'desc' }],
      take: 100,
    });
    const names = new Map(holders.map((holder) => [holder.id, holder.name]));
    return page.map((ticket) => [ticket.id, names.get(ticket.ownerId)]);
  }

  it('are the same for an event of 10 tickets as for one of 1,000', async () => {
    const holders = Array.from({ length: 100 }, (_, index) => ({
      id: randomUUID(),
      email: `holder-${index}-${randomUUID()}@example.com`,
      name: `Holder ${index}`,
    }));
    await supergraph.databases.users.user.createMany({ data: holders });
    const small = await eventWithTickets(10, holders);
    const large = await eventWithTickets(1_000, holders);
    const few = await statementsFor(small.id, small.tierId);
    const many = await statementsFor(large.id, large.tierId);
    expect([few.tickets, few.page]).toEqual([10, 10]);
    expect([many.tickets, many.page]).toEqual([1_000, 100]);
    // Every holder named, dozens of different people on the page, from one users statement.
    expect(few.holders).toEqual(await expectedPage(small.tierId, holders));
    expect(many.holders).toEqual(await expectedPage(large.tierId, holders));
    expect(new Set(many.holders.map(([, name]) => name)).size).toBeGreaterThan(20);
    expect(many.statements).toEqual(few.statements);
    // tickets: tiers with holds, gross, check-ins, the hourly series and the attendee page;
    // users: the page's holders in one batch; events: the event, and who organizes it.
    expect(few.statements).toEqual({ users: 1, events: 2, tickets: 5 });
    // The same, counted by bench/statement-counter.ts between the services and PostgreSQL.
    expect(many.wire).toEqual(few.wire);
    expect(few.wire).toEqual(few.statements);
  });
});

describe('the attendee page of a large tier', () => {
  /** The names of the indexes a plan reads, and whether it sorts, anywhere in its tree. */
  function planNodes(plan: unknown): { index?: string; type: string }[] {
    if (Array.isArray(plan)) return plan.flatMap(planNodes);
    if (!plan || typeof plan !== 'object') return [];
    const node = plan as Record<string, unknown>;
    const own =
      typeof node['Node Type'] === 'string'
        ? [{ type: node['Node Type'], index: node['Index Name'] as string | undefined }]
        : [];
    return [...own, ...Object.values(node).flatMap(planNodes)];
  }

  it('is read from the tier’s (purchased_at, id) index, without sorting the tier', async () => {
    const tier = { ...euroTier, capacity: 100_000 };
    const { eventId: id, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    const tierId = tierIds[0] as string;
    const db = supergraph.databases.tickets;
    // A realistic volume, so that the planner weighs the index against a scan for real.
    await db.$executeRawUnsafe(
      `INSERT INTO tickets (id, tier_id, event_id, owner_id, code, purchased_at)
       SELECT gen_random_uuid(), $1::uuid, $2::uuid, $3::uuid, md5(random()::text || i),
              now() - i * interval '1 second'
       FROM generate_series(1, 100000) AS i`,
      tierId,
      id,
      (buyers[0] as AuthPayload).user.id,
    );
    await db.$executeRawUnsafe('ANALYZE tickets');
    const first = await attendeesAs(organizer.accessToken, { tierId, first: 100 }, id);
    supergraph.sql.tickets.length = 0;
    const second = await attendeesAs(
      organizer.accessToken,
      { tierId, first: 100, after: first.data?.event?.sales?.attendees.pageInfo.endCursor ?? '' },
      id,
    );
    expect(second.data?.event?.sales?.attendees.edges).toHaveLength(100);
    const [page] = supergraph.sql.tickets.filter(({ sql }) => sql.includes('WITH tier AS'));
    if (!page) throw new Error('the attendee page was not sent');
    const [explained] = await db.$queryRawUnsafe<{ 'QUERY PLAN': unknown }[]>(
      `EXPLAIN (FORMAT JSON) ${page.sql}`,
      ...page.params,
    );
    const nodes = planNodes(explained?.['QUERY PLAN']);
    expect(nodes.map(({ index }) => index)).toContain('tickets_tier_id_purchased_at_id_idx');
    // No sort under the page's limit: without the index, PostgreSQL sorts the whole tier there.
    const limit = nodes.findIndex(({ type }) => type === 'Limit');
    expect(nodes.slice(limit).some(({ type }) => type === 'Sort')).toBe(false);
  }, 60_000);
});
