// The tier rules of migration `tier_rules_in_the_database` on a database that had tiers
// before it: the rows that broke them are repaired as the migration says, the constraints
// hold from then on, and a purchase of a repaired tier is refused clearly or sold in full.
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations, ensurePostgresDatabase, openDatabase } from '../src/index.ts';
import { dropDatabase, uniqueTestDatabaseUrl } from '../testing.ts';
import { ticketsDatabase } from '../tickets/index.ts';

const rulesMigration = '20261204220000_tier_rules_in_the_database';
const url = uniqueTestDatabaseUrl('tier_rules');
const eventId = randomUUID();
const maxInt = 2 ** 31 - 1;
let client: pg.Client;
let scratch: string;
/** Tiers written before the rules: one too dear for its limit, one never on sale. */
const tooDear = randomUUID();
const inverted = randomUUID();
let applied: string[];

beforeAll(async () => {
  // Every migration before the rules', applied as a deployed database had them.
  scratch = await mkdtemp(join(tmpdir(), 'ticketing-tier-rules-'));
  const before = join(scratch, 'migrations');
  await cp(ticketsDatabase.migrationsDir, before, { recursive: true });
  const later = (await readdir(before)).filter((name) => name >= rulesMigration);
  expect(later).toContain(rulesMigration);
  await Promise.all(later.map((name) => rm(join(before, name), { recursive: true })));
  await ensurePostgresDatabase(url);
  const old = await openDatabase({ kind: 'postgres', url });
  try {
    await applyMigrations(old.adapterFactory, before);
  } finally {
    await old.close();
  }

  client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(
    `INSERT INTO event_snapshots (event_id, status, starts_at, version, updated_at)
     VALUES ($1, 'PUBLISHED', now() + interval '1 day', 1, now())`,
    [eventId],
  );
  await client.query(
    `INSERT INTO ticket_tiers (id, event_id, name, price_cents, currency, capacity, max_per_order,
                               sales_start_at, sales_end_at, updated_at)
     VALUES ($1, $3, 'Too dear', 100000000, 'EUR', 100, 50, NULL, NULL, now()),
            ($2, $3, 'Inverted', 2500, 'EUR', 100, 10,
             '2030-02-01T00:00:00Z', '2030-01-01T00:00:00Z', now())`,
    [tooDear, inverted, eventId],
  );

  const upgraded = await ticketsDatabase.open({ kind: 'postgres', url }, { migrate: true });
  applied = upgraded.appliedMigrations;
  await upgraded.close();
}, 60_000);

afterAll(async () => {
  await client?.end();
  await dropDatabase(url);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const tier = async (id: string) =>
  (
    await client.query<{ max_per_order: number; sales_start_at: Date; sales_end_at: Date }>(
      'SELECT max_per_order, sales_start_at, sales_end_at FROM ticket_tiers WHERE id = $1',
      [id],
    )
  ).rows[0];

const purchase = async (tierId: string, quantity: number) =>
  (
    await client.query<{
      outcome: string;
      tier_max_per_order: number | null;
      order_total_cents: number | null;
    }>('SELECT * FROM purchase_tickets($1, $2, $3, $4, $5, NULL, $6)', [
      randomUUID(),
      randomUUID(),
      'h',
      tierId,
      quantity,
      1_000,
    ])
  ).rows;

describe('the tier rules migration, on tiers written before it', () => {
  it('is applied on top of the earlier migrations', () => {
    expect(applied).toContain(rulesMigration);
  });

  it('lowers a tier’s limit per order to the most whose total fits an order', async () => {
    expect((await tier(tooDear))?.max_per_order).toBe(Math.floor(maxInt / 100_000_000));
  });

  it('gives a tier whose sales ended before they started the shortest window, at its end', async () => {
    const { sales_start_at, sales_end_at } = (await tier(inverted)) ?? {};
    expect(sales_end_at).toEqual(new Date('2030-01-01T00:00:00Z'));
    expect(sales_start_at).toEqual(new Date('2029-12-31T23:59:59.999Z'));
  });

  it('validates both constraints, so that every row keeps them from now on', async () => {
    const { rows } = await client.query(
      `SELECT conname, convalidated FROM pg_constraint
       WHERE conrelid = 'ticket_tiers'::regclass AND conname IN ('ticket_tiers_order_total', 'ticket_tiers_sales_window')
       ORDER BY conname`,
    );
    expect(rows).toEqual([
      { conname: 'ticket_tiers_order_total', convalidated: true },
      { conname: 'ticket_tiers_sales_window', convalidated: true },
    ]);
    await expect(
      client.query('UPDATE ticket_tiers SET max_per_order = 22 WHERE id = $1', [tooDear]),
    ).rejects.toMatchObject({ code: '23514', constraint: 'ticket_tiers_order_total' });
  });

  it('refuses a purchase of the repaired tier over its new limit, and sells one within it', async () => {
    const over = await purchase(tooDear, 50);
    expect(over).toEqual([
      expect.objectContaining({ outcome: 'orderLimitExceeded', tier_max_per_order: 21 }),
    ]);
    const within = await purchase(tooDear, 21);
    expect(within[0]).toMatchObject({ outcome: 'created', order_total_cents: 2_100_000_000 });
    expect(within).toHaveLength(21);
  });
});
