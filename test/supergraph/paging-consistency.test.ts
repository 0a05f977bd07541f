// Paging while the data moves, through the gateway: every list paged by cursor sees each item
// that existed unchanged throughout exactly once, whatever is created, moved, published,
// cancelled or deleted between its pages; a cursor continues only the list it came from, and
// only as it was issued.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buyTickets, offerTicket } from './door.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, eventOnSale, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let buyer: AuthPayload;
let friend: AuthPayload;
const hour = 3_600_000;
const base = Date.now() + 30 * 24 * hour;

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  buyer = await signUp(supergraph, { name: 'Bea Buyer' });
  friend = await signUp(supergraph, { name: 'Fred Friend' });
});
afterAll(async () => {
  await supergraph?.stop();
});

interface Connection {
  edges: { cursor: string; node: { id: string } }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

const eventsQuery = `query ($first: Int, $after: String, $filter: EventFilter, $orderBy: EventOrder) {
  events(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    edges { cursor node { id } } pageInfo { hasNextPage endCursor }
  }
}`;

describe('the events listing while events move between pages', () => {
  it('lists every event that stayed as it was once, and continues after a deleted one', async () => {
    const city = `Movington-${randomUUID().slice(0, 8)}`;
    const rows = Array.from({ length: 60 }, (_, i) => ({
      id: randomUUID(),
      title: `Event ${i}`,
      venue: 'Hall',
      city,
      cityKey: city.toLowerCase(),
      timezone: 'Europe/Berlin',
      // Three a start time: ties are broken by id.
      startsAt: new Date(base + Math.floor(i / 3) * hour),
      status: 'PUBLISHED' as const,
      organizerId: organizer.user.id,
    }));
    await supergraph.databases.events.event.createMany({ data: rows });
    const drafts = rows.slice(0, 6).map((row) => ({
      ...row,
      id: randomUUID(),
      status: 'DRAFT' as const,
    }));
    await supergraph.databases.events.event.createMany({ data: drafts });

    const changed = new Set<string>();
    const seen: string[] = [];
    let after: string | null = null;
    let round = 0;
    for (;;) {
      const result: Awaited<ReturnType<typeof supergraph.request<{ events: Connection }>>> =
        await supergraph.request<{ events: Connection }>(eventsQuery, {
          first: 7,
          after,
          filter: { city },
        });
      expect(result.errors).toBeUndefined();
      const page = result.data?.events as Connection;
      seen.push(...page.edges.map((edge) => edge.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
      round += 1;
      const last = page.edges.at(-1)?.node.id as string;
      const unseen = rows.filter((row) => !seen.includes(row.id) && !changed.has(row.id));
      const [ahead, further, cancelled] = [unseen[2], unseen[5], unseen[8]];
      const db = supergraph.databases.events;
      // The cursor's own event deleted, one not yet seen moved earlier (behind the cursor)
      // and one moved later, one cancelled, a draft published, and a new one ahead.
      if (round === 1) {
        await db.event.delete({ where: { id: last } });
        changed.add(last);
      }
      if (ahead) {
        await db.event.update({
          where: { id: ahead.id },
          data: { startsAt: new Date(base - hour) },
        });
        changed.add(ahead.id);
      }
      if (further) {
        await db.event.update({
          where: { id: further.id },
          data: { startsAt: new Date(base + 100 * hour), title: 'Moved' },
        });
        changed.add(further.id);
      }
      if (cancelled) {
        await db.event.update({ where: { id: cancelled.id }, data: { status: 'CANCELLED' } });
        changed.add(cancelled.id);
      }
      const draft = drafts[round];
      if (draft) await db.event.update({ where: { id: draft.id }, data: { status: 'PUBLISHED' } });
      await db.event.create({
        data: { ...rows[0], id: randomUUID(), startsAt: new Date(base + 50 * hour) } as never,
      });
    }
    expect(new Set(seen).size).toBe(seen.length);
    const unchanged = rows.filter((row) => !changed.has(row.id));
    expect(unchanged.length).toBeGreaterThan(20);
    expect(unchanged.filter((row) => !seen.includes(row.id))).toEqual([]);
  });
});

const ticketsQuery = `query ($first: Int, $after: String) {
  myTickets(first: $first, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } }
}`;
const ordersQuery = `query ($first: Int, $after: String) {
  myOrders(first: $first, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } }
}`;
const transfersQuery = `query ($first: Int, $after: String) {
  myTicketTransfers(first: $first, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } }
}`;

const attendeesQuery = `query ($id: ID!, $tierId: ID!, $first: Int, $after: String) {
  event(id: $id) { sales { attendees(tierId: $tierId, first: $first, after: $after) {
    edges { cursor node { ticketId } } pageInfo { hasNextPage endCursor }
  } } }
}`;

describe("the tickets service's lists and their cursors", () => {
  let cursors: Record<'tickets' | 'orders' | 'transfers' | 'attendees', string>;
  let attendeesOf: { id: string; tierId: string };

  beforeAll(async () => {
    const tier = { name: 'Floor', priceCents: 1000, currency: 'EUR', capacity: 50, maxPerOrder: 2 };
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    attendeesOf = { id: eventId, tierId: tierIds[0] as string };
    for (let i = 0; i < 3; i++) {
      const [ticket] = await buyTickets(supergraph, buyer.accessToken, tierIds[0] as string, 2);
      await offerTicket(
        supergraph,
        buyer.accessToken,
        (ticket as { id: string }).id,
        friend.user.email,
      );
    }
    const first = async (query: string, field: string) => {
      const result = await supergraph.request<Record<string, Connection>>(
        query,
        { first: 1 },
        { token: buyer.accessToken },
      );
      expect(result.errors).toBeUndefined();
      return result.data?.[field]?.pageInfo.endCursor as string;
    };
    cursors = {
      tickets: await first(ticketsQuery, 'myTickets'),
      orders: await first(ordersQuery, 'myOrders'),
      transfers: await first(transfersQuery, 'myTicketTransfers'),
      attendees: await attendees({ first: 1 }).then(
        (result) => result.data?.event.sales.attendees.pageInfo.endCursor as string,
      ),
    };
  });

  const attendees = (variables: Record<string, unknown>) =>
    supergraph.request<{ event: { sales: { attendees: Connection } } }>(
      attendeesQuery,
      { ...attendeesOf, ...variables },
      { token: organizer.accessToken },
    );

  it("refuses the buyer's lists' cursors in an event's attendees, and theirs in the buyer's", async () => {
    const own = await attendees({ first: 1, after: cursors.attendees });
    expect(own.errors).toBeUndefined();
    for (const other of ['tickets', 'orders', 'transfers'] as const) {
      const result = await attendees({ first: 1, after: cursors[other] });
      expect(result.errors?.[0]?.extensions, `${other}'s cursor`).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'after',
      });
      const mine = await supergraph.request(
        lists.find(([list]) => list === other)?.[1] as string,
        { first: 1, after: cursors.attendees },
        { token: buyer.accessToken },
      );
      expect(mine.errors?.[0]?.extensions, `attendees' cursor in ${other}`).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'after',
      });
    }
  });

  const lists = [
    ['tickets', ticketsQuery],
    ['orders', ordersQuery],
    ['transfers', transfersQuery],
  ] as const;

  it.each(lists)('continues %s from its own cursor', async (name, query) => {
    const next = await supergraph.request<Record<string, Connection>>(
      query,
      { first: 1, after: cursors[name] },
      { token: buyer.accessToken },
    );
    expect(next.errors).toBeUndefined();
  });

  it.each(lists)("refuses another list's cursor in %s", async (name, query) => {
    for (const other of lists.map(([list]) => list).filter((list) => list !== name)) {
      const result = await supergraph.request(
        query,
        { first: 1, after: cursors[other] },
        { token: buyer.accessToken },
      );
      expect(result.errors?.[0]?.extensions, `${other}'s cursor`).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'after',
      });
      expect(result.data ?? null).toBeNull();
    }
  });

  it.each(lists)('takes a cursor of %s only as it was issued', async (name, query) => {
    const cursor = cursors[name];
    const respelled = [
      `${cursor}==`,
      Buffer.from(cursor, 'base64url').toString('base64'),
      ` ${cursor}`,
      Buffer.from(
        JSON.stringify([...JSON.parse(Buffer.from(cursor, 'base64url').toString()), 'more']),
      ).toString('base64url'),
    ].filter((spelling) => spelling !== cursor);
    for (const after of respelled) {
      const result = await supergraph.request(
        query,
        { first: 1, after },
        { token: buyer.accessToken },
      );
      expect(result.errors?.[0]?.extensions, after).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'after',
      });
    }
  });
});
