// `npm start` on a fresh machine without NGINX and without database URLs: embedded PGlite
// databases, migrated and seeded at start, and one gateway on the public port.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoEvents, demoPassword, demoUsers } from '@ticketing/prisma/demo-data';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTopology, type Topology } from '../scripts/topology.ts';
import { purchaseMutation } from './documents.ts';
import { freePort, postGraphQL } from './support.ts';

const logs: string[] = [];
let dataDir: string;
let publicPort: number;
let topology: Topology;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ticketing-fallback-'));
  publicPort = await freePort();
  topology = await startTopology({
    publicPort,
    ephemeralPorts: true,
    nginxBinary: null,
    env: {
      DATA_DIR: dataDir,
      USERS_DATABASE_URL: '',
      EVENTS_DATABASE_URL: '',
      TICKETS_DATABASE_URL: '',
      LOG_LEVEL: 'info',
      NODE_ENV: 'test',
    },
    output: (service, line) => logs.push(`${service} | ${line}`),
  });
});

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(logs.join('\n'));
});

afterAll(async () => {
  await topology?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('without NGINX and without database URLs', () => {
  it('says NGINX is missing and how to install it', () => {
    expect(topology.viaNginx).toBe(false);
    expect(logs.join('\n')).toMatch(/NGINX is not installed.*apt-get install nginx/);
  });

  it('serves the cross-subgraph query through one gateway on the public port', async () => {
    expect(topology.publicUrl).toBe(`http://127.0.0.1:${publicPort}/graphql`);
    expect([...topology.processes.keys()].sort()).toEqual([
      'events',
      'gateway-1',
      'tickets',
      'users',
    ]);
    const result = await postGraphQL(
      topology.publicUrl,
      '{ events(first: 5) { edges { node { title organizer { name } ticketsAvailable } } } }',
    );
    expect(result.body.errors).toBeUndefined();
    const titles = (
      result.body.data as { events: { edges: { node: { title: string } }[] } }
    ).events.edges.map((edge) => edge.node.title);
    expect(titles).toEqual(
      demoEvents()
        .toSorted((a, b) => a.startsAt.getTime() - b.startsAt.getTime())
        .slice(0, 5)
        .map((event) => event.title),
    );
  });

  it('keeps each service’s data in its own embedded database folder, migrated and seeded', async () => {
    // One folder a service, beside it the lock naming the process that has it open, and the
    // development signing key the users service generated.
    expect((await readdir(dataDir)).sort()).toEqual([
      'auth',
      'events',
      'events.lock',
      'tickets',
      'tickets.lock',
      'users',
      'users.lock',
    ]);
    expect(await readdir(join(dataDir, 'auth'))).toEqual(['signing-keys.json']);
    for (const service of ['users', 'events', 'tickets']) {
      const lock = await readFile(join(dataDir, `${service}.lock`), 'utf8');
      expect(lock).toMatch(new RegExp(`^${topology.processes.get(service)?.child.pid} `));
      expect(
        logs.some((line) => line.startsWith(`${service} |`) && line.includes('database migrated')),
      ).toBe(true);
      expect(
        logs.some(
          (line) => line.startsWith(`${service} |`) && line.includes('seeded the demo data'),
        ),
      ).toBe(true);
    }
  });

  it('sells on PGlite: purchases at once, each once, and a key sent again buys nothing more', async () => {
    const [, grace, alan] = demoUsers;
    const event = demoEvents().find((candidate) => candidate.organizerId === grace.id);
    const login = await postGraphQL(
      topology.publicUrl,
      'mutation ($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }',
      { e: alan.email, p: demoPassword },
    );
    const token = (login.body.data?.logIn as { accessToken: string } | undefined)?.accessToken;
    if (!token) throw new Error(`login failed: ${JSON.stringify(login.body.errors)}`);
    const tiers = async () => {
      const result = await postGraphQL(
        topology.publicUrl,
        'query ($id: ID!) { event(id: $id) { ticketTiers { id available onSale } } }',
        { id: event?.id },
      );
      type Tiers = { ticketTiers: { id: string; available: number; onSale: boolean }[] };
      return (result.body.data?.event as Tiers | undefined)?.ticketTiers ?? [];
    };
    const tier = (await tiers()).find((candidate) => candidate.onSale && candidate.available >= 3);
    if (!tier) throw new Error('no demo tier on sale');
    const buy = (idempotencyKey: string, quantity: number) =>
      fetch(topology.publicUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          query: purchaseMutation,
          variables: { input: { tierId: tier.id, quantity, idempotencyKey } },
        }),
      }).then(
        (response) =>
          response.json() as Promise<{
            data?: { purchaseTickets: { id: string } };
            errors?: unknown;
          }>,
      );
    // Sent together, the tier's purchases go as one group statement. The same key sent
    // again once answered buys nothing more (while the first is in flight it would be
    // IDEMPOTENCY_KEY_IN_USE, for the client to retry).
    const [first, second] = await Promise.all([
      buy('fallback-purchase-1', 1),
      buy('fallback-purchase-2', 2),
    ]);
    const again = await buy('fallback-purchase-1', 1);
    expect([first.errors, second.errors, again.errors]).toEqual([undefined, undefined, undefined]);
    expect(again.data?.purchaseTickets.id).toBe(first.data?.purchaseTickets.id);
    expect(second.data?.purchaseTickets.id).not.toBe(first.data?.purchaseTickets.id);
    const after = (await tiers()).find((candidate) => candidate.id === tier.id);
    expect(after?.available).toBe(tier.available - 3);
  });

  it('carries a cancellation to the tickets service through the outbox, on PGlite too', async () => {
    const [ada] = demoUsers;
    const event = demoEvents().find((candidate) => candidate.organizerId === ada.id);
    const login = await postGraphQL(
      topology.publicUrl,
      'mutation ($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }',
      { e: ada.email, p: demoPassword },
    );
    const session = login.body.data?.logIn as { accessToken: string } | undefined;
    if (!session) throw new Error(`login failed: ${JSON.stringify(login.body.errors)}`);
    const available = async () => {
      const result = await postGraphQL(
        topology.publicUrl,
        'query ($id: ID!) { event(id: $id) { ticketsAvailable } }',
        {
          id: event?.id,
        },
      );
      const found = result.body.data?.event as { ticketsAvailable: number } | undefined;
      return found?.ticketsAvailable;
    };
    expect(await available()).toBeGreaterThan(0);

    const cancelled = await fetch(topology.publicUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${session.accessToken}`,
      },
      body: JSON.stringify({
        query:
          'mutation ($id: ID!) { cancelEvent(id: $id, reason: "Testing the outbox") { status } }',
        variables: { id: event?.id },
      }),
    }).then((response) => response.json());
    expect(cancelled).toEqual({ data: { cancelEvent: { status: 'CANCELLED' } } });

    const started = Date.now();
    while ((await available()) !== 0) {
      if (Date.now() - started > 5_000)
        throw new Error('tickets did not hear of the cancellation in 5 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
});
