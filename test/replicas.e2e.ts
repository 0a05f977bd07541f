// Several replicas of everything on one machine, as Kubernetes runs them: two instances of
// each subgraph, each subgraph behind its own Service (an NGINX upstream), and three
// gateways behind a gateway Service that the public NGINX, rendered from the one template,
// sends to. What one replica does, every other must see: stock, event changes, holds, used
// gateway assertions and persisted queries live in PostgreSQL or Redis, not in a process.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { type SubgraphName, signedSubgraphHeaders, subgraphSecret } from '@ticketing/platform';
import { eventsDatabase } from '@ticketing/prisma/events';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { generateSigningKey } from '@ticketing/users-subgraph/signing-keys';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { seedPeopleWithTokens } from '../scripts/dev-tokens.ts';
import { apiClient, purchaseMutation, tierOnSale as putTierOnSale } from './sales.ts';
import { startTestTopology, type TestTopology, testRedisUrl } from './support.ts';

const replicas = { subgraphs: 2, gateways: 3 };
const gatewayNames = ['gateway-1', 'gateway-2', 'gateway-3'];
const instancesOf = (subgraph: SubgraphName) => [`${subgraph}-1`, `${subgraph}-2`];

let started: TestTopology;
let tickets: Awaited<ReturnType<typeof ticketsDatabase.open>>;
let events: Awaited<ReturnType<typeof eventsDatabase.open>>;
let organizerToken: string;
let buyers: { id: string; token: string }[];

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

interface Answer {
  status: number;
  servedBy: string | null;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
}

/**
 * One HTTP exchange on a connection of its own, closed after it: the instances asked
 * directly are stopped at the end, and an idle connection kept open by this process would
 * hold each one's drain for its whole deadline.
 */
function exchange(
  method: 'GET' | 'POST',
  url: string,
  payload = '',
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      {
        method,
        agent: false,
        timeout: 30_000,
        headers: { 'content-length': String(Buffer.byteLength(payload)), ...headers },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    request.on('timeout', () => request.destroy(new Error(`${url}: no answer within 30 s`)));
    request.on('error', reject);
    request.end(payload);
  });
}

async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await exchange('POST', url, payload, {
    'content-type': 'application/json',
    ...headers,
  });
  const servedBy = response.headers['x-served-by'];
  return {
    status: response.status,
    servedBy: typeof servedBy === 'string' ? servedBy : null,
    body: JSON.parse(response.text),
  };
}

/** An operation through the public NGINX, as a client sends it. */
const call = (token: string, query: string, variables: Record<string, unknown> = {}) =>
  post(started.topology.publicUrl, { query, variables }, { authorization: `Bearer ${token}` });

const codeOf = (answer: Answer) =>
  answer.body.errors ? (answer.body.errors[0]?.extensions?.code ?? 'UNKNOWN') : 'OK';

function codes(answers: Answer[]): Record<string, number> {
  const counted: Record<string, number> = {};
  for (const answer of answers) counted[codeOf(answer)] = (counted[codeOf(answer)] ?? 0) + 1;
  return counted;
}

/** Polls `check` until it holds, or fails after `timeoutMs`. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** The direct URL of one instance, around every Service. */
const instanceUrl = (name: string) => {
  const running = started.topology.processes.get(name);
  if (!running) throw new Error(`no instance ${name}`);
  return running.url;
};

/** How many GraphQL requests an instance has answered, from its own /metrics. */
async function requestsServed(name: string): Promise<number> {
  const { text } = await exchange('GET', new URL('/metrics', instanceUrl(name)).toString());
  return [...text.matchAll(/^graphql_requests_total\{[^}]*\} (\d+)/gm)].reduce(
    (sum, [, value]) => sum + Number(value),
    0,
  );
}

beforeAll(async () => {
  // One signing key ring for every users replica, as a Kubernetes Secret gives them.
  const key = await generateSigningKey();
  const ring = JSON.stringify({ active: key.kid, keys: [key] });
  started = await startTestTopology(
    'replicas',
    {
      AUTH_SIGNING_KEYS: ring,
      REDIS_URL: testRedisUrl,
      HOLD_SECONDS: '2',
      HOLD_SWEEP_INTERVAL_MS: '200',
      // During the restarts, four buyers buy in a loop as load, far faster than a person:
      // past any account's write budget (README, Write budget).
      ACCOUNT_WRITES_PER_SECOND: '1000000',
    },
    { replicas },
  );
  // Tokens for seeded people are signed with the same ring (scripts/dev-tokens.ts reads it
  // where a users service in development keeps its own).
  await mkdir(join(started.dir, 'auth'), { recursive: true });
  await writeFile(join(started.dir, 'auth', 'signing-keys.json'), ring, { mode: 0o600 });
  const { USERS_DATABASE_URL, EVENTS_DATABASE_URL, TICKETS_DATABASE_URL } = started.databaseUrls;
  tickets = await ticketsDatabase.open(
    { kind: 'postgres', url: TICKETS_DATABASE_URL },
    { migrate: false },
  );
  events = await eventsDatabase.open(
    { kind: 'postgres', url: EVENTS_DATABASE_URL },
    { migrate: false },
  );
  const people = await seedPeopleWithTokens({
    dataDir: started.dir,
    usersDatabaseUrl: USERS_DATABASE_URL,
    buyers: 40,
    label: 'replicas',
  });
  organizerToken = people.organizer.token;
  buyers = people.buyers;
}, 240_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(started.logs.join('\n'));
});

afterAll(async () => {
  await tickets?.close();
  await events?.close();
  await started?.stop();
});

/** A published event with one tier, on sale once the tickets service has heard of it. */
function tierOnSale(capacity: number): Promise<{ eventId: string; tierId: string }> {
  return putTierOnSale({
    call: apiClient(started.topology.publicUrl),
    tickets,
    organizerToken,
    capacity,
    title: 'Many replicas',
    timeoutMs: 30_000,
  });
}

const purchase = purchaseMutation;

describe('two replicas of each subgraph and three gateways', () => {
  it('sell exactly the capacity in a purchase storm', async () => {
    const { tierId } = await tierOnSale(60);
    const before = await Promise.all(instancesOf('tickets').map(requestsServed));
    const answers = await Promise.all(
      Array.from({ length: 240 }, (_, i) =>
        call((buyers[i % buyers.length] as { token: string }).token, purchase, {
          input: { tierId, quantity: 1, idempotencyKey: `storm-key-${i}` },
        }),
      ),
    );
    expect(codes(answers)).toEqual({ OK: 60, SOLD_OUT: 180 });
    const tier = await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
    expect({ sold: tier.sold, held: tier.held }).toEqual({ sold: 60, held: 0 });
    expect(await tickets.prisma.ticket.count({ where: { tierId } })).toBe(60);
    // Every gateway answered some, and both tickets replicas served the purchases.
    expect(new Set(answers.map((answer) => answer.servedBy))).toEqual(new Set(gatewayNames));
    const after = await Promise.all(instancesOf('tickets').map(requestsServed));
    for (const [i, name] of instancesOf('tickets').entries()) {
      expect((after[i] as number) - (before[i] as number), name).toBeGreaterThan(20);
    }
  });

  it('deliver each cancellation through the outbox once, and every tickets replica stops selling', async () => {
    const onSale = await Promise.all(Array.from({ length: 4 }, () => tierOnSale(10)));
    for (const [e, { tierId }] of onSale.entries()) {
      const bought = await Promise.all(
        Array.from({ length: 3 }, (_, i) =>
          call((buyers[e * 3 + i] as { token: string }).token, purchase, {
            input: { tierId, quantity: 1, idempotencyKey: `before-cancel-${e}-${i}` },
          }),
        ),
      );
      expect(codes(bought)).toEqual({ OK: 3 });
    }
    // Cancelled at once, through whichever gateways and events replicas NGINX picks; both
    // events replicas' relays race for the outbox.
    const cancelled = await Promise.all(
      onSale.map(({ eventId }) =>
        call(organizerToken, 'mutation ($id: ID!) { cancelEvent(id: $id) { status } }', {
          id: eventId,
        }),
      ),
    );
    expect(codes(cancelled)).toEqual({ OK: 4 });
    const eventIds = onSale.map(({ eventId }) => eventId);
    await eventually('every cancellation delivered', async () => {
      const snapshots = await tickets.prisma.eventSnapshot.findMany({
        where: { eventId: { in: eventIds } },
      });
      return snapshots.filter((snapshot) => snapshot.status === 'CANCELLED').length === 4;
    });

    // The relay marks a batch delivered once tickets has answered, a moment after it applied.
    await eventually('every message marked delivered', async () => {
      const undelivered = await events.prisma.outboxMessage.count({
        where: { eventId: { in: eventIds }, deliveredAt: null },
      });
      return undelivered === 0;
    });

    for (const { eventId, tierId } of onSale) {
      // The snapshot is at the event's own version, and each message was claimed and
      // delivered once, by one relay.
      const event = await events.prisma.event.findUniqueOrThrow({ where: { id: eventId } });
      const snapshot = await tickets.prisma.eventSnapshot.findUniqueOrThrow({
        where: { eventId },
      });
      expect(snapshot.version).toBe(event.version);
      const messages = await events.prisma.outboxMessage.findMany({
        where: { eventId },
        orderBy: { sequence: 'asc' },
      });
      expect(messages.map((message) => message.topic)).toEqual([
        'event.published',
        'event.cancelled',
      ]);
      for (const message of messages) {
        expect(message.attempts, `message ${message.sequence}`).toBe(1);
      }
      // The event's tickets were cancelled by one transaction: one timestamp for all.
      const ticketsOfEvent = await tickets.prisma.ticket.findMany({ where: { tierId } });
      expect(ticketsOfEvent.map((ticket) => ticket.status)).toEqual([
        'CANCELLED',
        'CANCELLED',
        'CANCELLED',
      ]);
      expect(new Set(ticketsOfEvent.map((ticket) => ticket.cancelledAt?.getTime())).size).toBe(1);
    }

    // Each tickets replica, asked directly, refuses to sell and shows nothing available.
    const [buyer] = buyers as [{ id: string; token: string }];
    const [{ eventId, tierId }] = onSale as [{ eventId: string; tierId: string }];
    for (const name of instancesOf('tickets')) {
      const asked = async (query: string, variables: Record<string, unknown>) => {
        const body = JSON.stringify({ query, variables });
        return post(
          instanceUrl(name),
          body,
          signedSubgraphHeaders({
            secret: subgraphSecret('tickets', { NODE_ENV: 'test' }),
            subgraph: 'tickets',
            body,
            viewer: { userId: buyer.id, role: 'CUSTOMER', sessionId: randomUUID() },
          }),
        );
      };
      const refused = await asked(purchase, {
        input: { tierId, quantity: 1, idempotencyKey: `after-cancel-${name}` },
      });
      expect(codeOf(refused), name).toBe('SALES_CLOSED');
      const available = await asked(
        'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Event { ticketsAvailable } } }',
        { r: [{ __typename: 'Event', id: eventId }] },
      );
      expect(available.body.data?._entities, name).toEqual([{ ticketsAvailable: 0 }]);
    }
  });

  it('return expired holds to stock once, with a sweeper on each tickets replica', async () => {
    const { tierId } = await tierOnSale(30);
    const held = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call(
          (buyers[i] as { token: string }).token,
          'mutation ($tierId: ID!, $quantity: Int!) { holdTickets(tierId: $tierId, quantity: $quantity) { id } }',
          { tierId, quantity: 2 },
        ),
      ),
    );
    expect(codes(held)).toEqual({ OK: 10 });
    // Holds last 2 s; both sweepers run every 200 ms.
    await eventually('the holds expired', async () => {
      const tier = await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
      return tier.held === 0;
    });
    await sleep(1_000); // a few more sweeps by each replica
    const tier = await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
    expect({ sold: tier.sold, held: tier.held }).toEqual({ sold: 0, held: 0 });
    expect(
      await tickets.prisma.hold.groupBy({ by: ['status'], where: { tierId }, _count: true }),
    ).toEqual([{ status: 'EXPIRED', _count: 10 }]);
    expect(started.logs.filter((line) => line.includes('could not expire holds'))).toEqual([]);
  });

  it('serve a persisted query registered through one gateway from the others', async () => {
    const alias = `apq${randomUUID().replaceAll('-', '')}`;
    const query = `{ ${alias}: events(first: 1) { totalCount } }`;
    const sha256Hash = createHash('sha256').update(query).digest('hex');
    const persisted = { extensions: { persistedQuery: { version: 1, sha256Hash } } };
    const unknown = await post(instanceUrl('gateway-2'), persisted);
    expect(codeOf(unknown)).toBe('PERSISTED_QUERY_NOT_FOUND');
    const registered = await post(instanceUrl('gateway-1'), { query, ...persisted });
    expect(registered.body.errors).toBeUndefined();
    expect(registered.body.data).toHaveProperty(alias);
    for (const name of ['gateway-2', 'gateway-3']) {
      const served = await post(instanceUrl(name), persisted);
      expect(served.servedBy).toBe(name);
      expect(served.body, name).toEqual({ data: registered.body.data });
    }
  });

  it('refuse a replayed assertion at every replica, also after a restart', async () => {
    const capture = (subgraph: SubgraphName) => {
      const body = JSON.stringify({ query: '{ __typename }' });
      const headers = signedSubgraphHeaders({
        secret: subgraphSecret(subgraph, { NODE_ENV: 'test' }),
        subgraph,
        body,
        viewer: null,
      });
      return { body, headers };
    };
    for (const subgraph of ['users', 'events', 'tickets'] as const) {
      const { body, headers } = capture(subgraph);
      const [first, second] = instancesOf(subgraph) as [string, string];
      expect((await post(instanceUrl(first), body, headers)).status, first).toBe(200);
      for (const name of [first, second]) {
        const replayed = await post(instanceUrl(name), body, headers);
        expect(replayed.status, name).toBe(403);
        expect(replayed.body.errors?.[0]?.message, name).toBe(
          'The gateway signature was already used.',
        );
      }
    }
    // Restarted replicas have forgotten what they accepted, and still refuse the replay
    // (well within the assertion's 30 s).
    const { body, headers } = capture('tickets');
    expect((await post(instanceUrl('tickets-1'), body, headers)).status).toBe(200);
    await Promise.all(instancesOf('tickets').map((name) => started.topology.restart(name)));
    for (const name of instancesOf('tickets')) {
      const replayed = await post(instanceUrl(name), body, headers);
      expect(replayed.status, name).toBe(403);
      expect(replayed.body.errors?.[0]?.message, name).toBe(
        'The gateway signature was issued before this service started.',
      );
    }
    // And, restarted, they serve through their Service again.
    const listed = await call(organizerToken, '{ myTickets(first: 1) { edges { node { id } } } }');
    expect(codeOf(listed)).toBe('OK');
  });
  it('fail no request while one replica of each service in turn is restarted', async () => {
    const { eventId, tierId } = await tierOnSale(1_000);
    const eventQuery =
      'query ($id: ID!) { event(id: $id) { title organizer { name } ticketsAvailable } }';
    // Eight clients, never retrying: half read across the three subgraphs, half buy.
    let running = true;
    const answers: { outcome: string; detail: string }[] = [];
    const clients = Array.from({ length: 8 }, async (_, index) => {
      const buyer = buyers[index] as { token: string };
      for (let n = 0; running; n++) {
        try {
          const answer =
            index % 2 === 0
              ? await call(buyer.token, eventQuery, { id: eventId })
              : await call(buyer.token, purchase, {
                  input: { tierId, quantity: 1, idempotencyKey: `rolling-${index}-${n}` },
                });
          answers.push({
            outcome: answer.status === 200 ? codeOf(answer) : `HTTP ${answer.status}`,
            detail: JSON.stringify(answer.body).slice(0, 200),
          });
        } catch (error) {
          answers.push({ outcome: 'TRANSPORT', detail: String(error) });
        }
      }
    });
    const timings: Record<string, { restartMs: number; backMs: number }> = {};
    try {
      for (const name of ['users-2', 'events-2', 'tickets-2', 'gateway-2']) {
        const restarting = Date.now();
        await started.topology.restart(name);
        const restarted = Date.now();
        // The next goes only once this one serves again (a Deployment waits for readiness).
        await eventually(`${name} serves again`, async () => (await requestsServed(name)) > 0);
        timings[name] = { restartMs: restarted - restarting, backMs: Date.now() - restarted };
      }
    } finally {
      running = false;
      await Promise.all(clients);
    }
    // A purchase past the per-person cap is the shop's answer, not a failure.
    const failures = answers.filter(
      (answer) => !['OK', 'PURCHASE_LIMIT_REACHED'].includes(answer.outcome),
    );
    console.info(
      `rolling restart: ${answers.length} requests, ${failures.length} failed; timings (ms) ${JSON.stringify(timings)}`,
    );
    expect(answers.length).toBeGreaterThan(100);
    expect(failures).toEqual([]);
  });
});
