// The outbox under crashes, with the real processes: while the tickets service is down, and
// then the events service (and its relay) is killed too, cancellations pile up in the
// events database. Once both are back, every one of them reaches the tickets service.
import { once } from 'node:events';
import { demoPassword } from '@ticketing/prisma/demo-data';
import { eventsDatabase } from '@ticketing/prisma/events';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Topology } from '../scripts/topology.ts';
import { postGraphQL, startTestTopology, type TestTopology } from './support.ts';

let started: TestTopology;
let topology: Topology;
let events: Awaited<ReturnType<typeof eventsDatabase.open>>;
let tickets: Awaited<ReturnType<typeof ticketsDatabase.open>>;

beforeAll(async () => {
  started = await startTestTopology('outbox', { EVENT_RELAY_INTERVAL_MS: '100' });
  topology = started.topology;
  const { EVENTS_DATABASE_URL, TICKETS_DATABASE_URL } = started.databaseUrls;
  events = await eventsDatabase.open(
    { kind: 'postgres', url: EVENTS_DATABASE_URL },
    { migrate: false },
  );
  tickets = await ticketsDatabase.open(
    { kind: 'postgres', url: TICKETS_DATABASE_URL },
    { migrate: false },
  );
});

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(started.logs.join('\n'));
});

afterAll(async () => {
  await events?.close();
  await tickets?.close();
  await started?.stop();
});

async function kill(name: string) {
  const child = topology.processes.get(name)?.child;
  if (!child) throw new Error(`${name} is not running`);
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}

describe('event changes on their way to the tickets service', () => {
  it('are never lost when the consumer and then the relay are killed mid-way', async () => {
    const login = await postGraphQL(
      topology.publicUrl,
      'mutation ($p: String!) { logIn(email: "ada@example.com", password: $p) { accessToken } }',
      { p: demoPassword },
    );
    const session = login.body.data?.logIn as { accessToken: string } | undefined;
    if (!session) throw new Error(`login failed: ${JSON.stringify(login.body.errors)}`);
    const token = session.accessToken;
    const call = (query: string, variables: Record<string, unknown>) =>
      fetch(topology.publicUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      }).then(
        (response) =>
          response.json() as Promise<{ data?: Record<string, { id: string }>; errors?: unknown }>,
      );
    const publishedAndCancelled = async (title: string) => {
      const created = await call(
        'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id } }',
        {
          input: {
            title,
            venue: 'Hall',
            city: 'Crashtown',
            timezone: 'Europe/Berlin',
            startsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
          },
        },
      );
      const id = created.data?.createEvent?.id as string;
      expect(
        (await call('mutation ($id: ID!) { publishEvent(id: $id) { id } }', { id })).errors,
      ).toBeUndefined();
      expect(
        (await call('mutation ($id: ID!) { cancelEvent(id: $id) { id } }', { id })).errors,
      ).toBeUndefined();
      return id;
    };

    // The consumer is down: changes wait in the outbox.
    await kill('tickets');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await publishedAndCancelled(`Crash test ${i}`));

    // The relay dies too, with everything still undelivered.
    await kill('events');
    const pending = await events.prisma.outboxMessage.count({
      where: { eventId: { in: ids }, deliveredAt: null },
    });
    expect(pending).toBe(10);
    expect(await tickets.prisma.eventSnapshot.count({ where: { eventId: { in: ids } } })).toBe(0);

    await topology.restart('tickets');
    await topology.restart('events');

    const snapshots = await until(
      'delivery of every change',
      async () => {
        const found = await tickets.prisma.eventSnapshot.findMany({
          where: { eventId: { in: ids } },
        });
        return found.length === ids.length &&
          found.every((snapshot) => snapshot.status === 'CANCELLED')
          ? found
          : undefined;
      },
      45_000,
    );
    expect(snapshots.map((snapshot) => snapshot.version)).toEqual(ids.map(() => 3));
    // The relay marks a batch delivered once the tickets service has acknowledged it,
    // a moment after the snapshots commit there.
    await until(
      'every message marked delivered',
      async () =>
        (await events.prisma.outboxMessage.count({
          where: { eventId: { in: ids }, deliveredAt: null },
        })) === 0 || undefined,
      15_000,
    );

    // And the restarted services serve through NGINX again.
    const listing = await postGraphQL(topology.publicUrl, '{ events(first: 1) { totalCount } }');
    expect(listing.body.errors).toBeUndefined();
  });
});
