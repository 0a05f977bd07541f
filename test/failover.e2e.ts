// The edge while gateway instances die, through the real topology: NGINX, two gateway
// processes and three subgraphs on PostgreSQL, under a steady load of concurrent clients.
//
// - A gateway killed with SIGKILL loses the requests it was answering (NGINX does not send
//   a POST elsewhere once sent), but a client that retries with its idempotency key ends
//   up with exactly one order, and no order exists that a client does not know about.
// - The runner's restart of each gateway in turn (out of NGINX's rotation, SIGTERM, started
//   again, back in once ready) fails no request at all, while NGINX connects to the
//   gateways all the time: the clients here never retry. A gateway signalled directly
//   loses the POSTs NGINX sent on connects still in its listen backlog when it stopped
//   listening (502s with `recv() failed (104: Connection reset by peer)`), so only its
//   drain is shown here: readiness 503 on a connection it had, new connects refused, exit 0.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { ticketsDatabase } from '@ticketing/prisma/tickets';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  purchaseMutation,
  tierOnSale as putTierOnSale,
  type SaleTopology,
  startSaleTopology,
} from './sales.ts';
import type { TestTopology } from './support.ts';

const gatewayNames = ['gateway-1', 'gateway-2'] as const;

/** The rolling restart's load: clients one request after the other, and a burst's size. */
const steadyClients = 24;
const burstSize = 120;

/** Outcomes of a purchase that are the shop's answer, not a failure to get one. */
const businessOutcomes = new Set(['SOLD_OUT', 'PURCHASE_LIMIT_REACHED']);

let sale: SaleTopology;
let started: TestTopology;
let tickets: Awaited<ReturnType<typeof ticketsDatabase.open>>;
let organizerToken: string;
let buyers: { id: string; token: string }[];

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

/** One HTTP exchange through NGINX, classified. */
interface Exchange {
  startedAt: number;
  endedAt: number;
  servedBy: string | null;
  /** 'OK', a GraphQL error code, 'HTTP <status>', or 'TRANSPORT <code>'. */
  outcome: string;
  data?: Record<string, unknown> | null;
  detail?: string;
}

/**
 * How a client sends: on the connections it keeps to the edge (fetch's pool), or each
 * request on a connection of its own, as many clients of an API send them.
 */
type Connections = 'pooled' | 'own';

/** A POST to the public endpoint: the answer's status, body and serving gateway. */
async function post(
  body: string,
  token: string,
  connections: Connections,
): Promise<{ status: number; text: string; servedBy: string | null }> {
  if (connections === 'pooled') {
    const response = await fetch(started.topology.publicUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    return { status: response.status, text, servedBy: response.headers.get('x-served-by') };
  }
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      started.topology.publicUrl,
      {
        method: 'POST',
        agent: false,
        timeout: 30_000,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${token}`,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            servedBy: (response.headers['x-served-by'] as string | undefined) ?? null,
          }),
        );
      },
    );
    request.on('timeout', () => request.destroy(new Error('no answer within 30 s')));
    request.on('error', reject);
    request.end(body);
  });
}

async function exchange(
  token: string,
  query: string,
  variables: Record<string, unknown>,
  connections: Connections = 'pooled',
): Promise<Exchange> {
  const startedAt = Date.now();
  try {
    const { status, text, servedBy } = await post(
      JSON.stringify({ query, variables }),
      token,
      connections,
    );
    const base = { startedAt, endedAt: Date.now(), servedBy };
    if (status !== 200) {
      return { ...base, outcome: `HTTP ${status}`, detail: text.slice(0, 200) };
    }
    const body = JSON.parse(text) as {
      data?: Record<string, unknown> | null;
      errors?: { message: string; extensions?: { code?: string } }[];
    };
    const [error] = body.errors ?? [];
    if (error) {
      return {
        ...base,
        outcome: error.extensions?.code ?? 'UNKNOWN',
        data: body.data,
        detail: error.message,
      };
    }
    return { ...base, outcome: 'OK', data: body.data };
  } catch (error) {
    const cause = (error as { cause?: { code?: string }; code?: string }).cause ?? error;
    return {
      startedAt,
      endedAt: Date.now(),
      servedBy: null,
      outcome: `TRANSPORT ${(cause as { code?: string }).code ?? (error as Error).name}`,
      detail: String(error),
    };
  }
}

beforeAll(async () => {
  // Buyers and an organizer, with tokens signed by the users service's key.
  sale = await startSaleTopology('failover', {
    buyers: 32,
    // Each client buys again and again for the same event, one purchase after the other as
    // load, far faster than a person: past any account's write budget (README, Write budget).
    env: { MAX_TICKETS_PER_EVENT: '1000000', ACCOUNT_WRITES_PER_SECOND: '1000000' },
  });
  ({ started, tickets } = sale);
  organizerToken = sale.organizer.token;
  buyers = sale.buyers;
}, 180_000);

// The services' logs and NGINX's error log explain a failure better than the assertion.
afterEach(async ({ task }) => {
  if (task.result?.state !== 'fail') return;
  console.error(started.logs.join('\n'));
  const errorLog = await readFile(join(started.runDir, 'error.log'), 'utf8').catch(() => '');
  console.error(`nginx error.log:\n${errorLog}`);
});

afterAll(async () => {
  await sale?.stop();
});

/** A published event with one tier of `capacity`, on sale once the tickets service knows. */
function tierOnSale(capacity: number): Promise<{ eventId: string; tierId: string }> {
  return putTierOnSale({
    call: sale.call,
    tickets,
    organizerToken,
    capacity,
    title: 'The failover',
    timeoutMs: 10_000,
  });
}

const purchase = purchaseMutation;

const eventQuery = /* GraphQL */ `
  query ($id: ID!) { event(id: $id) { title organizer { name } ticketsAvailable } }
`;

/** Every exchange of a load, and a way to stop it. */
interface Load {
  exchanges: Exchange[];
  /** Tells the clients to stop after their current operation, and waits for them. */
  stop(): Promise<void>;
  /** Resolves once `gateway` has answered a request sent after `since`. */
  servedBy(gateway: string, since: number): Promise<void>;
}

/** Runs `client(i, running)` for each of `clients` concurrent clients until stopped. */
function runLoad(
  clients: number,
  client: (index: number, running: () => boolean, record: (e: Exchange) => void) => Promise<void>,
): Load {
  const exchanges: Exchange[] = [];
  const waiters: { gateway: string; since: number; wake: () => void }[] = [];
  const record = (entry: Exchange) => {
    exchanges.push(entry);
    for (const waiter of waiters.filter(
      (w) => w.gateway === entry.servedBy && entry.startedAt > w.since,
    )) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.wake();
    }
  };
  let running = true;
  const done = Promise.all(
    Array.from({ length: clients }, (_, i) => client(i, () => running, record)),
  );
  const stop = async () => {
    running = false;
    await done;
  };
  // Also when an assertion fails midway: no client outlives its test.
  onTestFinished(stop);
  return {
    exchanges,
    stop,
    servedBy(gateway, since) {
      if (exchanges.some((e) => e.servedBy === gateway && e.startedAt > since)) {
        return Promise.resolve();
      }
      return new Promise((wake, fail) => {
        const timer = setTimeout(
          () => fail(new Error(`${gateway} served nothing within 30 s`)),
          30_000,
        );
        waiters.push({
          gateway,
          since,
          wake: () => {
            clearTimeout(timer);
            wake();
          },
        });
      });
    },
  };
}

/** How often each outcome occurred. */
function tally(outcomes: string[]): Record<string, number> {
  const counted: Record<string, number> = {};
  for (const outcome of outcomes) counted[outcome] = (counted[outcome] ?? 0) + 1;
  return counted;
}

/** Which gateways answered the exchanges that `within` selects. */
function gatewaysServing(exchanges: Exchange[], within: (e: Exchange) => boolean): string[] {
  return [...new Set(exchanges.filter(within).flatMap((e) => (e.servedBy ? [e.servedBy] : [])))]
    .filter((name) => name.startsWith('gateway-'))
    .sort();
}

/** NGINX's error log, tallied by message (without time, ids and addresses). */
const nginxErrors = {
  path: () => join(started.runDir, 'error.log'),
  async offset(): Promise<number> {
    return (await readFile(this.path())).length;
  },
  async since(offset: number): Promise<Record<string, number>> {
    const text = (await readFile(this.path())).subarray(offset).toString('utf8');
    return tally(
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => line.replace(/^\S+ \S+ \[(\w+)\] \d+#\d+: \*\d+ ([^,]*),.*$/, '$1: $2')),
    );
  },
};

/** A purchase as its client saw it, through all its attempts. */
interface Intent {
  buyerId: string;
  key: string;
  quantity: number;
  attempts: Exchange[];
  /** The order the shop confirmed, or the business outcome it answered instead. */
  orderId?: string;
  refused?: string;
}

describe('the edge while gateways die', () => {
  it('loses and duplicates no confirmed purchase when a gateway is killed with SIGKILL', async () => {
    const logOffset = await nginxErrors.offset();
    const { tierId } = await tierOnSale(1_000_000);
    const intents: Intent[] = [];
    const keyDeadlineMs = 60_000;
    let awaiting = 0;

    // Each client buys, one purchase after the other, each with its own key; until the
    // shop answers (an order, or a business refusal), it sends the same key again.
    const load = runLoad(24, async (index, running, record) => {
      const buyer = buyers[index] as { id: string; token: string };
      for (let n = 0; running(); n++) {
        const intent: Intent = {
          buyerId: buyer.id,
          key: `kill-${index}-${n}-${randomUUID()}`,
          quantity: 1 + (n % 2),
          attempts: [],
        };
        intents.push(intent);
        const firstSent = Date.now();
        while (Date.now() - firstSent < keyDeadlineMs) {
          awaiting++;
          const result = await exchange(buyer.token, purchase, {
            input: { tierId, quantity: intent.quantity, idempotencyKey: intent.key },
          }).finally(() => awaiting--);
          intent.attempts.push(result);
          record(result);
          if (result.outcome === 'OK') {
            intent.orderId = (result.data?.purchaseTickets as { id: string } | undefined)?.id;
            break;
          }
          if (businessOutcomes.has(result.outcome)) {
            intent.refused = result.outcome;
            break;
          }
          // A 502, a reset connection, IDEMPOTENCY_KEY_IN_USE (the first attempt is still
          // being processed), or anything else: the answer is unknown, so ask again.
          await sleep(Math.min(25 * 2 ** intent.attempts.length, 500));
        }
      }
    });

    await Promise.all(gatewayNames.map((name) => load.servedBy(name, 0)));
    await sleep(1_500);
    // The kill must find purchases in progress at the gateway, whatever the machine's load:
    // the tier's row is held until every client waits for an answer (NGINX has spread them
    // over both gateways, least connections first), and let go once the gateway is dead.
    const rowHolder = new pg.Client({
      connectionString: started.databaseUrls.TICKETS_DATABASE_URL,
    });
    await rowHolder.connect();
    onTestFinished(() => rowHolder.end());
    await rowHolder.query('BEGIN');
    await rowHolder.query('SELECT 1 FROM ticket_tiers WHERE id = $1 FOR UPDATE', [tierId]);
    for (const deadline = Date.now() + 10_000; awaiting < 24; ) {
      if (Date.now() > deadline) throw new Error(`only ${awaiting} of 24 purchases waited`);
      await sleep(10);
    }
    await sleep(200);
    const killedAt = Date.now();
    started.topology.signal('gateway-1', 'SIGKILL');
    expect(await started.topology.waitForExit('gateway-1')).toEqual({
      code: null,
      signal: 'SIGKILL',
    });
    await rowHolder.query('ROLLBACK');
    await sleep(2_000);
    const restartedAt = Date.now();
    await started.topology.restart('gateway-1');
    await load.servedBy('gateway-1', restartedAt);
    await sleep(1_000);
    await load.stop();

    // Every purchase got a definitive answer, and every answer is the shop's.
    const unresolved = intents.filter((intent) => !intent.orderId && !intent.refused);
    expect(unresolved.map((intent) => intent.attempts.map((a) => a.outcome))).toEqual([]);
    const confirmed = intents.filter((intent) => intent.orderId);

    // The database holds exactly the orders the clients were told of: none lost, none
    // twice, none that no client knows about.
    const orders = await tickets.prisma.order.findMany({
      where: { tickets: { some: { tierId } } },
      include: { _count: { select: { tickets: true } } },
    });
    const byKey = new Map(
      orders.map((order) => [`${order.buyerId}:${order.idempotencyKey}`, order]),
    );
    expect(byKey.size).toBe(orders.length);
    expect(orders.map((order) => `${order.buyerId}:${order.idempotencyKey}`).sort()).toEqual(
      confirmed.map((intent) => `${intent.buyerId}:${intent.key}`).sort(),
    );
    for (const intent of confirmed) {
      const order = byKey.get(`${intent.buyerId}:${intent.key}`);
      expect({ id: order?.id, tickets: order?._count.tickets }).toEqual({
        id: intent.orderId,
        tickets: intent.quantity,
      });
    }
    const bought = confirmed.reduce((sum, intent) => sum + intent.quantity, 0);
    const tier = await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
    expect({ sold: tier.sold, held: tier.held }).toEqual({ sold: bought, held: 0 });
    expect(await tickets.prisma.ticket.count({ where: { tierId } })).toBe(bought);
    expect(tier.capacity - tier.sold - tier.held).toBeGreaterThanOrEqual(0);

    // The kill did cost requests (else this test proved nothing), and the gateway came back.
    const retried = confirmed.filter((intent) => intent.attempts.length > 1);
    const failedAttempts = load.exchanges.filter(
      (e) => e.outcome !== 'OK' && !businessOutcomes.has(e.outcome),
    );
    expect(failedAttempts.length).toBeGreaterThan(0);
    expect(gatewaysServing(load.exchanges, (e) => e.endedAt < killedAt)).toEqual([...gatewayNames]);
    expect(gatewaysServing(load.exchanges, (e) => e.startedAt > restartedAt)).toContain(
      'gateway-1',
    );
    // Orders placed by an attempt whose answer was lost, which a retry then returned.
    const placedBeforeLastAttempt = retried.filter((intent) => {
      const order = byKey.get(`${intent.buyerId}:${intent.key}`);
      const last = intent.attempts.at(-1) as Exchange;
      return order && order.createdAt.getTime() < last.startedAt;
    });
    console.info(
      `kill -9 under load: ${load.exchanges.length} requests, ${intents.length} purchases ` +
        `(${confirmed.length} confirmed, ${bought} tickets), ${retried.length} needed a retry ` +
        `(${placedBeforeLastAttempt.length} of them placed by an attempt whose answer was ` +
        `lost); failed attempts: ${JSON.stringify(tally(failedAttempts.map((e) => e.outcome)))}; ` +
        `nginx: ${JSON.stringify(await nginxErrors.since(logOffset))}`,
    );
  });

  it('fails no request while the runner restarts each gateway in turn', async () => {
    const logOffset = await nginxErrors.offset();
    const { eventId, tierId } = await tierOnSale(1_000_000);
    // Half the steady clients buy, half query across the three subgraphs; none ever retries.
    // Each request goes on a connection of its own: the restart reloads NGINX, whose old
    // worker closes the idle connections clients keep to it, and a request sent on one at
    // that instant fails at its client, never having reached a gateway (README, Failover and
    // restarts). One more client sends its requests in bursts, each more than NGINX keeps idle
    // connections to the gateways (64) and all at once, one burst as soon as the last has
    // been answered: NGINX connects to the gateways all the time, also at the moment one
    // of them stops listening.
    const load = runLoad(steadyClients + 1, async (index, running, record) => {
      const ask = (client: number, n: number) => {
        const buyer = buyers[client % buyers.length] as { id: string; token: string };
        return client % 2 === 0
          ? exchange(
              buyer.token,
              purchase,
              { input: { tierId, quantity: 1, idempotencyKey: `roll-${client}-${n}` } },
              'own',
            )
          : exchange(buyer.token, eventQuery, { id: eventId }, 'own');
      };
      for (let n = 0; running(); n++) {
        if (index < steadyClients) {
          record(await ask(index, n));
          continue;
        }
        const burst = await Promise.all(
          Array.from({ length: burstSize }, (_, i) => ask(steadyClients + i, n)),
        );
        for (const entry of burst) record(entry);
      }
    });
    await Promise.all(gatewayNames.map((name) => load.servedBy(name, 0)));
    await sleep(1_000);

    const timings: Record<string, { restartMs: number; backInRotationMs: number }> = {};
    const firstRestartAt = Date.now();
    let lastBackAt = 0;
    for (const name of gatewayNames) {
      const restartedAt = Date.now();
      const previousPid = started.topology.processes.get(name)?.child.pid;
      await started.topology.restart(name);
      const readyAt = Date.now();
      expect(started.topology.processes.get(name)?.child.pid).not.toBe(previousPid);
      // The next instance goes only once this one is back in NGINX's rotation.
      await load.servedBy(name, readyAt);
      lastBackAt = Date.now();
      timings[name] = { restartMs: readyAt - restartedAt, backInRotationMs: lastBackAt - readyAt };
    }
    await sleep(1_000);
    await Promise.all(gatewayNames.map((name) => load.servedBy(name, lastBackAt)));
    await load.stop();

    const failures = load.exchanges.filter((e) => e.outcome !== 'OK');
    const edgeErrors = await nginxErrors.since(logOffset);
    console.info(
      `runner's rolling restart: ${load.exchanges.length} requests, ${failures.length} failed; ` +
        `per gateway ${JSON.stringify(tally(load.exchanges.map((e) => e.servedBy ?? 'none')))}; ` +
        `timings (ms) ${JSON.stringify(timings)}; nginx: ${JSON.stringify(edgeErrors)}`,
    );
    expect(
      failures.map((e) => `${e.outcome} by ${e.servedBy}: ${e.detail}`),
      JSON.stringify(tally(failures.map((e) => e.outcome))),
    ).toEqual([]);
    expect(gatewaysServing(load.exchanges, (e) => e.endedAt < firstRestartAt)).toEqual([
      ...gatewayNames,
    ]);
    expect(gatewaysServing(load.exchanges, (e) => e.startedAt > lastBackAt)).toEqual([
      ...gatewayNames,
    ]);
    // NGINX never met a stopping gateway: not even a refused connect (retried on the other
    // gateway, but a sign that it still sent to one on its way out).
    expect(Object.keys(edgeErrors).filter((line) => line.includes('upstream'))).toEqual([]);
    // Every purchase the clients were told of was made, once.
    const bought = load.exchanges.filter((e) => e.data?.purchaseTickets).length;
    const tier = await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
    expect(tier.sold).toBe(bought);
    expect(await tickets.prisma.ticket.count({ where: { tierId } })).toBe(bought);
  });

  it('drains a gateway signalled directly with SIGTERM, and the runner starts it again', async () => {
    const name = 'gateway-1';
    const readiness = await watchReadiness(name);
    started.topology.signal(name, 'SIGTERM');
    // While it drains, the gateway reports not-ready on a connection it already had, and
    // refuses new ones.
    expect(await readiness.untilNotReady()).toEqual({
      status: 503,
      body: { status: 'draining' },
      connection: 'close',
      reusedConnection: true,
    });
    expect(await connectRefused(name)).toBe(true);
    expect(await started.topology.waitForExit(name)).toEqual({ code: 0, signal: null });
    await started.topology.restart(name);
    const readyAt = Date.now();
    const { eventId } = await tierOnSale(10);
    const load = runLoad(4, async (index, running, record) => {
      const buyer = buyers[index] as { id: string; token: string };
      while (running()) record(await exchange(buyer.token, eventQuery, { id: eventId }));
    });
    await Promise.all(gatewayNames.map((gateway) => load.servedBy(gateway, readyAt)));
    await load.stop();
    expect(load.exchanges.filter((e) => e.outcome !== 'OK')).toEqual([]);
  });
});

/**
 * Polls a gateway's readiness directly (not through NGINX) on keep-alive connections opened
 * now, as a proxy's pooled connections would be. Two of them: a request in flight when the
 * drain begins is answered (200) but takes its connection along.
 */
async function watchReadiness(name: string) {
  const { port } = new URL(started.topology.processes.get(name)?.url as string);
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  const get = () =>
    new Promise<{ status: number; body: unknown; connection: string; reusedConnection: boolean }>(
      (resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, path: '/health/ready', agent },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk) => {
              text += chunk;
            });
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                body: JSON.parse(text),
                connection: String(res.headers.connection),
                reusedConnection: req.reusedSocket,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      },
    );
  const opened = await Promise.all([get(), get()]);
  expect(opened.map((answer) => answer.status)).toEqual([200, 200]);
  return {
    /** Asks again, one request at a time, until the answer is not 200; returns it. */
    async untilNotReady() {
      try {
        for (;;) {
          const answer = await get();
          if (answer.status !== 200) return answer;
          await sleep(10);
        }
      } finally {
        agent.destroy();
      }
    },
  };
}

/** Whether a new connection to a gateway's port is refused. */
async function connectRefused(name: string): Promise<boolean> {
  const { port } = new URL(started.topology.processes.get(name)?.url as string);
  const socket = connect({ host: '127.0.0.1', port: Number(port) });
  try {
    await once(socket, 'connect');
    return false;
  } catch (error) {
    return (error as { code?: string }).code === 'ECONNREFUSED';
  } finally {
    socket.destroy();
  }
}
