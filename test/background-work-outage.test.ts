// The services' work on a timer (the tickets service's hold sweeper, the events service's
// outbox relay) against a PostgreSQL of the test's own that refuses it for a while: gone
// read-only (25006), then its role's CONNECT revoked (42501 at connect). Each says so once
// when it starts failing, not once a tick (the sweeper runs every second), and once when it
// works again.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createLogger, outboxRelayMetrics } from '@ticketing/platform';
import { eventsDatabase } from '@ticketing/prisma/events';
import { uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../subgraphs/events/src/outbox/OutboxRelay.ts';
import { HoldSweeper } from '../subgraphs/tickets/src/HoldSweeper.ts';
import { PurchaseRepository } from '../subgraphs/tickets/src/repositories/PurchaseRepository.ts';
import { type OwnPostgres, shortDatabaseDeadlines, startOwnPostgres } from './own-servers.ts';
import { waitFor } from './sales.ts';

/** The role the background work runs as: not a superuser, whom no grant binds. */
const role = 'background_work';
const lines: { level: number; msg: string }[] = [];
const logger = createLogger('background', 'info', {
  write: (line: string) => lines.push(JSON.parse(line)),
});
const consumer = createServer((_request, response) => response.writeHead(204).end());

let postgres: OwnPostgres;
let admin: pg.Client;
let sweeper: HoldSweeper;
let relay: OutboxRelay;
let sweeps = 0;
const closing: (() => Promise<void>)[] = [];
const databaseNames: string[] = [];

/** A database of the service's on the test's server, migrated, that `role` may use. */
async function openAsRole<Database extends typeof ticketsDatabase | typeof eventsDatabase>(
  database: Database,
) {
  const url = uniqueTestDatabaseUrl(`background_${database.name}`, postgres.url);
  await (await database.open({ kind: 'postgres', url })).close();
  const owner = new pg.Client({ connectionString: url });
  await owner.connect();
  await owner.query(
    `GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${role}`,
  );
  await owner.end();
  databaseNames.push(decodeURIComponent(new URL(url).pathname.slice(1)));
  const asRole = new URL(url);
  asRole.username = role;
  const open = await database.open(
    { kind: 'postgres', url: asRole.toString(), poolSize: 2 },
    { migrate: false, deadlines: shortDatabaseDeadlines },
  );
  closing.push(() => open.close());
  return open.prisma as Awaited<ReturnType<Database['open']>>['prisma'];
}

beforeAll(async () => {
  postgres = await startOwnPostgres();
  admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query(`CREATE ROLE ${role} LOGIN`);
  consumer.listen(0, '127.0.0.1');
  await once(consumer, 'listening');
  const { port } = consumer.address() as { port: number };

  const purchases = new PurchaseRepository(
    (await openAsRole(ticketsDatabase)) as ConstructorParameters<typeof PurchaseRepository>[0],
  );
  const expireHolds = purchases.expireHolds.bind(purchases);
  purchases.expireHolds = (...args) => {
    sweeps += 1;
    return expireHolds(...args);
  };
  sweeper = new HoldSweeper(purchases, logger, 50);
  relay = new OutboxRelay(
    (await openAsRole(eventsDatabase)) as ConstructorParameters<typeof OutboxRelay>[0],
    { url: `http://127.0.0.1:${port}/internal/event-changes`, secret: 'test', intervalMs: 50 },
    logger,
  );
  sweeper.start();
  relay.start();
}, 60_000);

afterAll(async () => {
  await sweeper?.stop();
  await relay?.stop();
  await Promise.all(closing.map((close) => close()));
  consumer.close();
  await admin?.end();
  await postgres?.stop();
});

const relayFailures = async () => (await outboxRelayMetrics().failures.get()).values[0]?.value ?? 0;

/** While `refuse` is in force, the sweeper and the relay each fail several times over. */
async function failingFor(refuse: () => Promise<void>) {
  await refuse();
  const [sweepsBefore, relayBefore] = [sweeps, await relayFailures()];
  await waitFor(
    async () => sweeps >= sweepsBefore + 10 && (await relayFailures()) >= relayBefore + 4,
    'the sweeper and the relay to fail several times',
  );
}

describe('the background work against a database that refuses it', () => {
  it('says once that it fails, and once that it works again, each time', async () => {
    for (const [refuse, allow] of [
      [() => postgres.readOnly(true), () => postgres.readOnly(false)],
      [
        async () => {
          const names = databaseNames.map((name) => pg.escapeIdentifier(name)).join(', ');
          await admin.query(`REVOKE CONNECT ON DATABASE ${names} FROM PUBLIC`);
          // Each session ended, its server process gone: a signalled one still running
          // could answer the work's next statement, which would then work again in between.
          const { rows } = await admin.query<{ ended: boolean }>(
            'SELECT pg_terminate_backend(pid, 10000) AS ended FROM pg_stat_activity WHERE usename = $1',
            [role],
          );
          expect(rows.every((row) => row.ended)).toBe(true);
        },
        async () => {
          const names = databaseNames.map((name) => pg.escapeIdentifier(name)).join(', ');
          await admin.query(`GRANT CONNECT ON DATABASE ${names} TO PUBLIC`);
        },
      ],
    ] as const) {
      const before = lines.length;
      const count = (message: RegExp) =>
        lines.slice(before).filter((line) => message.test(line.msg)).length;
      await failingFor(refuse);
      expect({
        sweeperFailed: count(/could not expire holds/),
        relayFailed: count(/outbox delivery failed/),
      }).toEqual({ sweeperFailed: 1, relayFailed: 1 });
      await allow();
      await waitFor(
        async () => count(/holds expire again/) >= 1 && count(/outbox delivers again/) >= 1,
        'the sweeper and the relay to say they work again',
      );
      expect({
        sweeperFailed: count(/could not expire holds/),
        sweeperRecovered: count(/holds expire again/),
        relayFailed: count(/outbox delivery failed/),
        relayRecovered: count(/outbox delivers again/),
      }).toEqual({ sweeperFailed: 1, sweeperRecovered: 1, relayFailed: 1, relayRecovered: 1 });
    }
  }, 60_000);
});
