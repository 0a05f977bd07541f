// The tickets database's `purchase_tickets` function on its own: called straight over SQL
// against a real PostgreSQL database, without the service in front of it.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { ticketsSqlPool } from './tickets-sql.ts';

const pool = ticketsSqlPool(40);

interface PurchaseRow {
  outcome: string;
  order_id: string | null;
  order_total_cents: number | null;
  ticket_id: string | null;
  ticket_code: string | null;
  ticket_status: string | null;
}

interface Purchase {
  buyer: string;
  key?: string;
  hash?: string;
  tier?: string | null;
  quantity?: number | null;
  hold?: string | null;
  cap?: number;
}

async function purchase(
  {
    buyer,
    key = randomUUID(),
    hash = 'h',
    tier = null,
    quantity = 1,
    hold = null,
    cap = 4,
  }: Purchase,
  client: pg.Pool | pg.PoolClient = pool,
): Promise<PurchaseRow[]> {
  const { rows } = await client.query<PurchaseRow>(
    'SELECT * FROM purchase_tickets($1, $2, $3, $4, $5, $6, $7)',
    [buyer, key, hash, tier, hold ? null : quantity, hold, cap],
  );
  return rows;
}

const outcome = async (request: Purchase) => (await purchase(request))[0]?.outcome;

let eventId: string;
let tierId: string;

async function createTier(capacity: number, event = eventId): Promise<string> {
  const id = randomUUID();
  await pool.query(
    `INSERT INTO ticket_tiers (id, event_id, name, price_cents, currency, capacity, updated_at)
     VALUES ($1, $2, 'Tier', 1500, 'EUR', $3, now())`,
    [id, event, capacity],
  );
  return id;
}

async function createEvent(status = 'PUBLISHED', startsIn = '1 day'): Promise<string> {
  const id = randomUUID();
  await pool.query(
    `INSERT INTO event_snapshots (event_id, status, starts_at, version, updated_at)
     VALUES ($1, $2, now() + $3::interval, 1, now())`,
    [id, status, startsIn],
  );
  return id;
}

async function createHold(buyer: string, tier: string, quantity: number, expiresIn = '5 minutes') {
  const id = randomUUID();
  const { rows } = await pool.query<{ event_id: string }>(
    'UPDATE ticket_tiers SET held = held + $2 WHERE id = $1 RETURNING event_id',
    [tier, quantity],
  );
  await pool.query(
    `INSERT INTO holds (id, tier_id, user_id, quantity, price_cents, currency, expires_at)
     SELECT $1, $2, $3, $4, t.price_cents, t.currency, now() + $5::interval
     FROM ticket_tiers t WHERE t.id = $2`,
    [id, tier, buyer, quantity, expiresIn],
  );
  await pool.query(
    `INSERT INTO event_allowances (event_id, user_id, tickets) VALUES ($1, $2, $3)
     ON CONFLICT (event_id, user_id) DO UPDATE SET tickets = event_allowances.tickets + $3`,
    [rows[0]?.event_id, buyer, quantity],
  );
  return id;
}

/** Everything a purchase may change, to show that a refusal changes none of it. */
async function state(tier = tierId) {
  const { rows } = await pool.query(
    `SELECT (SELECT row(sold, held)::text FROM ticket_tiers WHERE id = $1) AS stock,
            (SELECT count(*)::int FROM tickets WHERE tier_id = $1) AS tickets,
            (SELECT count(*)::int FROM orders) AS orders,
            (SELECT coalesce(json_agg(a ORDER BY user_id), '[]') FROM event_allowances a) AS allowances,
            (SELECT coalesce(json_agg(row(id, status)::text ORDER BY id), '[]') FROM holds) AS holds`,
    [tier],
  );
  return rows[0];
}

async function tierStock(tier = tierId) {
  const { rows } = await pool.query<{ sold: number; held: number }>(
    'SELECT sold, held FROM ticket_tiers WHERE id = $1',
    [tier],
  );
  return rows[0];
}

beforeEach(async () => {
  eventId = await createEvent();
  tierId = await createTier(10);
});

describe('purchase_tickets', () => {
  it('creates the order and its tickets, sells the stock and takes the allowance', async () => {
    const buyer = randomUUID();
    const rows = await purchase({ buyer, tier: tierId, quantity: 3 });

    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((row) => row.outcome))).toEqual(new Set(['created']));
    expect(new Set(rows.map((row) => row.order_id)).size).toBe(1);
    expect(rows[0]?.order_total_cents).toBe(4500);
    const ids = rows.map((row) => row.ticket_id as string);
    expect(ids).toEqual(ids.toSorted());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab]/);
    const codes = rows.map((row) => row.ticket_code as string);
    for (const code of codes) expect(code).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(codes).size).toBe(3);
    expect(await tierStock()).toEqual({ sold: 3, held: 0 });
    const { rows: allowance } = await pool.query(
      'SELECT tickets FROM event_allowances WHERE event_id = $1 AND user_id = $2',
      [eventId, buyer],
    );
    expect(allowance).toEqual([{ tickets: 3 }]);
  });

  it('answers a replay with the same order, and refuses a different request under its key', async () => {
    const buyer = randomUUID();
    const key = randomUUID();
    const first = await purchase({ buyer, key, hash: 'a', tier: tierId, quantity: 2 });
    const before = await state();

    const replay = await purchase({ buyer, key, hash: 'a', tier: tierId, quantity: 2 });
    expect(replay.map((row) => row.outcome)).toEqual(['replayed', 'replayed']);
    expect(replay.map((row) => row.ticket_id)).toEqual(first.map((row) => row.ticket_id));
    expect(await outcome({ buyer, key, hash: 'b', tier: tierId, quantity: 1 })).toBe('keyReused');
    expect(await state()).toEqual(before);
  });

  it('replays a committed order whatever the tier’s window or limit has become since', async () => {
    const buyer = randomUUID();
    const key = randomUUID();
    const first = await purchase({ buyer, key, tier: tierId, quantity: 3 });
    await pool.query('UPDATE ticket_tiers SET max_per_order = 2 WHERE id = $1', [tierId]);
    const limited = await purchase({ buyer, key, tier: tierId, quantity: 3 });
    await pool.query(
      `UPDATE ticket_tiers SET sales_start_at = now() - interval '2 hours',
                               sales_end_at = now() - interval '1 hour' WHERE id = $1`,
      [tierId],
    );
    const closed = await purchase({ buyer, key, tier: tierId, quantity: 3 });

    for (const replay of [limited, closed]) {
      expect(replay.map((row) => row.outcome)).toEqual(['replayed', 'replayed', 'replayed']);
      expect(replay.map((row) => row.ticket_id)).toEqual(first.map((row) => row.ticket_id));
    }
    expect(await outcome({ buyer, tier: tierId, quantity: 1 })).toBe('windowClosed');
    expect(await tierStock()).toEqual({ sold: 3, held: 0 });
  });

  it('tells a request whose key is in use by a purchase in flight so at once', async () => {
    const buyer = randomUUID();
    const key = randomUUID();
    const inFlight = await pool.connect();
    try {
      await inFlight.query('BEGIN');
      await inFlight.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `${buyer}:${key}`,
      ]);
      const before = await state();
      expect(await outcome({ buyer, key, tier: tierId })).toBe('keyInUse');
      expect(await state()).toEqual(before);
    } finally {
      await inFlight.query('ROLLBACK');
      inFlight.release();
    }
  });

  it('refuses past the per-person cap, and changes nothing', async () => {
    const buyer = randomUUID();
    await purchase({ buyer, tier: tierId, quantity: 3, cap: 4 });
    const before = await state();

    expect(await outcome({ buyer, tier: tierId, quantity: 2, cap: 4 })).toBe('limitReached');
    expect(await outcome({ buyer: randomUUID(), tier: tierId, quantity: 5, cap: 4 })).toBe(
      'limitReached',
    );
    expect(await state()).toEqual(before);
  });

  it('refuses more than is left, and leaves no allowance behind', async () => {
    await purchase({ buyer: randomUUID(), tier: tierId, quantity: 4, cap: 4 });
    await purchase({ buyer: randomUUID(), tier: tierId, quantity: 4, cap: 4 });
    const before = await state();

    expect(await outcome({ buyer: randomUUID(), tier: tierId, quantity: 3 })).toBe('soldOut');
    expect(await state()).toEqual(before);

    const buyer = randomUUID();
    await purchase({ buyer, tier: tierId, quantity: 1 });
    const after = await state();
    expect(await outcome({ buyer, tier: tierId, quantity: 2 })).toBe('soldOut');
    expect(await state()).toEqual(after);
  });

  it('refuses a cancelled event, a started one and one it has not heard of', async () => {
    const cancelled = await createTier(5, await createEvent('CANCELLED'));
    const started = await createTier(5, await createEvent('PUBLISHED', '-1 minute'));
    const unknown = await createTier(5, randomUUID());
    for (const tier of [cancelled, started, unknown]) {
      expect(await outcome({ buyer: randomUUID(), tier })).toBe('salesClosed');
      expect(await tierStock(tier)).toEqual({ sold: 0, held: 0 });
    }
  });

  it('buys a hold after its tier’s window closed, but not once its event has started', async () => {
    // A hold is stock reserved for its buyer until it expires: the tier's closing does not
    // take it back, as a checkout begun in time is finished. The event's start ends every sale.
    const buyer = randomUUID();
    const hold = await createHold(buyer, tierId, 2);
    await pool.query(
      `UPDATE ticket_tiers SET sales_end_at = now() - interval '1 minute', max_per_order = 1
       WHERE id = $1`,
      [tierId],
    );
    expect(await outcome({ buyer, hold })).toBe('created');

    const started = randomUUID();
    const late = await createHold(started, tierId, 1);
    await pool.query(
      `UPDATE event_snapshots SET starts_at = now() - interval '1 minute' WHERE event_id = $1`,
      [eventId],
    );
    const before = await state();
    expect(await outcome({ buyer: started, hold: late })).toBe('salesClosed');
    expect(await state()).toEqual(before);
  });

  it('refuses a tier it does not have, and changes nothing', async () => {
    const before = await state();
    expect(await outcome({ buyer: randomUUID(), tier: randomUUID() })).toBe('tierNotFound');
    expect(await state()).toEqual(before);
  });

  it('refuses outside the tier’s sales window, and says what the window is', async () => {
    const { rows } = await pool.query<{ start: Date; end: Date }>(
      `UPDATE ticket_tiers SET sales_start_at = now() + interval '1 hour' WHERE id = $1
       RETURNING sales_start_at AS start, sales_end_at AS end`,
      [tierId],
    );
    const ended = await createTier(5);
    await pool.query(
      `UPDATE ticket_tiers SET sales_start_at = now() - interval '2 hours',
                               sales_end_at = now() - interval '1 hour' WHERE id = $1`,
      [ended],
    );
    const before = await state();

    const [notYet] = await purchase({ buyer: randomUUID(), tier: tierId });
    expect(notYet).toMatchObject({
      outcome: 'windowClosed',
      tier_sales_start_at: rows[0]?.start,
      tier_sales_end_at: null,
      order_id: null,
    });
    const [over] = await purchase({ buyer: randomUUID(), tier: ended });
    expect(over?.outcome).toBe('windowClosed');
    expect(
      (over as unknown as { tier_sales_end_at: Date }).tier_sales_end_at.getTime(),
    ).toBeLessThan(Date.now());
    expect(await state()).toEqual(before);
    expect(await tierStock(ended)).toEqual({ sold: 0, held: 0 });
  });

  it('refuses more than the tier sells in one order, and says its limit', async () => {
    await pool.query('UPDATE ticket_tiers SET max_per_order = 2 WHERE id = $1', [tierId]);
    const before = await state();

    const [refused] = await purchase({ buyer: randomUUID(), tier: tierId, quantity: 3 });
    expect(refused).toMatchObject({ outcome: 'orderLimitExceeded', tier_max_per_order: 2 });
    expect(await state()).toEqual(before);
    expect(await outcome({ buyer: randomUUID(), tier: tierId, quantity: 2 })).toBe('created');
  });

  it('judges the tier’s limit and window on the row it takes the stock from', async () => {
    // The organizer's change is made but not committed when the purchase reads the tier:
    // the purchase passes its early look on the old rules, then waits for the tier's row.
    const before = await state();
    const [limited] = await whileTierChanges(
      'UPDATE ticket_tiers SET max_per_order = 2 WHERE id = $1',
      () => purchase({ buyer: randomUUID(), tier: tierId, quantity: 3 }),
    );
    expect(limited).toMatchObject({ outcome: 'orderLimitExceeded', tier_max_per_order: 2 });
    expect(await state()).toEqual(before);

    const [closed] = await whileTierChanges(
      `UPDATE ticket_tiers SET sales_start_at = now() - interval '2 hours',
                               sales_end_at = now() - interval '1 hour' WHERE id = $1`,
      () => purchase({ buyer: randomUUID(), tier: tierId, quantity: 1 }),
    );
    expect(closed).toMatchObject({ outcome: 'windowClosed', tier_sales_end_at: expect.any(Date) });
    expect(await state()).toEqual(before);
  });

  it('refuses a sale that reaches the tier’s row after its event started, and changes nothing', async () => {
    // Another sale writes the tier's row until the event has started: the purchase, its
    // group and the purchase of a hold all asked before the start, and reach the stock after.
    const pastTheStart = async () => {
      await pool.query(
        `SELECT pg_sleep(greatest(0, extract(epoch FROM starts_at - clock_timestamp())) + 0.05)
         FROM event_snapshots WHERE event_id = $1`,
        [eventId],
      );
    };
    const busyRow = 'UPDATE ticket_tiers SET updated_at = now() WHERE id = $1';
    const starting = async () => {
      eventId = await createEvent('PUBLISHED', '300 milliseconds');
      tierId = await createTier(10);
    };

    await starting();
    let before = await state();
    const [alone] = await whileTierChanges(
      busyRow,
      () => purchase({ buyer: randomUUID(), tier: tierId, quantity: 2 }),
      pastTheStart,
    );
    expect(alone?.outcome).toBe('salesClosed');
    expect(await state()).toEqual(before);

    await starting();
    before = await state();
    const members = [1, 2].map((quantity) => ({ buyer: randomUUID(), quantity }));
    const grouped = await whileTierChanges(
      busyRow,
      () => purchaseGroup(tierId, members),
      pastTheStart,
    );
    expect(outcomesOf(grouped)).toEqual(['salesClosed', 'salesClosed']);
    expect(await state()).toEqual(before);

    await starting();
    const buyer = randomUUID();
    const hold = await createHold(buyer, tierId, 2);
    before = await state();
    const [bought] = await whileTierChanges(busyRow, () => purchase({ buyer, hold }), pastTheStart);
    expect(bought?.outcome).toBe('salesClosed');
    expect(await state()).toEqual(before);
    expect(await tierStock()).toEqual({ sold: 0, held: 2 });
  });

  it('charges the price of the row it takes the stock from', async () => {
    const rows = await whileTierChanges(
      'UPDATE ticket_tiers SET price_cents = 2000 WHERE id = $1',
      () => purchase({ buyer: randomUUID(), tier: tierId, quantity: 2 }),
    );
    expect(rows.map((row) => [row.outcome, row.order_total_cents])).toEqual([
      ['created', 4000],
      ['created', 4000],
    ]);
    expect(await tierStock()).toEqual({ sold: 2, held: 0 });
  });

  it('buys a hold: its quantity moves from held to sold, its allowance stays taken', async () => {
    const buyer = randomUUID();
    const hold = await createHold(buyer, tierId, 2);

    const rows = await purchase({ buyer, hold });
    expect(rows.map((row) => row.outcome)).toEqual(['created', 'created']);
    expect(await tierStock()).toEqual({ sold: 2, held: 0 });
    const { rows: holds } = await pool.query('SELECT status FROM holds WHERE id = $1', [hold]);
    expect(holds).toEqual([{ status: 'PURCHASED' }]);
    const { rows: allowance } = await pool.query(
      'SELECT tickets FROM event_allowances WHERE event_id = $1 AND user_id = $2',
      [eventId, buyer],
    );
    expect(allowance).toEqual([{ tickets: 2 }]);
    // Bought again under another key (a second tab): answered with the order that bought it,
    // and nothing more is sold.
    const again = await purchase({ buyer, hold });
    expect(again.map((row) => [row.outcome, row.order_id, row.ticket_id])).toEqual(
      rows.map((row) => ['replayed', row.order_id, row.ticket_id]),
    );
    expect(await tierStock()).toEqual({ sold: 2, held: 0 });
  });

  it('charges a hold the price it was made at, and a purchase without one the tier’s price', async () => {
    await pool.query('UPDATE ticket_tiers SET price_cents = 5000 WHERE id = $1', [tierId]);
    const buyer = randomUUID();
    const hold = await createHold(buyer, tierId, 2);
    await pool.query('UPDATE ticket_tiers SET price_cents = 8000 WHERE id = $1', [tierId]);

    const held = await purchase({ buyer, hold });
    expect(held.map((row) => [row.outcome, row.order_total_cents])).toEqual([
      ['created', 10000],
      ['created', 10000],
    ]);
    const [unheld] = await purchase({ buyer: randomUUID(), tier: tierId, quantity: 1 });
    expect(unheld).toMatchObject({ outcome: 'created', order_total_cents: 8000 });

    const cheaper = await createHold(buyer, tierId, 1);
    await pool.query('UPDATE ticket_tiers SET price_cents = 3000 WHERE id = $1', [tierId]);
    const [kept] = await purchase({ buyer, hold: cheaper });
    expect(kept).toMatchObject({ outcome: 'created', order_total_cents: 8000 });
  });

  it('refuses someone else’s hold, and an expired one, and changes nothing', async () => {
    const buyer = randomUUID();
    const hold = await createHold(buyer, tierId, 1);
    const expired = await createHold(buyer, tierId, 1, '-1 second');
    const before = await state();

    expect(await outcome({ buyer: randomUUID(), hold })).toBe('holdNotFound');
    expect(await outcome({ buyer, hold: randomUUID() })).toBe('holdNotFound');
    expect(await outcome({ buyer, hold: expired })).toBe('holdExpired');
    expect(await state()).toEqual(before);
  });

  it('returns expired holds when they stand between a buyer and the stock or the cap', async () => {
    const holder = randomUUID();
    await createHold(holder, tierId, 4, '-1 second');
    await createHold(holder, tierId, 4, '-1 second');
    expect(await tierStock()).toEqual({ sold: 0, held: 8 });

    // The stock: 2 left unless the expired holds go back.
    expect(await outcome({ buyer: randomUUID(), tier: tierId, quantity: 3 })).toBe('created');
    expect(await tierStock()).toEqual({ sold: 3, held: 0 });
    // The cap: the holder's own expired holds gave their allowance back.
    expect(await outcome({ buyer: holder, tier: tierId, quantity: 4, cap: 4 })).toBe('created');
  });

  it('buys or expires each hold, never both, when its purchase races its expiry and the sweeper', async () => {
    // Holds lapsing within a few milliseconds of one another, each bought as it lapses, while
    // sweeps run: each hold ends bought with its tickets, or expired with its stock and
    // allowance given back, and the counts agree with the rows. The race happened only if some
    // holds were bought and some expired: a round that missed the lapses (all bought, on a fast
    // machine; all expired, on a slow one) tested nothing, and another round is run.
    let raced = false;
    for (let round = 0; round < 5 && !raced; round++) raced = await raceRound();
    expect(raced, 'a round in which some holds were bought and some expired').toBe(true);

    async function raceRound(): Promise<boolean> {
      const tier = await createTier(200);
      const holds = await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          const buyer = randomUUID();
          const hold = await createHold(buyer, tier, 2, `${300 + (i % 10) * 15} milliseconds`);
          return { buyer, hold };
        }),
      );
      let sweeping = true;
      const sweeps = (async () => {
        while (sweeping) await pool.query('SELECT expire_holds(NULL, NULL, NULL)');
      })();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const outcomes = await Promise.all(holds.map(({ buyer, hold }) => outcome({ buyer, hold })));
      sweeping = false;
      await sweeps;
      await pool.query('SELECT expire_holds(NULL, NULL, NULL)');

      expect(outcomes.every((o) => o === 'created' || o === 'holdExpired')).toBe(true);
      const { rows } = await pool.query<{
        hold: string;
        status: string;
        tickets: number;
        allowed: number;
      }>(
        `SELECT h.id::text AS hold, h.status::text AS status,
              (SELECT count(*)::int FROM tickets t WHERE t.owner_id = h.user_id) AS tickets,
              coalesce((SELECT a.tickets FROM event_allowances a
                        WHERE a.event_id = $2 AND a.user_id = h.user_id), 0) AS allowed
       FROM holds h WHERE h.id = ANY($1::uuid[])`,
        [holds.map(({ hold }) => hold), eventId],
      );
      const byHold = new Map(rows.map((row) => [row.hold, row]));
      holds.forEach(({ hold }, i) => {
        const bought = outcomes[i] === 'created';
        expect(byHold.get(hold)).toEqual({
          hold,
          status: bought ? 'PURCHASED' : 'EXPIRED',
          tickets: bought ? 2 : 0,
          allowed: bought ? 2 : 0,
        });
      });
      const created = outcomes.filter((o) => o === 'created').length;
      expect(await tierStock(tier)).toEqual({ sold: 2 * created, held: 0 });
      return created > 0 && created < holds.length;
    }
  });

  it('sells exactly the stock to many buyers at once, never more', async () => {
    const tier = await createTier(25);
    const outcomes = await Promise.all(
      Array.from({ length: 80 }, () => outcome({ buyer: randomUUID(), tier, quantity: 1 })),
    );
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(25);
    expect(outcomes.filter((o) => o === 'soldOut')).toHaveLength(55);
    const { rows } = await pool.query(
      `SELECT t.sold, (SELECT count(*)::int FROM tickets WHERE tier_id = t.id) AS tickets,
              (SELECT coalesce(sum(tickets), 0)::int FROM event_allowances WHERE event_id = t.event_id) AS allowed
       FROM ticket_tiers t WHERE t.id = $1`,
      [tier],
    );
    expect(rows).toEqual([{ sold: 25, tickets: 25, allowed: 25 }]);
  });

  it('sells one key once when its requests race', async () => {
    const buyer = randomUUID();
    const key = randomUUID();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () => outcome({ buyer, key, tier: tierId, quantity: 1 })),
    );
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
    expect(outcomes.every((o) => ['created', 'replayed', 'keyInUse'].includes(o as string))).toBe(
      true,
    );
    expect(await tierStock()).toEqual({ sold: 1, held: 0 });
  });
});

interface GroupMember {
  buyer: string;
  key?: string;
  hash?: string;
  quantity?: number;
}

/** One `purchase_tickets_group` statement; each member's outcome, in member order. */
async function purchaseGroup(tier: string, members: GroupMember[], cap = 4) {
  const keys = members.map((m) => m.key ?? randomUUID());
  const { rows } = await pool.query<PurchaseRow & { member: number }>(
    `SELECT g.member, (g.purchase).* FROM purchase_tickets_group($1, $2, $3, $4, $5, $6) g`,
    [
      tier,
      members.map((m) => m.buyer),
      keys,
      members.map((m) => m.hash ?? 'h'),
      members.map((m) => m.quantity ?? 1),
      cap,
    ],
  );
  return members.map((_, index) => rows.filter((row) => row.member === index + 1));
}

const outcomesOf = (answers: PurchaseRow[][]) => answers.map((rows) => rows[0]?.outcome);

/** Runs `work` while another transaction holds the advisory lock of `lockKey`. */
async function whileKeyInFlight<T>(lockKey: string, work: () => Promise<T>): Promise<T> {
  const other = await pool.connect();
  try {
    await other.query('BEGIN');
    await other.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey]);
    return await work();
  } finally {
    await other.query('ROLLBACK');
    other.release();
  }
}

/**
 * Runs `work` while another transaction has changed the tier's row (`change`, with the
 * tier as $1) but not committed; commits once `work` waits for that row, then returns what
 * `work` answers.
 */
async function whileTierChanges<T>(
  change: string,
  work: () => Promise<T>,
  /** Runs once the work waits for the tier's row, before the change commits. */
  beforeCommit?: () => Promise<void>,
): Promise<T> {
  const organizer = await pool.connect();
  let working: Promise<T> | undefined;
  try {
    await organizer.query('BEGIN');
    const { rows } = await organizer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await organizer.query(change, [tierId]);
    working = work();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const waiting = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
        [rows[0]?.pid],
      );
      if (waiting.rows[0]?.n) break;
      if (Date.now() > deadline) throw new Error('the purchase never waited for the tier’s row');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await beforeCommit?.();
    await organizer.query('COMMIT');
    return await working;
  } catch (error) {
    await organizer.query('ROLLBACK');
    await working?.catch(() => {});
    throw error;
  } finally {
    organizer.release();
  }
}

/** The tickets a buyer's allowance for the event counts. */
async function allowanceOf(buyer: string) {
  const { rows } = await pool.query<{ tickets: number }>(
    'SELECT tickets FROM event_allowances WHERE user_id = $1',
    [buyer],
  );
  return rows[0]?.tickets;
}

describe('purchase_tickets_group', () => {
  it('sells each member their own order, of mixed quantities, in one update of the tier', async () => {
    const members = [1, 3, 2].map((quantity) => ({ buyer: randomUUID(), quantity }));
    const answers = await purchaseGroup(tierId, members);

    expect(answers.map((rows) => rows.length)).toEqual([1, 3, 2]);
    expect(outcomesOf(answers)).toEqual(['created', 'created', 'created']);
    expect(new Set(answers.map((rows) => rows[0]?.order_id)).size).toBe(3);
    expect(answers.map((rows) => rows[0]?.order_total_cents)).toEqual([1500, 4500, 3000]);
    expect(await tierStock()).toEqual({ sold: 6, held: 0 });
    const { rows } = await pool.query(
      `SELECT o.buyer_id::text AS buyer, count(t.id)::int AS tickets, a.tickets AS allowed
       FROM orders o JOIN tickets t ON t.order_id = o.id
       JOIN event_allowances a ON a.user_id = o.buyer_id AND a.event_id = t.event_id
       WHERE t.tier_id = $1
       GROUP BY 1, 3 ORDER BY 1`,
      [tierId],
    );
    expect(rows).toEqual(
      members
        .map((m) => ({ buyer: m.buyer, tickets: m.quantity, allowed: m.quantity }))
        .sort((a, b) => a.buyer.localeCompare(b.buyer)),
    );
  });

  it('counts the same buyer twice in one group against the per-person cap', async () => {
    const buyer = randomUUID();
    const answers = await purchaseGroup(tierId, [
      { buyer, quantity: 3 },
      { buyer: randomUUID(), quantity: 1 },
      { buyer, quantity: 2 },
      { buyer, quantity: 1 },
    ]);

    expect(outcomesOf(answers)).toEqual(['created', 'created', 'limitReached', 'created']);
    expect(await tierStock()).toEqual({ sold: 5, held: 0 });
    expect(await allowanceOf(buyer)).toBe(4);
  });

  it('sells a key once when it comes twice in a group, and replays a committed one', async () => {
    const buyer = randomUUID();
    const key = randomUUID();
    const answers = await purchaseGroup(tierId, [
      { buyer, key },
      { buyer, key },
      { buyer: randomUUID() },
    ]);
    expect(outcomesOf(answers)).toEqual(['created', 'keyInUse', 'created']);
    expect(await tierStock()).toEqual({ sold: 2, held: 0 });

    const again = await purchaseGroup(tierId, [
      { buyer, key },
      { buyer, key: randomUUID(), quantity: 1 },
      { buyer, key, hash: 'other' },
    ]);
    expect(outcomesOf(again)).toEqual(['replayed', 'created', 'keyInUse']);
    expect(again[0]?.[0]?.ticket_id).toBe(answers[0]?.[0]?.ticket_id);

    const reused = await purchaseGroup(tierId, [{ buyer, key, hash: 'other' }]);
    expect(outcomesOf(reused)).toEqual(['keyReused']);
    expect(await tierStock()).toEqual({ sold: 3, held: 0 });
  });

  it('replays a member’s committed order whatever the tier’s window or limit has become since', async () => {
    const buyer = randomUUID();
    const key = randomUUID();
    const [first] = await purchaseGroup(tierId, [{ buyer, key, quantity: 3 }]);
    await pool.query('UPDATE ticket_tiers SET max_per_order = 2 WHERE id = $1', [tierId]);
    const limited = await purchaseGroup(tierId, [
      { buyer, key, quantity: 3 },
      { buyer: randomUUID(), quantity: 3 },
    ]);
    expect(outcomesOf(limited)).toEqual(['replayed', 'orderLimitExceeded']);
    expect(limited[1]?.[0]).toMatchObject({ tier_max_per_order: 2 });
    const { rows } = await pool.query<{ end: Date }>(
      `UPDATE ticket_tiers SET sales_start_at = now() - interval '2 hours',
                               sales_end_at = now() - interval '1 hour' WHERE id = $1
       RETURNING sales_end_at AS end`,
      [tierId],
    );
    const closed = await purchaseGroup(tierId, [
      { buyer, key, quantity: 3 },
      { buyer: randomUUID(), quantity: 1 },
    ]);
    expect(outcomesOf(closed)).toEqual(['replayed', 'windowClosed']);
    expect(closed[1]?.[0]).toMatchObject({ tier_sales_end_at: rows[0]?.end });
    for (const replay of [limited[0], closed[0]]) {
      expect(replay?.map((row) => row.ticket_id)).toEqual(first?.map((row) => row.ticket_id));
    }
    expect(await tierStock()).toEqual({ sold: 3, held: 0 });
  });

  it('tells a member whose key a purchase in flight holds so, and sells the others', async () => {
    const buyer = randomUUID();
    const key = randomUUID();
    const answers = await whileKeyInFlight(`${buyer}:${key}`, () =>
      purchaseGroup(tierId, [{ buyer, key }, { buyer: randomUUID() }]),
    );
    expect(outcomesOf(answers)).toEqual(['keyInUse', 'created']);
  });

  it('sells out mid-group: those that fit are sold in order, the rest refused with nothing kept', async () => {
    const tier = await createTier(5);
    const members = [2, 2, 3, 1, 1].map((quantity) => ({ buyer: randomUUID(), quantity }));
    const answers = await purchaseGroup(tier, members);

    expect(outcomesOf(answers)).toEqual(['created', 'created', 'soldOut', 'created', 'soldOut']);
    expect(await tierStock(tier)).toEqual({ sold: 5, held: 0 });
    const { rows } = await pool.query(
      `SELECT count(*)::int AS allowances, coalesce(sum(tickets), 0)::int AS tickets
       FROM event_allowances WHERE user_id = ANY($1::uuid[])`,
      [members.map((m) => m.buyer)],
    );
    expect(rows).toEqual([{ allowances: 3, tickets: 5 }]);
  });

  it('refuses every member of a cancelled event, and changes nothing', async () => {
    const tier = await createTier(5, await createEvent('CANCELLED'));
    const before = await state(tier);
    const answers = await purchaseGroup(tier, [{ buyer: randomUUID() }, { buyer: randomUUID() }]);

    expect(outcomesOf(answers)).toEqual(['salesClosed', 'salesClosed']);
    expect(await state(tier)).toEqual(before);
  });

  it('refuses a member over the limit per order or the cap alone, and sells the others', async () => {
    await pool.query('UPDATE ticket_tiers SET max_per_order = 3 WHERE id = $1', [tierId]);
    const answers = await purchaseGroup(
      tierId,
      [
        { buyer: randomUUID(), quantity: 4 },
        { buyer: randomUUID(), quantity: 3 },
        { buyer: randomUUID(), quantity: 3 },
      ],
      2,
    );
    expect(outcomesOf(answers)).toEqual(['orderLimitExceeded', 'limitReached', 'limitReached']);
    expect(answers[0]?.[0]).toMatchObject({ tier_max_per_order: 3 });

    const mixed = await purchaseGroup(tierId, [
      { buyer: randomUUID(), quantity: 4 },
      { buyer: randomUUID(), quantity: 2 },
    ]);
    expect(outcomesOf(mixed)).toEqual(['orderLimitExceeded', 'created']);
    expect(await tierStock()).toEqual({ sold: 2, held: 0 });
  });

  it('judges the tier’s rules on the row it locks, and gives a refused member’s allowance back', async () => {
    const members = [3, 2].map((quantity) => ({ buyer: randomUUID(), quantity }));
    const answers = await whileTierChanges(
      'UPDATE ticket_tiers SET max_per_order = 2 WHERE id = $1',
      () => purchaseGroup(tierId, members),
    );
    expect(outcomesOf(answers)).toEqual(['orderLimitExceeded', 'created']);
    expect(answers[0]?.[0]).toMatchObject({ tier_max_per_order: 2 });
    expect(await allowanceOf(members[0]?.buyer ?? '')).toBeUndefined();
    expect(await allowanceOf(members[1]?.buyer ?? '')).toBe(2);
    expect(await tierStock()).toEqual({ sold: 2, held: 0 });
  });

  it('sends a member whose way only expired holds block to try alone, keeping nothing of theirs', async () => {
    const tier = await createTier(4);
    await createHold(randomUUID(), tier, 3, '-1 second');
    const before = await state(tier);
    const answers = await purchaseGroup(tier, [
      { buyer: randomUUID(), quantity: 1 },
      { buyer: randomUUID(), quantity: 2 },
    ]);

    expect(outcomesOf(answers)).toEqual(['created', 'retryAlone']);
    expect(await tierStock(tier)).toEqual({ sold: 1, held: 3 });
    expect((await state(tier)).holds).toEqual(before.holds);
  });

  it('never sells more than the stock to concurrent groups and single purchases', async () => {
    const tier = await createTier(30);
    const groups = Array.from({ length: 8 }, () =>
      purchaseGroup(
        tier,
        Array.from({ length: 8 }, (_, i) => ({ buyer: randomUUID(), quantity: 1 + (i % 2) })),
      ),
    );
    const singles = Array.from({ length: 16 }, () => outcome({ buyer: randomUUID(), tier }));
    const [grouped, single] = await Promise.all([Promise.all(groups), Promise.all(singles)]);

    const sold =
      grouped
        .flat()
        .reduce((n, rows) => n + (rows[0]?.outcome === 'created' ? rows.length : 0), 0) +
      single.filter((o) => o === 'created').length;
    expect(sold).toBe(30);
    const { rows } = await pool.query(
      `SELECT t.sold, (SELECT count(*)::int FROM tickets WHERE tier_id = t.id) AS tickets
       FROM ticket_tiers t WHERE t.id = $1`,
      [tier],
    );
    expect(rows).toEqual([{ sold: 30, tickets: 30 }]);
  });
});
