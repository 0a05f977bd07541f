// The tickets database's `offer_waitlist` function on its own (migration `waitlist`), and
// `expire_holds` passing lapsed offers on: called straight over SQL against a real
// PostgreSQL database, without the service in front of them.
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { ticketsSqlPool } from './tickets-sql.ts';

const pool = ticketsSqlPool(30);

let eventId: string;
let tierId: string;

/** A published event with a sold-out tier of `capacity`. */
async function soldOutTier(capacity: number, status = 'PUBLISHED') {
  eventId = randomUUID();
  tierId = randomUUID();
  await pool.query(
    `INSERT INTO event_snapshots (event_id, status, starts_at, version, updated_at)
     VALUES ($1, $2, now() + interval '1 day', 1, now())`,
    [eventId, status],
  );
  await pool.query(
    `INSERT INTO ticket_tiers (id, event_id, name, price_cents, currency, capacity, sold, updated_at)
     VALUES ($1, $2, 'Tier', 1500, 'EUR', $3, $3, now())`,
    [tierId, eventId, capacity],
  );
}

/** Queues `count` buyers, one after another; returns their ids in queue order. */
async function queue(count: number, { quantity = 1, cap = 4, offerSeconds = 600 } = {}) {
  const buyers: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const buyer = randomUUID();
    await pool.query(
      `INSERT INTO waitlist_entries (id, tier_id, event_id, user_id, quantity, waiting, per_user_cap, offer_seconds, updated_at)
       VALUES (gen_random_uuid(), $1, $2, $3, $4, $4, $5, $6, now())`,
      [tierId, eventId, buyer, quantity, cap, offerSeconds],
    );
    buyers.push(buyer);
  }
  return buyers;
}

/** Returns one unit to the tier and offers it, in one transaction, as a cancellation does. */
async function returnOne(): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('UPDATE ticket_tiers SET sold = sold - 1 WHERE id = $1', [tierId]);
    const { rows } = await client.query<{ offered: number }>(
      'SELECT offer_waitlist($1) AS offered',
      [tierId],
    );
    await client.query('COMMIT');
    return rows[0]?.offered ?? -1;
  } finally {
    client.release();
  }
}

/** The open offers' buyers and quantities, in queue order. */
async function offers() {
  const { rows } = await pool.query<{ user_id: string; quantity: number }>(
    `SELECT h.user_id, h.quantity FROM holds h JOIN waitlist_entries e ON e.id = h.waitlist_entry_id
     WHERE h.tier_id = $1 AND h.status = 'ACTIVE' ORDER BY e.position`,
    [tierId],
  );
  return rows.map((row) => ({ buyer: row.user_id, quantity: row.quantity }));
}

async function stock() {
  const { rows } = await pool.query('SELECT sold, held FROM ticket_tiers WHERE id = $1', [tierId]);
  return rows[0];
}

async function allowance(buyer: string) {
  const { rows } = await pool.query(
    'SELECT tickets FROM event_allowances WHERE event_id = $1 AND user_id = $2',
    [eventId, buyer],
  );
  return rows[0]?.tickets ?? 0;
}

beforeEach(async () => {
  await soldOutTier(10);
});

describe('offer_waitlist', () => {
  it('offers each of 10 units returned by 10 concurrent transactions exactly once, to the first 10 of 20 in line', async () => {
    const buyers = await queue(20);
    const offered = await Promise.all(Array.from({ length: 10 }, () => returnOne()));
    expect(offered).toEqual(Array.from({ length: 10 }, () => 1));
    expect(await offers()).toEqual(buyers.slice(0, 10).map((buyer) => ({ buyer, quantity: 1 })));
    expect(await stock()).toEqual({ sold: 0, held: 10 });
    for (const buyer of buyers.slice(0, 10)) expect(await allowance(buyer)).toBe(1);
    for (const buyer of buyers.slice(10)) expect(await allowance(buyer)).toBe(0);
  });

  it('makes an offer at the tier’s price as it offers, kept when the price changes', async () => {
    const [buyer] = await queue(1);
    await pool.query('UPDATE ticket_tiers SET price_cents = 5000 WHERE id = $1', [tierId]);
    expect(await returnOne()).toBe(1);
    await pool.query('UPDATE ticket_tiers SET price_cents = 8000 WHERE id = $1', [tierId]);
    const { rows } = await pool.query(
      'SELECT user_id, price_cents, currency FROM holds WHERE tier_id = $1',
      [tierId],
    );
    expect(rows).toEqual([{ user_id: buyer, price_cents: 5000, currency: 'EUR' }]);
  });

  it('offers nothing when no stock is free, however often it is called', async () => {
    await queue(3);
    const { rows } = await pool.query('SELECT offer_waitlist($1) AS offered', [tierId]);
    expect(rows).toEqual([{ offered: 0 }]);
    expect(await offers()).toEqual([]);
  });

  it('leaves free stock free when nobody waits, and offers nothing for an unknown tier', async () => {
    await pool.query('UPDATE ticket_tiers SET sold = 7 WHERE id = $1', [tierId]);
    const { rows } = await pool.query(
      'SELECT offer_waitlist($1) AS offered, offer_waitlist($2) AS unknown',
      [tierId, randomUUID()],
    );
    expect(rows).toEqual([{ offered: 0, unknown: 0 }]);
    expect(await stock()).toEqual({ sold: 7, held: 0 });
  });

  it.each([
    [
      'ended',
      "sales_start_at = now() - interval '2 hours', sales_end_at = now() - interval '1 hour'",
    ],
    ['not started', "sales_start_at = now() + interval '1 hour'"],
  ])(
    'offers nothing while the tier’s sales window is %s, and the queue waits on',
    async (_, window) => {
      const buyers = await queue(2);
      await pool.query(`UPDATE ticket_tiers SET ${window} WHERE id = $1`, [tierId]);
      expect(await returnOne()).toBe(0);
      expect(await offers()).toEqual([]);
      expect(await stock()).toEqual({ sold: 9, held: 0 });
      for (const buyer of buyers) expect(await allowance(buyer)).toBe(0);
      const { rows } = await pool.query(
        'SELECT status, waiting FROM waitlist_entries WHERE tier_id = $1 ORDER BY position',
        [tierId],
      );
      expect(rows).toEqual([
        { status: 'WAITING', waiting: 1 },
        { status: 'WAITING', waiting: 1 },
      ]);
    },
  );

  it('offers nothing for a cancelled event', async () => {
    await soldOutTier(2, 'CANCELLED');
    await queue(2);
    expect(await returnOne()).toBe(0);
    expect(await offers()).toEqual([]);
    expect(await stock()).toEqual({ sold: 1, held: 0 });
  });

  it('splits units over entries in order, trimming each to what is free', async () => {
    const [big, small] = await queue(2, { quantity: 3 });
    await pool.query('UPDATE ticket_tiers SET sold = 6 WHERE id = $1', [tierId]);
    const { rows } = await pool.query('SELECT offer_waitlist($1) AS offered', [tierId]);
    expect(rows).toEqual([{ offered: 4 }]);
    expect(await offers()).toEqual([
      { buyer: big, quantity: 3 },
      { buyer: small, quantity: 1 },
    ]);
    const { rows: entries } = await pool.query(
      'SELECT status::text, waiting FROM waitlist_entries WHERE tier_id = $1 ORDER BY position',
      [tierId],
    );
    expect(entries).toEqual([
      { status: 'OFFERED', waiting: 0 },
      { status: 'WAITING', waiting: 2 },
    ]);
  });

  it('skips a buyer at the cap for good, and trims one near it', async () => {
    const [atCap, nearCap, next] = await queue(3, { quantity: 2, cap: 2 });
    await pool.query(
      'INSERT INTO event_allowances (event_id, user_id, tickets) VALUES ($1, $2, 2), ($1, $3, 1)',
      [eventId, atCap, nearCap],
    );
    await pool.query('UPDATE ticket_tiers SET sold = 7 WHERE id = $1', [tierId]);
    await pool.query('SELECT offer_waitlist($1)', [tierId]);
    expect(await offers()).toEqual([
      { buyer: nearCap, quantity: 1 },
      { buyer: next, quantity: 2 },
    ]);
    expect(await allowance(atCap as string)).toBe(2);
    expect(await allowance(nearCap as string)).toBe(2);
    const { rows } = await pool.query<{ status: string }>(
      'SELECT status::text FROM waitlist_entries WHERE tier_id = $1 ORDER BY position',
      [tierId],
    );
    expect(rows.map((row) => row.status)).toEqual(['SKIPPED', 'WAITING', 'OFFERED']);
  });
});

describe('expire_holds', () => {
  it('passes a lapsed offer to the next in line, ending the lapsed entry', async () => {
    const [first, second] = await queue(2, { offerSeconds: 1 });
    await returnOne();
    await pool.query(
      `UPDATE holds SET expires_at = now() - interval '1 second' WHERE tier_id = $1`,
      [tierId],
    );
    const { rows } = await pool.query('SELECT expire_holds($1, NULL, NULL) AS returned', [tierId]);
    expect(rows).toEqual([{ returned: true }]);
    expect(await offers()).toEqual([{ buyer: second, quantity: 1 }]);
    expect(await allowance(first as string)).toBe(0);
    expect(await stock()).toEqual({ sold: 9, held: 1 });
    const { rows: entries } = await pool.query<{ status: string }>(
      'SELECT status::text FROM waitlist_entries WHERE tier_id = $1 ORDER BY position',
      [tierId],
    );
    expect(entries.map((entry) => entry.status)).toEqual(['EXPIRED', 'OFFERED']);
  });

  it('keeps a lapsed offer from a purchase while someone waits', async () => {
    await queue(2, { offerSeconds: 1 });
    await returnOne();
    await pool.query(
      `UPDATE holds SET expires_at = now() - interval '1 second' WHERE tier_id = $1`,
      [tierId],
    );
    const { rows } = await pool.query(
      `SELECT outcome FROM purchase_tickets($1, 'stranger-key', 'h', $2, 1, NULL, 4)`,
      [randomUUID(), tierId],
    );
    expect(rows).toEqual([{ outcome: 'soldOut' }]);
    expect(await stock()).toEqual({ sold: 9, held: 1 });
  });
});
