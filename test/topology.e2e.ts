// The real topology, as `npm start` runs it: three subgraph processes on real PostgreSQL,
// two gateway processes, and real NGINX in front, on free ports.
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import {
  demoEvents,
  demoPassword,
  demoTickets,
  demoTicketTiers,
  demoUsers,
} from '@ticketing/prisma/demo-data';
import { serverAudits } from 'graphql-http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Topology } from '../scripts/topology.ts';
import { postGraphQL, startTestTopology, type TestTopology, testRedisUrl } from './support.ts';

let started: TestTopology;
let topology: Topology;

beforeAll(async () => {
  started = await startTestTopology('e2e', { REDIS_URL: testRedisUrl });
  topology = started.topology;
});

// The services' own logs explain a failure better than the assertion can.
afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(started.logs.join('\n'));
});

afterAll(async () => {
  await started?.stop();
});

const eventsQuery = /* GraphQL */ `
  { events(first: 5) { edges { node { title organizer { name } ticketsAvailable } } } }
`;

/** What the events query must answer on the demo data set, derived from that data set. */
function expectedDemoEvents() {
  const tiers = demoTicketTiers();
  return demoEvents()
    .toSorted((a, b) => a.startsAt.getTime() - b.startsAt.getTime())
    .slice(0, 5)
    .map((event) => {
      const eventTiers = tiers.filter((tier) => tier.eventId === event.id);
      const sold = demoTickets.filter((ticket) =>
        eventTiers.some((tier) => tier === tiers[ticket.tierIndex]),
      ).length;
      return {
        node: {
          title: event.title,
          organizer: { name: demoUsers.find((user) => user.id === event.organizerId)?.name },
          ticketsAvailable: eventTiers.reduce((sum, tier) => sum + tier.capacity, 0) - sold,
        },
      };
    });
}

describe('the topology behind NGINX', () => {
  it('answers a query across all three subgraphs on the seeded demo data', async () => {
    expect(topology.viaNginx).toBe(true);
    const result = await postGraphQL(topology.publicUrl, eventsQuery);
    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data).toEqual({ events: { edges: expectedDemoEvents() } });
    // Seeded events do sell tickets, so availability is not just the capacity.
    expect(demoTickets.length).toBeGreaterThan(0);
  });

  it('resolves a seeded ticket’s event and owner from their own subgraphs', async () => {
    const [ticket] = demoTickets;
    const tier = demoTicketTiers()[ticket.tierIndex];
    const event = demoEvents().find((candidate) => candidate.id === tier?.eventId);
    const owner = demoUsers.find((user) => user.id === ticket.ownerId);
    // Tickets are visible to their owner: log in as the demo account that owns this one.
    const login = await postGraphQL(
      topology.publicUrl,
      'mutation ($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }',
      { e: owner?.email, p: demoPassword },
    );
    const session = login.body.data?.logIn as { accessToken: string } | undefined;
    const result = await postGraphQL(
      topology.publicUrl,
      /* GraphQL */ `
        query ($id: ID!) {
          ticket(id: $id) { id tier { name } event { id title city } owner { id name } }
        }
      `,
      { id: ticket.id },
      session?.accessToken,
    );
    expect(result.body).toEqual({
      data: {
        ticket: {
          id: ticket.id,
          tier: { name: tier?.name },
          event: { id: event?.id, title: event?.title, city: event?.city },
          owner: { id: owner?.id, name: owner?.name },
        },
      },
    });
  });

  it('reports readiness with the supergraph hash and every subgraph', async () => {
    const response = await fetch(new URL('/health/ready', topology.publicUrl));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'ready',
      supergraph: expect.stringMatching(/^[0-9a-f]{16}$/),
      subgraphs: ['users', 'events', 'tickets'],
    });
  });

  it('spreads requests over both gateway instances', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => postGraphQL(topology.publicUrl, eventsQuery)),
    );
    expect(results.every((result) => result.status === 200 && !result.body.errors)).toBe(true);
    expect(new Set(results.map((result) => result.servedBy))).toEqual(
      new Set(['gateway-1', 'gateway-2']),
    );
  });

  it('serves through gateway 2 a persisted query registered through gateway 1', async () => {
    const query = `{ apq_${randomUUID().replaceAll('-', '')}: events(first: 1) { totalCount } }`;
    const persistedQuery = {
      version: 1,
      sha256Hash: createHash('sha256').update(query).digest('hex'),
    };
    const send = async (gateway: string, body: Record<string, unknown>) => {
      const url = topology.processes.get(gateway)?.url as string;
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return (await response.json()) as {
        data?: unknown;
        errors?: { extensions?: { code?: string } }[];
      };
    };

    const unknown = await send('gateway-2', { extensions: { persistedQuery } });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    const registered = await send('gateway-1', { query, extensions: { persistedQuery } });
    expect(registered.errors).toBeUndefined();
    const byHash = await send('gateway-2', { extensions: { persistedQuery } });
    expect(byHash.errors).toBeUndefined();
    expect(byHash.data).toEqual(registered.data);
  });

  it('passes the GraphQL-over-HTTP audit through NGINX, with every departure explained', async () => {
    // Each result that is not "ok", and why the endpoint answers as it does.
    const explained: Record<string, string> = {
      '5A70':
        'CSRF prevention: a GET must carry a non-simple content type or an apollo-require-preflight header, and the audit sends neither.',
      D6D5: 'CSRF prevention, as for 5A70: the GET with variables is refused with 400.',
      '6A70': 'CSRF prevention, as for 5A70.',
      '572B':
        'Apollo Server answers a document that does not parse with 400 whatever the Accept header; the spec suggests 200 only for legacy application/json clients.',
      FDE2: 'As for 572B, for a document that does not validate.',
      '7B9B': 'As for 572B, for variables that do not coerce.',
    };
    const results = await Promise.all(
      serverAudits({ url: topology.publicUrl }).map(async (audit) => ({
        audit,
        result: await audit.fn(),
      })),
    );
    const summary = ({ audit, result }: (typeof results)[number]) =>
      `${result.status} ${audit.id} ${audit.name}: ${'reason' in result ? result.reason : ''}`;
    expect(results.filter(({ result }) => result.status === 'error').map(summary)).toEqual([]);
    const departures = results.filter(({ result }) => result.status !== 'ok');
    expect(
      departures.map(({ audit }) => audit.id).sort(),
      departures.map(summary).join('\n'),
    ).toEqual(Object.keys(explained).sort());
  });

  it('keeps answering every request when one gateway is killed', async () => {
    const victim = topology.processes.get('gateway-1')?.child;
    if (!victim) throw new Error('gateway-1 is not running');
    const exited = once(victim, 'exit');
    victim.kill('SIGKILL');
    await exited;

    const sequential = [];
    for (let i = 0; i < 10; i++)
      sequential.push(await postGraphQL(topology.publicUrl, eventsQuery));
    const concurrent = await Promise.all(
      Array.from({ length: 20 }, () => postGraphQL(topology.publicUrl, eventsQuery)),
    );
    const results = [...sequential, ...concurrent];
    expect(results.map((result) => result.status)).toEqual(results.map(() => 200));
    expect(results.map((result) => result.body.errors)).toEqual(results.map(() => undefined));
    expect(new Set(results.map((result) => result.servedBy))).toEqual(new Set(['gateway-2']));
  });
});
