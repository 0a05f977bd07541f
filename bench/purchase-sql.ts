// `npm run bench:purchase-sql`: the purchase at the database alone, without the services in
// front of it. On a fresh tickets database, alternating rounds on one hot tier each:
//
//   raw      the conditional `UPDATE` of P4's raw side, one a statement
//   function `purchase_tickets`, one purchase a statement (the service's path)
//   grouped  `purchase_tickets` for `--group` buyers in one statement: one transaction and
//            one commit for the group, the ceiling of group commit at the database (each
//            buyer still gets an order or a refusal of their own)
//   group    `purchase_tickets_group` for `--group` buyers: what the service sends with
//            PURCHASE_GROUP_COMMIT on (one update of the tier's row for the group)
//
// It tells how much of P4's gap to the raw update is the purchase's SQL and how much the
// services and HTTP in front of it; the ratios are the figures to compare across runs.
//
//   npm run bench:purchase-sql [-- --seconds 5 --rounds 3 --lanes 32 --group 8]
import { randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createTestDatabase } from '@ticketing/prisma/testing';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import pg from 'pg';
import { alternate, median } from './load.ts';
import { fmt } from './report.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    lanes: { type: 'string', default: '32' },
    group: { type: 'string', default: '8' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const lanes = Number(values.lanes);
const group = Number(values.group);
const command = `npm run bench:purchase-sql -- --seconds ${seconds} --rounds ${rounds} --lanes ${lanes} --group ${group}`;

const database = await createTestDatabase(ticketsDatabase);
const pool = new pg.Pool({ connectionString: database.url, max: lanes });
pool.on('connect', (client) => client.on('error', () => {}));
try {
  const eventId = randomUUID();
  await pool.query(
    `INSERT INTO event_snapshots (event_id, status, starts_at, version, updated_at)
     VALUES ($1, 'PUBLISHED', now() + interval '30 days', 1, now())`,
    [eventId],
  );
  const tier = async (name: string) => {
    const id = randomUUID();
    await pool.query(
      `INSERT INTO ticket_tiers (id, event_id, name, price_cents, currency, capacity, max_per_order, updated_at)
       VALUES ($1, $2, $3, 1000, 'EUR', 1000000000, 1, now())`,
      [id, eventId, name],
    );
    return id;
  };
  const tiers = {
    raw: await tier('Raw'),
    function: await tier('Function'),
    grouped: await tier('Grouped'),
    group: await tier('Group'),
  };
  // As P4: buyers in turn, so that no buyer's allowance is one hot row of its own.
  const buyers = Array.from({ length: 32 }, () => randomUUID());
  let next = 0;
  const buyer = () => buyers[next++ % buyers.length] as string;
  const cap = 1_000_000_000;

  const statements = {
    raw: async () => {
      const result = await pool.query(
        'UPDATE ticket_tiers SET sold = sold + 1 WHERE id = $1 AND sold + held + 1 <= capacity',
        [tiers.raw],
      );
      return result.rowCount ?? 0;
    },
    function: async () => {
      const { rows } = await pool.query<{ outcome: string }>(
        'SELECT outcome FROM purchase_tickets($1, $2, $3, $4, 1, NULL, $5)',
        [buyer(), randomUUID(), 'h', tiers.function, cap],
      );
      return rows.filter((row) => row.outcome === 'created').length;
    },
    grouped: async () => {
      const who = Array.from({ length: group }, buyer);
      const keys = Array.from({ length: group }, () => randomUUID());
      const { rows } = await pool.query<{ outcome: string }>(
        `SELECT p.outcome FROM unnest($1::uuid[], $2::text[]) AS r(buyer, key),
                LATERAL purchase_tickets(r.buyer, r.key, 'h', $3, 1, NULL, $4) AS p`,
        [who, keys, tiers.grouped, cap],
      );
      return rows.filter((row) => row.outcome === 'created').length;
    },
    group: async () => {
      const { rows } = await pool.query<{ outcome: string }>(
        `SELECT (g.purchase).outcome FROM purchase_tickets_group($1, $2, $3, $4, $5, $6) g`,
        [
          tiers.group,
          Array.from({ length: group }, buyer),
          Array.from({ length: group }, () => randomUUID()),
          Array(group).fill('h'),
          Array(group).fill(1),
          cap,
        ],
      );
      return rows.filter((row) => row.outcome === 'created').length;
    },
  } as const;
  type Side = keyof typeof statements;
  // The grouped side keeps as many purchases in flight as the others: lanes ÷ group.
  const lanesOf = (side: Side) =>
    side === 'grouped' || side === 'group' ? Math.max(1, Math.round(lanes / group)) : lanes;

  const run = async (side: Side, length: number) => {
    const ends = performance.now() + length * 1000;
    let done = 0;
    await Promise.all(
      Array.from({ length: lanesOf(side) }, async () => {
        while (performance.now() < ends) {
          const sold = await statements[side]();
          done += sold;
        }
      }),
    );
    return done / length;
  };

  const sides = ['raw', 'function', 'grouped', 'group'] as const;
  for (const side of sides) await run(side, 1);
  const load = loadavg()[0] ?? 0;
  const results = await alternate(sides, rounds, (side) => run(side, seconds));
  const med = Object.fromEntries(sides.map((side) => [side, median(results[side])])) as Record<
    Side,
    number
  >;
  const counted = await pool.query<{ name: string; sold: number; tickets: number }>(
    `SELECT name, sold, (SELECT count(*)::int FROM tickets WHERE tier_id = t.id) AS tickets
     FROM ticket_tiers t WHERE event_id = $1 ORDER BY name`,
    [eventId],
  );
  console.log(`purchase at the database: ${command}`);
  console.log(
    `${new Date().toISOString()}, ${availableParallelism()} cores, Node ${process.version}, load average at start ${fmt(load)}, after ${fmt(loadavg()[0] ?? 0)}`,
  );
  for (const side of sides) {
    console.log(
      `${side.padEnd(8)} ${results[side].map((rps) => fmt(rps)).join(', ')} purchases/s (median ${fmt(med[side])}), ${lanesOf(side)} lanes; ÷ raw ${fmt(med[side] / med.raw)}`,
    );
  }
  console.log(`grouped ÷ function ${fmt(med.grouped / med.function)}`);
  console.log(`group ÷ function ${fmt(med.group / med.function)}`);
  for (const row of counted.rows) {
    if (row.name !== 'Raw' && row.sold !== row.tickets)
      throw new Error(`${row.name}: sold ${row.sold} but ${row.tickets} tickets`);
  }
  console.log(
    `sold = tickets on every purchase tier (${counted.rows.map((r) => `${r.name} ${r.sold}`).join(', ')})`,
  );
} finally {
  await pool.end();
  await database.close();
}
