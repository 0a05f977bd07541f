// The events API through the gateway: permissions, the lifecycle, validation, listing and
// what the tickets service learns.

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { maxDeliveryAgeMs, maxDeliveryBytes, relaySecret, signDelivery } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, logIn, signUp } from './operations.ts';

const adminEmail = 'events-admin@example.com';
const adminPassword = 'the events admin password';
let supergraph: Supergraph;
let organizerA: AuthPayload;
let organizerB: AuthPayload;
let customer: AuthPayload;
let admin: AuthPayload;

const day = 86_400_000;
const inDays = (days: number) => new Date(Date.now() + days * day).toISOString();

const eventFields =
  'id title status startsAt endsAt city timezone cancellationReason organizer { id }';
const createMutation = `mutation ($input: CreateEventInput!) { createEvent(input: $input) { ${eventFields} } }`;

interface EventResult {
  id: string;
  title: string;
  status: string;
  cancellationReason: string | null;
}

beforeAll(async () => {
  supergraph = await startSupergraph({
    env: { BOOTSTRAP_ADMIN_EMAIL: adminEmail, BOOTSTRAP_ADMIN_PASSWORD: adminPassword },
  });
  [organizerA, organizerB, customer] = await Promise.all([
    signUp(supergraph, { accountType: 'ORGANIZER', name: 'Organizer A' }),
    signUp(supergraph, { accountType: 'ORGANIZER', name: 'Organizer B' }),
    signUp(supergraph, { accountType: 'CUSTOMER' }),
  ]);
  admin = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn as AuthPayload;
});
afterAll(async () => {
  await supergraph?.stop();
});

function validInput(overrides: Record<string, unknown> = {}) {
  return {
    title: 'Night of the Compilers',
    venue: 'Main Hall',
    city: 'Berlin',
    startsAt: inDays(30),
    endsAt: inDays(30.1),
    timezone: 'Europe/Berlin',
    ...overrides,
  };
}

async function createEvent(
  token: string,
  overrides: Record<string, unknown> = {},
): Promise<EventResult> {
  const result = await supergraph.request<{ createEvent: EventResult }>(
    createMutation,
    { input: validInput(overrides) },
    { token },
  );
  if (!result.data?.createEvent)
    throw new Error(`createEvent failed: ${JSON.stringify(result.errors)}`);
  return result.data.createEvent;
}

const mutations = {
  update: (id: string, token: string, input: Record<string, unknown> = { title: 'Renamed' }) =>
    supergraph.request<{ updateEvent: EventResult }>(
      `mutation ($id: ID!, $input: UpdateEventInput!) { updateEvent(id: $id, input: $input) { ${eventFields} } }`,
      { id, input },
      { token },
    ),
  publish: (id: string, token: string) =>
    supergraph.request<{ publishEvent: EventResult }>(
      `mutation ($id: ID!) { publishEvent(id: $id) { ${eventFields} } }`,
      { id },
      { token },
    ),
  cancel: (id: string, token: string, reason?: string) =>
    supergraph.request<{ cancelEvent: EventResult }>(
      `mutation ($id: ID!, $reason: String) { cancelEvent(id: $id, reason: $reason) { ${eventFields} } }`,
      { id, reason },
      { token },
    ),
  delete: (id: string, token: string) =>
    supergraph.request<{ deleteEvent: boolean }>(
      'mutation ($id: ID!) { deleteEvent(id: $id) }',
      { id },
      { token },
    ),
};

const stored = (id: string) => supergraph.databases.events.event.findUnique({ where: { id } });
const outboxFor = (id: string) =>
  supergraph.databases.events.outboxMessage.findMany({
    where: { eventId: id },
    orderBy: { sequence: 'asc' },
  });

describe('permissions', () => {
  it('lets organizers and admins create events, as drafts they own, and nobody else', async () => {
    const created = await createEvent(organizerA.accessToken);
    expect(created).toMatchObject({ status: 'DRAFT', organizer: { id: organizerA.user.id } });
    expect((await createEvent(admin.accessToken)).status).toBe('DRAFT');

    const before = await supergraph.databases.events.event.count();
    const asCustomer = await supergraph.request(
      createMutation,
      { input: validInput() },
      { token: customer.accessToken },
    );
    expect(codeOf(asCustomer)).toBe('FORBIDDEN');
    expect(codeOf(await supergraph.request(createMutation, { input: validInput() }))).toBe(
      'UNAUTHENTICATED',
    );
    expect(await supergraph.databases.events.event.count()).toBe(before);
  });

  it('keeps organizer B off organizer A’s events, and lets an admin in', async () => {
    const draft = await createEvent(organizerA.accessToken, { title: 'A’s draft' });
    const published = await createEvent(organizerA.accessToken, { title: 'A’s show' });
    await mutations.publish(published.id, organizerA.accessToken);

    // A draft of someone else's does not exist, as far as B can tell.
    for (const attempt of [mutations.update, mutations.publish, mutations.delete]) {
      expect(codeOf(await attempt(draft.id, organizerB.accessToken))).toBe('NOT_FOUND');
    }
    // A published event is visible, but not B's to change.
    expect(codeOf(await mutations.update(published.id, organizerB.accessToken))).toBe('FORBIDDEN');
    expect(codeOf(await mutations.cancel(published.id, organizerB.accessToken))).toBe('FORBIDDEN');
    expect(codeOf(await mutations.update(published.id, customer.accessToken))).toBe('FORBIDDEN');
    expect((await stored(draft.id))?.title).toBe('A’s draft');
    expect(await stored(published.id)).toMatchObject({ title: 'A’s show', status: 'PUBLISHED' });

    expect(
      (await mutations.update(published.id, admin.accessToken, { title: 'Fixed by admin' })).data
        ?.updateEvent.title,
    ).toBe('Fixed by admin');
    expect(
      (await mutations.cancel(published.id, admin.accessToken, 'Venue flooded')).data?.cancelEvent,
    ).toMatchObject({
      status: 'CANCELLED',
      cancellationReason: 'Venue flooded',
    });
    expect((await mutations.delete(draft.id, admin.accessToken)).data).toEqual({
      deleteEvent: true,
    });
  });

  it('reads a hidden draft as not found, for anyone but its organizer and admins', async () => {
    const draft = await createEvent(organizerA.accessToken, { title: 'Secret' });
    const query = 'query ($id: ID!) { event(id: $id) { id title } }';
    expect(
      (await supergraph.request(query, { id: draft.id }, { token: organizerA.accessToken })).data,
    ).toEqual({
      event: { id: draft.id, title: 'Secret' },
    });
    expect(
      (await supergraph.request(query, { id: draft.id }, { token: admin.accessToken })).data,
    ).toEqual({
      event: { id: draft.id, title: 'Secret' },
    });
    for (const options of [
      { token: organizerB.accessToken },
      { token: customer.accessToken },
      {},
    ]) {
      const result = await supergraph.request(query, { id: draft.id }, options);
      expect(result.errors).toBeUndefined();
      expect(result.data).toEqual({ event: null });
    }
  });
});

describe('the lifecycle', () => {
  type Action = keyof typeof mutations;
  const inState = async (status: 'DRAFT' | 'PUBLISHED' | 'CANCELLED') => {
    const event = await createEvent(organizerA.accessToken);
    if (status !== 'DRAFT') await mutations.publish(event.id, organizerA.accessToken);
    if (status === 'CANCELLED') await mutations.cancel(event.id, organizerA.accessToken);
    return event.id;
  };
  const allowed: [string, Action, string | null][] = [
    ['DRAFT', 'update', 'DRAFT'],
    ['DRAFT', 'publish', 'PUBLISHED'],
    ['DRAFT', 'delete', null],
    ['PUBLISHED', 'update', 'PUBLISHED'],
    ['PUBLISHED', 'cancel', 'CANCELLED'],
  ];
  const forbidden: [string, Action][] = [
    ['DRAFT', 'cancel'],
    ['PUBLISHED', 'publish'],
    ['PUBLISHED', 'delete'],
    ['CANCELLED', 'update'],
    ['CANCELLED', 'publish'],
    ['CANCELLED', 'cancel'],
    ['CANCELLED', 'delete'],
  ];

  it.each(allowed)('accepts %s → %s', async (from, action, to) => {
    const id = await inState(from as 'DRAFT');
    const result = await mutations[action](id, organizerA.accessToken);
    expect(result.errors).toBeUndefined();
    expect((await stored(id))?.status ?? null).toBe(to);
  });

  it.each(forbidden)(
    'refuses %s → %s with INVALID_STATE_TRANSITION, changing nothing',
    async (from, action) => {
      const id = await inState(from as 'DRAFT');
      const before = await stored(id);
      const outboxBefore = (await outboxFor(id)).length;
      const result = await mutations[action](id, organizerA.accessToken);
      expect(result.errors?.[0]?.extensions).toMatchObject({
        code: 'INVALID_STATE_TRANSITION',
        status: from,
        action,
      });
      expect(await stored(id)).toEqual(before);
      expect((await outboxFor(id)).length).toBe(outboxBefore);
    },
  );

  it('publishes only events that start in the future', async () => {
    const past = await createEvent(organizerA.accessToken, { startsAt: inDays(-1), endsAt: null });
    const result = await mutations.publish(past.id, organizerA.accessToken);
    expect(codeOf(result)).toBe('EVENT_IN_PAST');
    expect((await stored(past.id))?.status).toBe('DRAFT');
  });
});

describe('validation', () => {
  it.each([
    ['an empty title', { title: '  ' }, 'input.title'],
    ['a title over 200 characters', { title: 't'.repeat(201) }, 'input.title'],
    ['an end before the start', { startsAt: inDays(10), endsAt: inDays(9) }, 'input.endsAt'],
    ['an unknown time zone', { timezone: 'Mars/Olympus_Mons' }, 'input.timezone'],
    ['an offset instead of a time zone', { timezone: '+02:00' }, 'input.timezone'],
    ['an empty venue', { venue: '' }, 'input.venue'],
  ])(
    'rejects %s with BAD_USER_INPUT naming the field, and writes nothing',
    async (_, change, field) => {
      const before = await supergraph.databases.events.event.count();
      const result = await supergraph.request(
        createMutation,
        { input: validInput(change) },
        { token: organizerA.accessToken },
      );
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(await supergraph.databases.events.event.count()).toBe(before);
    },
  );

  it('rejects an update that would end the event before it starts, and keeps the event', async () => {
    const event = await createEvent(organizerA.accessToken);
    const before = await stored(event.id);
    const result = await mutations.update(event.id, organizerA.accessToken, { endsAt: inDays(1) });
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.endsAt',
    });
    expect(await stored(event.id)).toEqual(before);
  });
});

describe('cancellation', () => {
  it('reaches the tickets service within seconds: its event stops selling', async () => {
    const event = await createEvent(organizerA.accessToken);
    await supergraph.databases.tickets.ticketTier.create({
      data: { eventId: event.id, name: 'GA', priceCents: 2000, currency: 'EUR', capacity: 50 },
    });
    const available = async () =>
      (
        await supergraph.request<{ event: { ticketsAvailable: number } }>(
          'query ($id: ID!) { event(id: $id) { ticketsAvailable } }',
          { id: event.id },
          { token: organizerA.accessToken },
        )
      ).data?.event.ticketsAvailable;
    const waitFor = async (expected: number) => {
      const started = Date.now();
      while (Date.now() - started < 5_000) {
        if ((await available()) === expected) return Date.now() - started;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`ticketsAvailable did not become ${expected} within 5 s`);
    };

    expect(await available()).toBe(0); // a draft is not on sale
    await mutations.publish(event.id, organizerA.accessToken);
    await waitFor(50);
    await mutations.cancel(event.id, organizerA.accessToken, 'Headliner ill');
    await waitFor(0);

    const snapshot = await supergraph.databases.tickets.eventSnapshot.findUniqueOrThrow({
      where: { eventId: event.id },
    });
    expect(snapshot).toMatchObject({ status: 'CANCELLED', version: 3 });
    const messages = await outboxFor(event.id);
    expect(messages.map((message) => message.topic)).toEqual([
      'event.published',
      'event.cancelled',
    ]);
    expect(messages.every((message) => message.deliveredAt instanceof Date)).toBe(true);
  });

  it('is not held up by a change ahead of it that the tickets service cannot apply', async () => {
    const event = await createEvent(organizerA.accessToken);
    await mutations.publish(event.id, organizerA.accessToken);
    const snapshot = () =>
      supergraph.databases.tickets.eventSnapshot.findUnique({ where: { eventId: event.id } });
    const reaches = async (status: string) => {
      const started = Date.now();
      while (Date.now() - started < 15_000) {
        if ((await snapshot())?.status === status) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`the tickets service did not learn of ${status} within 15 s`);
    };
    await reaches('PUBLISHED');
    // Ahead of the cancellation: a change the tickets service does not understand (a newer
    // events service's, or a damaged row), and one whose payload is not a snapshot at all.
    const poison = await Promise.all([
      supergraph.databases.events.outboxMessage.create({
        data: {
          topic: 'event.postponed',
          eventId: event.id,
          payload: {
            eventId: event.id,
            status: 'POSTPONED',
            startsAt: inDays(40),
            endsAt: null,
            version: 99,
          },
        },
      }),
      supergraph.databases.events.outboxMessage.create({
        data: { topic: 'event.updated', eventId: event.id, payload: 'not a snapshot' },
      }),
    ]);
    await mutations.cancel(event.id, organizerA.accessToken, 'Venue flooded');
    await reaches('CANCELLED');
    const cancellation = (await outboxFor(event.id)).find(
      (message) => message.topic === 'event.cancelled',
    );
    expect(cancellation?.deliveredAt).toBeInstanceOf(Date);
    // Nothing is lost: the refused changes stay in the outbox, undelivered, tried again.
    for (const message of poison) {
      const kept = await supergraph.databases.events.outboxMessage.findUniqueOrThrow({
        where: { sequence: message.sequence },
      });
      expect(kept.deliveredAt).toBeNull();
      expect(kept.attempts).toBeGreaterThan(0);
    }
    // An operator sees them: at error level in the log, and counted in the events service's metrics.
    const metrics = await (await fetch(new URL('/metrics', supergraph.subgraphUrls.events))).text();
    expect(
      Number(/^outbox_messages_refused_total (\d+)/m.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(2);
    // The refused ones are out of the way of later deliveries, not gone: delete them so
    // that the rest of this file's changes are not slowed by their retries.
    await supergraph.databases.events.outboxMessage.deleteMany({
      where: { sequence: { in: poison.map((message) => message.sequence) } },
    });
  });

  it('refuses deliveries that are not signed with the relay secret', async () => {
    const url = new URL('/internal/event-changes', supergraph.subgraphUrls.tickets);
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-relay-timestamp': String(Date.now()),
        'x-relay-signature': 'ab'.repeat(32),
      },
      body: JSON.stringify({ messages: [] }),
    });
    expect(response.status).toBe(401);
  });
});

describe('an event that is over', () => {
  it('cannot be cancelled, which would refund every ticket of it', async () => {
    const event = await createEvent(organizerA.accessToken);
    expect((await mutations.publish(event.id, organizerA.accessToken)).errors).toBeUndefined();
    await supergraph.databases.events.event.update({
      where: { id: event.id },
      data: { startsAt: new Date(Date.now() - 2 * day), endsAt: new Date(Date.now() - day) },
    });
    const result = await mutations.cancel(event.id, organizerA.accessToken, 'Too late');
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'EVENT_ENDED' });
    expect(await stored(event.id)).toMatchObject({ status: 'PUBLISHED', cancelledAt: null });
    expect((await outboxFor(event.id)).map((message) => message.topic)).toEqual([
      'event.published',
    ]);
  });

  it('without an end is over once it has started', async () => {
    const event = await createEvent(organizerA.accessToken, { endsAt: null });
    expect((await mutations.publish(event.id, organizerA.accessToken)).errors).toBeUndefined();
    await supergraph.databases.events.event.update({
      where: { id: event.id },
      data: { startsAt: new Date(Date.now() - 60_000) },
    });
    const result = await mutations.cancel(event.id, organizerA.accessToken);
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'EVENT_ENDED' });
    expect(await stored(event.id)).toMatchObject({ status: 'PUBLISHED' });
  });

  it('is not made of one under way by an edit of its end, after which it could not be cancelled', async () => {
    const event = await createEvent(organizerA.accessToken);
    expect((await mutations.publish(event.id, organizerA.accessToken)).errors).toBeUndefined();
    // Under way: started an hour ago, ending in a day.
    const [startsAt, endsAt] = [new Date(Date.now() - day / 24), new Date(Date.now() + day)];
    await supergraph.databases.events.event.update({
      where: { id: event.id },
      data: { startsAt, endsAt },
    });
    const before = await stored(event.id);
    for (const input of [
      { endsAt: new Date(Date.now() - 60_000).toISOString() },
      { endsAt: null },
      { endsAt: null, title: 'Over at once' },
    ]) {
      const result = await mutations.update(event.id, organizerA.accessToken, input);
      expect(result.errors?.[0]?.extensions, JSON.stringify(input)).toEqual({
        code: 'EVENT_IN_PAST',
        field: 'input.endsAt',
      });
      expect(await stored(event.id)).toEqual(before);
    }
    // Its end moved later, and its title, are still fine; and it can still be called off.
    const later = await mutations.update(event.id, organizerA.accessToken, {
      endsAt: inDays(2),
      title: 'Runs late',
    });
    expect(later.errors).toBeUndefined();
    const cancelled = await mutations.cancel(event.id, organizerA.accessToken, 'Storm');
    expect(cancelled.data?.cancelEvent).toMatchObject({ status: 'CANCELLED' });
  });
});

describe('an event id written in capitals (RFC 9562: the same UUID)', () => {
  it('names the same event wherever an id is an argument', async () => {
    const event = await createEvent(organizerA.accessToken);
    const id = event.id.toUpperCase();
    const read = await supergraph.request<{ event: { id: string } | null }>(
      'query ($id: ID!) { event(id: $id) { id } }',
      { id },
      { token: organizerA.accessToken },
    );
    expect(read.data?.event).toEqual({ id: event.id });
    const updated = await mutations.update(id, organizerA.accessToken, { title: 'Capitals' });
    expect(updated.data?.updateEvent).toMatchObject({ id: event.id, title: 'Capitals' });
    const published = await mutations.publish(id, organizerA.accessToken);
    expect(published.data?.publishEvent).toMatchObject({ id: event.id, status: 'PUBLISHED' });
    const cancelled = await mutations.cancel(id, organizerA.accessToken);
    expect(cancelled.data?.cancelEvent).toMatchObject({ id: event.id, status: 'CANCELLED' });
    const draft = await createEvent(organizerA.accessToken);
    const deleted = await mutations.delete(draft.id.toUpperCase(), organizerA.accessToken);
    expect(deleted.data?.deleteEvent).toBe(true);
    expect(await stored(draft.id)).toBeNull();
  });
});

describe('two changes of an event’s times at once', () => {
  it('leave it ending after it starts: the second to write is BAD_USER_INPUT on its field, and writes nothing', async () => {
    const event = await createEvent(organizerA.accessToken, {
      startsAt: inDays(30),
      endsAt: inDays(31),
    });
    const { events } = supergraph.databases;
    const waitingWrites = async () => {
      const [{ waiting }] = await events.$queryRaw<[{ waiting: number }]>`
        SELECT count(*)::int AS waiting FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'
          AND (query ILIKE 'UPDATE%events%' OR query ILIKE 'SELECT 1 FROM events%FOR UPDATE')`;
      return waiting;
    };
    // Each change is fine against the event as read: a later start, an earlier end. With the
    // row locked, both read it, pass their checks and wait to write; then both write.
    // Handed out in an object: returned as it is, the transaction would wait for it.
    const { sent } = await events.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT id FROM events WHERE id = ${event.id}::uuid FOR UPDATE`;
        const sent = Promise.all([
          mutations.update(event.id, organizerA.accessToken, { startsAt: inDays(30.8) }),
          mutations.update(event.id, organizerA.accessToken, { endsAt: inDays(30.4) }),
        ]);
        await expect.poll(waitingWrites, { timeout: 30_000, interval: 50 }).toBe(2);
        return { sent };
      },
      { timeout: 60_000 },
    );
    const answers = await sent;
    const refused = answers.filter((answer) => answer.errors);
    expect(refused, JSON.stringify(answers)).toHaveLength(1);
    const field = refused[0] === answers[0] ? 'input.startsAt' : 'input.endsAt';
    expect(refused[0]?.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    const stored = await events.event.findUniqueOrThrow({ where: { id: event.id } });
    expect(stored.endsAt?.getTime()).toBeGreaterThan(stored.startsAt.getTime());
    const written = answers.find((answer) => !answer.errors)?.data?.updateEvent as unknown as {
      startsAt: string;
      endsAt: string;
    };
    expect([stored.startsAt.toISOString(), stored.endsAt?.toISOString()]).toEqual([
      written.startsAt,
      written.endsAt,
    ]);
  });
});

describe('a delivery to the tickets service’s /internal/event-changes', () => {
  const deliveries = () => new URL('/internal/event-changes', supergraph.subgraphUrls.tickets);
  const secret = relaySecret({ NODE_ENV: 'test' });

  /**
   * Sends a delivery's head, declaring a body of 64 KiB, and its first bytes only; resolves
   * to the status line of the answer, or undefined when none came within `waitMs`: the
   * service is reading the body.
   */
  async function answerBeforeBody(
    headers: Record<string, string>,
    waitMs = 2_000,
    declared = 64 * 1024,
  ) {
    const url = deliveries();
    const socket = connect(Number(url.port), url.hostname);
    await once(socket, 'connect');
    const head = [
      `POST ${url.pathname} HTTP/1.1`,
      `host: ${url.host}`,
      'content-type: application/json',
      `content-length: ${declared}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    socket.write(`${head.join('\r\n')}\r\n\r\n{"messages":[`);
    try {
      const [chunk] = await once(socket, 'data', { signal: AbortSignal.timeout(waitMs) });
      return (chunk as Buffer).toString('utf8').split('\r\n')[0];
    } catch {
      return undefined;
    } finally {
      socket.destroy();
    }
  }

  const wellFormed = 'ab'.repeat(32);
  const now = () => String(Date.now());

  // The whole body (up to 1 MB) was read before the signature was looked for: anyone who
  // could reach the port had the service wait for, and buffer, a body it would refuse.
  it.each([
    ['no signature and no timestamp', {}],
    ['no signature', { 'x-relay-timestamp': now() }],
    ['no timestamp', { 'x-relay-signature': wellFormed }],
    [
      'a stale timestamp',
      {
        'x-relay-timestamp': String(Date.now() - maxDeliveryAgeMs - 60_000),
        'x-relay-signature': wellFormed,
      },
    ],
    [
      'a timestamp that is not a number',
      { 'x-relay-timestamp': 'soon', 'x-relay-signature': wellFormed },
    ],
    [
      'a signature that is not an HMAC-SHA256 in hex',
      { 'x-relay-timestamp': now(), 'x-relay-signature': 'zz' },
    ],
  ])('with %s is refused with 401 before its body is read', async (_, headers) => {
    expect(await answerBeforeBody(headers)).toBe('HTTP/1.1 401 Unauthorized');
  });

  it('with a fresh timestamp and a signature of the right shape has its body read, then checked', async () => {
    // What the headers alone cannot tell: the signature covers the body.
    expect(
      await answerBeforeBody({ 'x-relay-timestamp': now(), 'x-relay-signature': wellFormed }, 500),
    ).toBeUndefined();
  });

  /** POSTs `body` as a delivery, signed with the relay secret now unless `signed` is false. */
  const deliver = (body: string, signed = true) => {
    const timestamp = now();
    return fetch(deliveries(), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(signed
          ? {
              'x-relay-timestamp': timestamp,
              'x-relay-signature': signDelivery(secret, timestamp, body),
            }
          : {}),
      },
      body,
    });
  };

  it('over 1 MB is refused with 413 when signed, and with 401 when not', async () => {
    const body = JSON.stringify({ messages: [], padding: ' '.repeat(2 ** 20) });
    const signed = await deliver(body);
    expect(signed.status).toBe(413);
    expect(((await signed.json()) as { errors: unknown[] }).errors).toEqual([
      { message: 'The request body is too large.', extensions: { code: 'PAYLOAD_TOO_LARGE' } },
    ]);
    expect((await deliver(body, false)).status).toBe(401);
  });

  // A batch is some 25 KB: what the endpoint reads is bounded by that, not by the 1 MB of a
  // GraphQL request. A delivery that cannot be signed is refused before that bound is looked
  // at (401), one whose Content-Length is over it at once (413), before a byte is read.
  it('signed and fresh, declaring a body over the endpoint’s bound, is refused with 413 before it is read', async () => {
    const signedHead = { 'x-relay-timestamp': now(), 'x-relay-signature': wellFormed };
    expect(await answerBeforeBody(signedHead, 2_000, maxDeliveryBytes + 1)).toBe(
      'HTTP/1.1 413 Payload Too Large',
    );
    // Under 1 MB, which any GraphQL endpoint reads.
    expect(maxDeliveryBytes).toBeLessThan(2 ** 20 / 2);
  });

  it('signed and over the endpoint’s bound, a real change included, applies nothing', async () => {
    const eventId = randomUUID();
    const message = {
      sequence: '1',
      topic: 'event.changed',
      eventId,
      payload: {
        eventId,
        status: 'PUBLISHED',
        startsAt: new Date().toISOString(),
        endsAt: null,
        version: 1,
      },
    };
    const body = JSON.stringify({ messages: [message], padding: ' '.repeat(maxDeliveryBytes) });
    expect(body.length).toBeLessThan(2 ** 20);
    const answer = await deliver(body);
    expect(answer.status).toBe(413);
    expect(
      await supergraph.databases.tickets.eventSnapshot.findUnique({ where: { eventId } }),
    ).toBeNull();
  });

  it('signed, fresh and within the limit is applied', async () => {
    expect((await deliver(JSON.stringify({ messages: [] }))).status).toBe(204);
  });
});
