// The tickets database voiding transfer offers (migration `void_transfer_offers_per_statement`):
// a statement that cancels, admits or moves tickets cancels their pending offers, in one
// set-based update per statement, however many tickets it changes; no other offer is touched.
// Called straight over SQL against a real PostgreSQL database, without the service in front.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ticketsSqlPool } from './tickets-sql.ts';

const pool = ticketsSqlPool(4);

/** A published event with one tier and `count` active tickets, each of its own owner. */
async function eventWithTickets(count: number): Promise<{ eventId: string; ticketIds: string[] }> {
  const eventId = randomUUID();
  const tierId = randomUUID();
  await pool.query(
    `INSERT INTO event_snapshots (event_id, status, starts_at, version, updated_at)
     VALUES ($1, 'PUBLISHED', now() + interval '10 days', 1, now())`,
    [eventId],
  );
  await pool.query(
    `INSERT INTO ticket_tiers (id, event_id, name, price_cents, currency, capacity, sold, updated_at)
     VALUES ($1, $2, 'Tier', 1500, 'EUR', $3, $3, now())`,
    [tierId, eventId, count],
  );
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO tickets (id, tier_id, event_id, owner_id, code)
     SELECT gen_random_uuid(), $1, $2, gen_random_uuid(), md5(random()::text || g)
     FROM generate_series(1, $3::int) g
     RETURNING id`,
    [tierId, eventId, count],
  );
  return { eventId, ticketIds: rows.map((row) => row.id) };
}

/** A pending offer of each ticket from its owner to someone new; their ids. */
async function offer(ticketIds: readonly string[], status = 'PENDING'): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO ticket_transfer_offers
       (id, ticket_id, from_user_id, to_user_id, expires_at, status, resolved_at)
     SELECT gen_random_uuid(), t.id, t.owner_id, gen_random_uuid(), now() + interval '1 day',
            $2::"TransferOfferStatus", CASE WHEN $2 = 'PENDING' THEN NULL ELSE now() END
     FROM tickets t WHERE t.id = ANY($1::uuid[])
     RETURNING id`,
    [ticketIds, status],
  );
  return rows.map((row) => row.id);
}

/** The offers of these ids that the trigger cancelled, sorted. */
async function cancelled(offerIds: readonly string[]): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id::text FROM ticket_transfer_offers
     WHERE id = ANY($1::uuid[]) AND status = 'CANCELLED' AND resolved_at IS NOT NULL
     ORDER BY id`,
    [offerIds],
  );
  return rows.map((row) => row.id);
}

/**
 * Runs `sql` in a transaction and answers how many times a function voiding offers ran in it
 * (PostgreSQL's per-transaction function statistics).
 */
async function voidingCalls(sql: string, params: unknown[]): Promise<number> {
  const client = await pool.connect();
  // The view also counts calls of the connection's earlier transactions not flushed yet to
  // the cumulative statistics: the difference across the statement is its own.
  const calls = async () =>
    (
      await client.query<{ calls: number }>(
        `SELECT coalesce(sum(calls), 0)::int AS calls FROM pg_stat_xact_user_functions
         WHERE funcname LIKE 'void\\_transfer\\_offers%'`,
      )
    ).rows[0]?.calls ?? 0;
  try {
    await client.query('BEGIN');
    await client.query("SET LOCAL track_functions = 'pl'");
    const before = await calls();
    await client.query(sql, params);
    const after = await calls();
    await client.query('COMMIT');
    return after - before;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

const sorted = (ids: readonly string[]) => [...ids].sort();

describe('voiding transfer offers', () => {
  it('cancels, in one statement, the pending offers of exactly the tickets an event cancellation cancels', async () => {
    const cancelledEvent = await eventWithTickets(3_000);
    const otherEvent = await eventWithTickets(40);
    const ids = cancelledEvent.ticketIds;
    const offeredTickets = ids.filter((_, index) => index % 10 === 0);
    const voidable = await offer(offeredTickets);
    // Settled before: stays as it was.
    const declined = await offer([ids[1] as string], 'DECLINED');
    // A ticket refunded before the event's cancellation, with a pending offer left on it (as
    // an older release could leave one): the cancellation does not change that ticket.
    const refundedId = ids[2] as string;
    await pool.query(
      `UPDATE tickets SET status = 'CANCELLED', cancelled_at = now() WHERE id = $1`,
      [refundedId],
    );
    const onRefunded = await offer([refundedId]);
    const elsewhere = await offer(otherEvent.ticketIds.slice(0, 10));

    const calls = await voidingCalls('SELECT refund_event_orders($1::uuid)', [
      cancelledEvent.eventId,
    ]);

    expect(calls).toBe(1);
    const everyOffer = [...voidable, ...declined, ...onRefunded, ...elsewhere];
    expect(await cancelled(everyOffer)).toEqual(sorted(voidable));
    const { rows } = await pool.query<{ id: string; status: string }>(
      `SELECT id::text, status FROM ticket_transfer_offers WHERE id = ANY($1::uuid[]) ORDER BY id`,
      [[...declined, ...onRefunded, ...elsewhere]],
    );
    expect(rows).toEqual(
      sorted([...declined, ...onRefunded, ...elsewhere]).map((id) => ({
        id,
        status: declined.includes(id) ? 'DECLINED' : 'PENDING',
      })),
    );
  });

  it('cancels the offer of a ticket admitted or moved, not of one whose admission is undone or that changes otherwise', async () => {
    const { ticketIds } = await eventWithTickets(6);
    const [admitted, moved, undone, rotated, untouched, alreadyAdmitted] = ticketIds.map(String);
    await pool.query(
      `UPDATE tickets SET checked_in_at = now(), checked_in_by = gen_random_uuid() WHERE id = ANY($1::uuid[])`,
      [[undone, alreadyAdmitted]],
    );
    // Offers on admitted tickets cannot be made through the service; here they test that
    // only a change voids: an undone admission and a second admission time change nothing.
    const offers = await offer(ticketIds);
    const offerOf = (ticketId: string | undefined) =>
      offers[ticketIds.indexOf(ticketId as string)] as string;

    // One statement changing each ticket its own way.
    const calls = await voidingCalls(
      `UPDATE tickets SET
         checked_in_at = CASE id WHEN $1::uuid THEN now() WHEN $3::uuid THEN NULL
                                 WHEN $6::uuid THEN now() + interval '1 minute' ELSE checked_in_at END,
         checked_in_by = CASE id WHEN $1::uuid THEN gen_random_uuid() WHEN $3::uuid THEN NULL
                                 ELSE checked_in_by END,
         owner_id = CASE WHEN id = $2::uuid THEN gen_random_uuid() ELSE owner_id END,
         token_version = CASE WHEN id = $4::uuid THEN token_version + 1 ELSE token_version END
       WHERE id = ANY(ARRAY[$1, $2, $3, $4, $5, $6]::uuid[])`,
      [admitted, moved, undone, rotated, untouched, alreadyAdmitted],
    );

    expect(calls).toBe(1);
    expect(await cancelled(offers)).toEqual(sorted([offerOf(admitted), offerOf(moved)]));
    // Undoing the admission leaves its offer void: nothing brings an offer back.
    await pool.query(
      'UPDATE tickets SET checked_in_at = NULL, checked_in_by = NULL WHERE id = $1',
      [admitted],
    );
    expect(await cancelled(offers)).toEqual(sorted([offerOf(admitted), offerOf(moved)]));
  });

  it('leaves offers alone when a statement updates no ticket', async () => {
    const { ticketIds } = await eventWithTickets(1);
    const offers = await offer(ticketIds);
    await pool.query(`UPDATE tickets SET status = 'CANCELLED' WHERE id = $1`, [randomUUID()]);
    expect(await cancelled(offers)).toEqual([]);
  });
});
