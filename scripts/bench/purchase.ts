// Purchases per second on one hot tier, through the whole stack (NGINX, both gateways, the
// tickets subgraph, PostgreSQL), against the raw rate of the same conditional UPDATE sent
// straight to PostgreSQL. Measured side by side in one run, alternating, because these
// machines are shared and noisy; the ratio is the figure to compare across runs.
//
//   npm run bench:purchase [-- --seconds 5 --rounds 2 --concurrency 32]
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { dropDatabase, uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { usersDatabase } from '@ticketing/prisma/users';
import pg from 'pg';
import { accessTokenFor, developmentSigningKey } from '../dev-tokens.ts';
import { freePort } from '../ports.ts';
import { startTopology } from '../topology.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '32' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);

const databaseUrls = {
  USERS_DATABASE_URL: uniqueTestDatabaseUrl('bench_users'),
  EVENTS_DATABASE_URL: uniqueTestDatabaseUrl('bench_events'),
  TICKETS_DATABASE_URL: uniqueTestDatabaseUrl('bench_tickets'),
};
const dataDir = await mkdtemp(join(tmpdir(), 'ticketing-bench-'));
const topology = await startTopology({
  publicPort: await freePort(),
  ephemeralPorts: true,
  requireNginx: true,
  runDir: join(dataDir, 'nginx'),
  env: {
    ...databaseUrls,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'error',
    NODE_ENV: 'production',
    AUTH_DEV_KEYS: 'true',
    EVENT_RELAY_SECRET: 'benchmark-relay-secret-0123456789',
    USERS_SUBGRAPH_SECRET: 'benchmark-users-subgraph-secret-0123456789',
    EVENTS_SUBGRAPH_SECRET: 'benchmark-events-subgraph-secret-0123456789',
    TICKETS_SUBGRAPH_SECRET: 'benchmark-tickets-subgraph-secret-0123456789',
    SEED_DEMO_DATA: 'false',
    MAX_TICKETS_PER_EVENT: '1000000',
  },
  output: () => {},
});

async function graphql(token: string, query: string, variables: Record<string, unknown>) {
  const response = await fetch(topology.publicUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: Record<string, { id: string }>; errors?: unknown[] };
}

/** Runs `worker` on `concurrency` lanes for `seconds`; returns completed operations per second. */
async function rate(worker: () => Promise<boolean>): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        if (await worker()) done += 1;
        else failed += 1;
      }
    }),
  );
  if (failed > 0) throw new Error(`${failed} operations failed`);
  return done / seconds;
}

const tickets = await ticketsDatabase.open(
  { kind: 'postgres', url: databaseUrls.TICKETS_DATABASE_URL },
  { migrate: false },
);
const raw = new pg.Pool({ connectionString: databaseUrls.TICKETS_DATABASE_URL, max: concurrency });
try {
  const key = await developmentSigningKey(dataDir);
  const users = await usersDatabase.open(
    { kind: 'postgres', url: databaseUrls.USERS_DATABASE_URL },
    { migrate: false },
  );
  const organizerId = randomUUID();
  const buyerIds = Array.from({ length: concurrency }, () => randomUUID());
  await users.prisma.user.createMany({
    data: [organizerId, ...buyerIds].map((id, i) => ({
      id,
      email: `bench-${i}@example.com`,
      name: `Bench ${i}`,
      role: i === 0 ? ('ORGANIZER' as const) : ('CUSTOMER' as const),
    })),
  });
  await users.close();
  const organizer = await accessTokenFor(key, organizerId, 'ORGANIZER');
  const buyers = await Promise.all(buyerIds.map((id) => accessTokenFor(key, id, 'CUSTOMER')));

  const event = await graphql(
    organizer,
    'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id } }',
    {
      input: {
        title: 'Benchmark',
        venue: 'Hall',
        city: 'Benchton',
        timezone: 'Europe/Berlin',
        startsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      },
    },
  );
  const eventId = event.data?.createEvent?.id as string;
  const tier = await graphql(
    organizer,
    'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }',
    {
      eventId,
      input: {
        name: 'Hot',
        priceCents: 1000,
        currency: 'EUR',
        capacity: 1_000_000,
        maxPerOrder: 1,
      },
    },
  );
  const tierId = tier.data?.createTicketTier?.id as string;
  await graphql(organizer, 'mutation ($id: ID!) { publishEvent(id: $id) { id } }', { id: eventId });
  while (
    (await tickets.prisma.eventSnapshot.findUnique({ where: { eventId } }))?.status !== 'PUBLISHED'
  ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // The raw side updates a row of its own, as hot as the stack's.
  const rawTier = await tickets.prisma.ticketTier.create({
    data: { eventId, name: 'Raw', priceCents: 1000, currency: 'EUR', capacity: 1_000_000_000 },
  });

  let lane = 0;
  const purchase = async () => {
    const token = buyers[lane++ % buyers.length] as string;
    const result = await graphql(
      token,
      'mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { id } }',
      { input: { tierId, quantity: 1, idempotencyKey: randomUUID() } },
    );
    return !result.errors;
  };
  const conditionalUpdate = async () => {
    const result = await raw.query(
      'UPDATE ticket_tiers SET sold = sold + 1 WHERE id = $1 AND sold + held + 1 <= capacity',
      [rawTier.id],
    );
    return result.rowCount === 1;
  };

  await rate(purchase); // warm-up: plans cached, connections open
  const stack: number[] = [];
  const direct: number[] = [];
  for (let round = 0; round < rounds; round++) {
    stack.push(await rate(purchase));
    direct.push(await rate(conditionalUpdate));
  }
  const median = (list: number[]) =>
    list.toSorted((a, b) => a - b)[Math.floor((list.length - 1) / 2)] as number;
  const sold = (await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } })).sold;
  const ticketRows = await tickets.prisma.ticket.count({ where: { tierId } });
  console.log(
    `cores: ${availableParallelism()}, concurrency: ${concurrency}, ${rounds} rounds of ${seconds} s each, alternating`,
  );
  console.log('| measure | per round (ops/s) | median (ops/s) |');
  console.log('|---|---|---|');
  console.log(
    `| purchases through NGINX + 2 gateways + tickets | ${stack.map((r) => r.toFixed(0)).join(', ')} | ${median(stack).toFixed(0)} |`,
  );
  console.log(
    `| conditional UPDATE straight on PostgreSQL | ${direct.map((r) => r.toFixed(0)).join(', ')} | ${median(direct).toFixed(0)} |`,
  );
  console.log(`| ratio (stack / raw) | | ${(median(stack) / median(direct)).toFixed(3)} |`);
  console.log(
    `consistency: tier sold ${sold}, ticket rows ${ticketRows} (${sold === ticketRows ? 'equal' : 'DIFFERENT'})`,
  );
} finally {
  await raw.end();
  await tickets.close();
  await topology.stop();
  await Promise.all(Object.values(databaseUrls).map(dropDatabase));
  await rm(dataDir, { recursive: true, force: true });
}
