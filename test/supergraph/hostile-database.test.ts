// A PostgreSQL of the test's own that is up but answers with an error: gone read-only (a
// failover to a standby not yet promoted), the role the services log in as refused at
// log-in (no longer allowed to, or its password changed), the services' sessions ended
// (57P01), every connection slot taken by another client (53300), a table missing, short
// deadlines set for the database. Each refused request is SERVICE_UNAVAILABLE at the
// field, nothing is written in part, reads go on where they can, and the services serve
// again by themselves once the server does; a missing table stops the service at its
// start instead.
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { startSubgraph } from '@ticketing/platform';
import { uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { ticketsSubgraph } from '@ticketing/tickets-subgraph/subgraph';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseMutation } from '../documents.ts';
import { type OwnPostgres, startOwnPostgres } from '../own-servers.ts';
import {
  type GraphQLResult,
  inProcessServiceSettings,
  type Supergraph,
  startSupergraph,
  subgraphsOf,
} from './harness.ts';
import {
  type AuthPayload,
  codeOf,
  createDraftEvent,
  eventChangesDelivered,
  eventOnSale,
  meQuery,
  signUp,
  snapshotReaches,
  uniqueEmail,
} from './operations.ts';

/** The role the services log in as: the tests' own clients log in as `postgres`. */
const serviceRole = 'ticketing_service';
const servicePassword = 'service password';

let postgres: OwnPostgres;
let server: pg.Client;
let supergraph: Supergraph;
let organizer: AuthPayload;
let buyer: AuthPayload;

beforeAll(async () => {
  postgres = await startOwnPostgres();
  server = new pg.Client({ connectionString: postgres.url });
  await server.connect();
  await server.query(
    `CREATE ROLE ${serviceRole} LOGIN SUPERUSER PASSWORD ${pg.escapeLiteral(servicePassword)}`,
  );
  // The services' role authenticates with its password (the server trusts everyone else).
  const { rows } = await server.query<{ hba_file: string }>('SHOW hba_file');
  const hbaFile = rows[0]?.hba_file as string;
  const rules = await readFile(hbaFile, 'utf8');
  await writeFile(hbaFile, `host all ${serviceRole} 127.0.0.1/32 scram-sha-256\n${rules}`);
  await server.query('SELECT pg_reload_conf()');
  supergraph = await startSupergraph({
    databaseServerUrl: postgres.url,
    serviceDatabaseUrl: (url) => {
      const asService = new URL(url);
      asService.username = serviceRole;
      asService.password = servicePassword;
      return asService.toString();
    },
  });
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  buyer = await signUp(supergraph);
}, 120_000);

afterAll(async () => {
  await supergraph?.stop();
  await server?.end();
  await postgres?.stop();
});

const tier = { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 10 };

function purchase(tierId: string, idempotencyKey: string, quantity = 1) {
  return supergraph.request<{ purchaseTickets: { id: string } }>(
    purchaseMutation,
    { input: { tierId, quantity, idempotencyKey } },
    { token: buyer.accessToken },
  );
}

/** The error a refused field answered with: its code and path, and nothing else. */
function refusal(result: GraphQLResult) {
  expect(result.errors).toHaveLength(1);
  const [error] = result.errors ?? [];
  return { code: error?.extensions?.code, path: error?.path, stack: error?.extensions?.stacktrace };
}

/** A tier of a new event of the organizer's, on sale. */
async function tierOnSale() {
  const {
    eventId,
    tierIds: [tierId],
  } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
  if (!tierId) throw new Error('no tier');
  return { eventId, tierId };
}

/** What a purchase the database could not take answers. */
const purchaseUnavailable = {
  code: 'SERVICE_UNAVAILABLE',
  path: ['purchaseTickets'],
  stack: undefined,
};

const databaseName = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));

/**
 * Ends every session the services (not the tests' own clients) hold in `database`, or in
 * all, and waits until each server process has exited: its connection's end is then on the
 * service's socket before the test sends anything, so the pool drops it rather than hand it
 * to the next request (which a busy machine showed, a signalled process still running).
 */
async function endServiceSessions(database?: string): Promise<void> {
  const { rows } = await server.query<{ ended: boolean }>(
    `SELECT pg_terminate_backend(pid, 10000) AS ended FROM pg_stat_activity
     WHERE usename = $1 AND ($2::text IS NULL OR datname = $2)`,
    [serviceRole, database ?? null],
  );
  expect(rows.every((row) => row.ended)).toBe(true);
}

async function ordersOf(tierId: string) {
  const { tickets } = supergraph.databases;
  const [orders, sold, tier] = await Promise.all([
    tickets.order.findMany({ where: { tickets: { some: { tierId } } } }),
    tickets.ticket.count({ where: { tierId } }),
    tickets.ticketTier.findUniqueOrThrow({ where: { id: tierId } }),
  ]);
  return { orders: orders.map((order) => order.idempotencyKey).sort(), sold, tierSold: tier.sold };
}

describe('a server gone read-only (a failover to a standby)', () => {
  it('refuses every write as SERVICE_UNAVAILABLE at its field, serves reads, and sells again once writable', async () => {
    const { tierId } = await tierOnSale();
    const before = await ordersOf(tierId);
    const key = randomUUID();

    await postgres.readOnly(true);
    try {
      const unavailable = (path: string) => ({
        code: 'SERVICE_UNAVAILABLE',
        path: [path],
        stack: undefined,
      });
      // A purchase alone, then three at once: those go to the database as one group.
      expect(refusal(await purchase(tierId, key))).toEqual(purchaseUnavailable);
      const together = await Promise.all([1, 2, 3].map(() => purchase(tierId, randomUUID())));
      for (const result of together) {
        expect(refusal(result)).toEqual(purchaseUnavailable);
      }
      // A write in each of the other services.
      expect(
        refusal(
          await supergraph.request(
            'mutation ($input: SignUpInput!) { signUp(input: $input) { accessToken } }',
            {
              input: {
                email: uniqueEmail('readonly'),
                password: 'correct horse battery staple',
                name: 'Read Only',
                accountType: 'CUSTOMER',
              },
            },
          ),
        ),
      ).toEqual(unavailable('signUp'));
      expect(refusal(await createDraftEvent(supergraph, organizer.accessToken))).toEqual(
        unavailable('createEvent'),
      );

      // Reads go on, in each service.
      const reads = await supergraph.request(
        `{ me { id } myOrders { totalCount } events(first: 5) { edges { node { id ticketTiers { id available } } } } }`,
        {},
        { token: buyer.accessToken },
      );
      expect(reads.errors).toBeUndefined();
      expect(reads.data?.me).toEqual({ id: buyer.user.id });
      expect(await ordersOf(tierId)).toEqual(before);
    } finally {
      await postgres.readOnly(false);
    }

    // Writable again: the purchase the buyer was refused goes through with its key, once.
    const again = await purchase(tierId, key);
    expect(again.errors).toBeUndefined();
    expect((await purchase(tierId, key)).data?.purchaseTickets).toEqual(
      again.data?.purchaseTickets,
    );
    const after = await ordersOf(tierId);
    expect(after.orders).toEqual([...before.orders, key].sort());
    expect(after.sold).toBe(before.sold + 1);
    expect(after.tierSold).toBe(before.tierSold + 1);
  });
});

describe('the tickets database gone read-only alone', () => {
  it('keeps an event change in the outbox until it can be applied, then applies it once', async () => {
    const { eventId, tierId } = await tierOnSale();
    const tickets = databaseName(supergraph.databaseUrls.tickets);
    await server.query(
      `ALTER DATABASE ${pg.escapeIdentifier(tickets)} SET default_transaction_read_only = on`,
    );
    // The tickets service's sessions end, as at a failover; its new ones are read-only.
    await endServiceSessions(tickets);
    try {
      expect(refusal(await purchase(tierId, randomUUID()))).toEqual(purchaseUnavailable);
      const cancelled = await supergraph.request(
        'mutation ($id: ID!) { cancelEvent(id: $id) { id status } }',
        { id: eventId },
        { token: organizer.accessToken },
      );
      expect(cancelled.errors).toBeUndefined();
      // The relay tries, and is refused: the change waits in the outbox.
      await expect(eventChangesDelivered(supergraph, 1_500)).rejects.toThrow(
        'never reached the tickets service',
      );
      expect(
        (await supergraph.databases.tickets.eventSnapshot.findUniqueOrThrow({ where: { eventId } }))
          .status,
      ).toBe('PUBLISHED');
    } finally {
      await server.query(
        `ALTER DATABASE ${pg.escapeIdentifier(tickets)} RESET default_transaction_read_only`,
      );
      await endServiceSessions(tickets);
    }
    await snapshotReaches(supergraph, eventId, 'CANCELLED', 20_000);
    expect(codeOf(await purchase(tierId, randomUUID()))).toBe('SALES_CLOSED');
  }, 40_000);
});
describe('the services’ role refused at log-in', () => {
  /** Ends the services' sessions while `refuse` is in force: what each field answers then. */
  async function whileRefused(refuse: string, allow: string) {
    await server.query(refuse);
    try {
      await endServiceSessions();
      const result = await supergraph.request(
        `{ me { id } myOrders { totalCount } }`,
        {},
        { token: buyer.accessToken },
      );
      return (result.errors ?? []).map((error) => ({
        code: error.extensions?.code,
        path: error.path,
      }));
    } finally {
      await server.query(allow);
    }
  }
  const eachFieldUnavailable = expect.arrayContaining([
    { code: 'SERVICE_UNAVAILABLE', path: ['me'] },
    { code: 'SERVICE_UNAVAILABLE', path: ['myOrders'] },
  ]);

  it('that may no longer log in (28000) is SERVICE_UNAVAILABLE at each field, until it may', async () => {
    expect(
      await whileRefused(`ALTER ROLE ${serviceRole} NOLOGIN`, `ALTER ROLE ${serviceRole} LOGIN`),
    ).toEqual(eachFieldUnavailable);
    const me = await supergraph.request(meQuery, {}, { token: buyer.accessToken });
    expect(me.errors).toBeUndefined();
  });

  it('whose password changed (28P01) is SERVICE_UNAVAILABLE at each field, until it is back', async () => {
    const setPassword = (password: string) =>
      `ALTER ROLE ${serviceRole} PASSWORD ${pg.escapeLiteral(password)}`;
    expect(await whileRefused(setPassword('rotated'), setPassword(servicePassword))).toEqual(
      eachFieldUnavailable,
    );
    const me = await supergraph.request(meQuery, {}, { token: buyer.accessToken });
    expect(me.errors).toBeUndefined();
  });

  it('whose CONNECT on its database was revoked (42501) is SERVICE_UNAVAILABLE at each field, until granted', async () => {
    // The role owns its databases; a superuser connects whatever the grants say.
    const databases = ['users', 'events', 'tickets']
      .map((name) =>
        pg.escapeIdentifier(
          databaseName(supergraph.databaseUrls[name as keyof Supergraph['databaseUrls']]),
        ),
      )
      .join(', ');
    expect(
      await whileRefused(
        `ALTER ROLE ${serviceRole} NOSUPERUSER; REVOKE CONNECT ON DATABASE ${databases} FROM PUBLIC, ${serviceRole}`,
        `GRANT CONNECT ON DATABASE ${databases} TO PUBLIC, ${serviceRole}; ALTER ROLE ${serviceRole} SUPERUSER`,
      ),
    ).toEqual(eachFieldUnavailable);
    const me = await supergraph.request(meQuery, {}, { token: buyer.accessToken });
    expect(me.errors).toBeUndefined();
  });
});

describe('a database missing a table its migrations made', () => {
  it('stops the service at its start, naming the table, rather than failing request by request', async () => {
    const url = uniqueTestDatabaseUrl('missing_table', postgres.url);
    const database = await ticketsDatabase.open({ kind: 'postgres', url, poolSize: 1 });
    // Its migration is recorded as applied, so the start's migrations do not make it again.
    await database.prisma.$executeRawUnsafe('DROP TABLE waitlist_entries CASCADE');
    await database.close();
    const starting = startSubgraph(ticketsSubgraph, {
      ...subgraphsOf(supergraph),
      ...inProcessServiceSettings(supergraph.dataDir),
      TICKETS_DATABASE_URL: url,
    });
    await expect(
      starting.then(async (started) => {
        await started.stop();
        return 'started';
      }),
    ).rejects.toThrow(/waitlist_entries/);
  });
});

describe('the service’s sessions ended by the server (57P01)', () => {
  it('in the middle of a purchase: SERVICE_UNAVAILABLE, nothing written, and its retry buys once', async () => {
    const { tierId } = await tierOnSale();
    const before = await ordersOf(tierId);
    const key = randomUUID();
    // The test's transaction holds the tier's row: the purchase waits for it, mid-transaction.
    const holder = new pg.Client({ connectionString: supergraph.databaseUrls.tickets });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM ticket_tiers WHERE id = $1 FOR UPDATE', [tierId]);
      const answer = purchase(tierId, key);
      for (const started = Date.now(); ; ) {
        await holder.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await holder.query<{ ended: boolean }>(
          `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
           WHERE usename = $1 AND wait_event_type = 'Lock'`,
          [serviceRole],
        );
        if (rows.some((row) => row.ended)) break;
        if (Date.now() - started > 10_000) throw new Error('the purchase never waited');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(refusal(await answer)).toEqual(purchaseUnavailable);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    expect(await ordersOf(tierId)).toEqual(before);
    // Every idle session too: the pool replaces what the server ended, on demand.
    await endServiceSessions();
    const retried = await purchase(tierId, key);
    expect(retried.errors).toBeUndefined();
    const after = await ordersOf(tierId);
    expect(after.orders).toEqual([...before.orders, key].sort());
    expect(after.tierSold).toBe(before.tierSold + 1);
  });
});

describe('every connection slot taken by another client (53300)', () => {
  it('is SERVICE_UNAVAILABLE for what needs a new connection, and sells again once slots free', async () => {
    const { tierId } = await tierOnSale();
    const tickets = databaseName(supergraph.databaseUrls.tickets);
    const others: pg.Client[] = [];
    /** Opens connections of another client's until the server refuses one. */
    const takeEverySlot = async () => {
      for (;;) {
        const batch = await Promise.allSettled(
          Array.from({ length: 20 }, async () => {
            const other = new pg.Client({ connectionString: postgres.url });
            other.on('error', () => {});
            await other.connect();
            return other;
          }),
        );
        let refused = false;
        for (const opened of batch) {
          if (opened.status === 'fulfilled') others.push(opened.value);
          else if ((opened.reason as { code?: string }).code === '53300') refused = true;
          else throw opened.reason;
        }
        if (refused) return;
      }
    };
    try {
      // The tickets service's sessions end, and the slots they leave are taken too.
      for (const started = Date.now(); ; ) {
        await takeEverySlot();
        const { rows } = await server.query<{ sessions: number }>(
          `SELECT count(*)::int AS sessions FROM pg_stat_activity WHERE usename = $1 AND datname = $2`,
          [serviceRole, tickets],
        );
        if (rows[0]?.sessions === 0) break;
        await endServiceSessions(tickets);
        if (Date.now() - started > 20_000) throw new Error('the slots were never all taken');
      }
      expect(refusal(await purchase(tierId, randomUUID()))).toEqual(purchaseUnavailable);
    } finally {
      await Promise.all(others.map((other) => other.end().catch(() => {})));
    }
    const bought = await purchase(tierId, randomUUID());
    expect(bought.errors).toBeUndefined();
  }, 40_000);
});

describe('deadlines the server sets for the database, shorter than the services’', () => {
  it('do not bind the services, which set their own on each connection', async () => {
    const { tierId } = await tierOnSale();
    const tickets = pg.escapeIdentifier(databaseName(supergraph.databaseUrls.tickets));
    const settings = ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout'];
    for (const setting of settings) {
      await server.query(`ALTER DATABASE ${tickets} SET ${setting} = '1ms'`);
    }
    try {
      // A session that sets none of its own is bound by them.
      const plain = new pg.Client({ connectionString: supergraph.databaseUrls.tickets });
      await plain.connect();
      await expect(plain.query('SELECT pg_sleep(0.05)')).rejects.toMatchObject({ code: '57014' });
      await plain.end();
      await endServiceSessions();
      const bought = await purchase(tierId, randomUUID());
      expect(bought.errors).toBeUndefined();
    } finally {
      for (const setting of settings)
        await server.query(`ALTER DATABASE ${tickets} RESET ${setting}`);
    }
  });
});
