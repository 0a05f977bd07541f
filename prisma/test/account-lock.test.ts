// The tickets database's account lock (migration `lock_account`): one function takes it, for
// the closing of an account (exclusive) and for whatever gives the account something new
// (shared, in the `refuse_closed_account` triggers). Its key is the one earlier releases
// spelled out, so that two releases running side by side during a deploy lock alike.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ticketsSqlPool } from './tickets-sql.ts';

const pool = ticketsSqlPool(4);

/** Runs `work` on another connection while this one holds `lock_account(account, shared)`. */
async function whileLocked<T>(
  account: string,
  shared: boolean,
  work: (other: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const holder = await pool.connect();
  const other = await pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT lock_account($1::uuid, $2)', [account, shared]);
    await other.query('BEGIN');
    return await work(other);
  } finally {
    await other.query('ROLLBACK');
    await holder.query('ROLLBACK');
    other.release();
    holder.release();
  }
}

/** Whether `other` could take the key earlier releases spelled out, exclusively or shared. */
async function spelledOutFree(other: pg.PoolClient, account: string, shared: boolean) {
  const take = shared ? 'pg_try_advisory_xact_lock_shared' : 'pg_try_advisory_xact_lock';
  const { rows } = await other.query<{ taken: boolean }>(
    `SELECT ${take}(hashtextextended('account:' || $1, 0)) AS taken`,
    [account],
  );
  return rows[0]?.taken;
}

describe('lock_account', () => {
  it('held exclusively, is the key earlier releases spelled out, whatever the id’s case', async () => {
    const account = randomUUID();
    await whileLocked(account.toUpperCase(), false, async (other) => {
      expect(await spelledOutFree(other, account, true)).toBe(false);
    });
    // And given back with its transaction.
    await whileLocked(randomUUID(), false, async (other) => {
      expect(await spelledOutFree(other, account, false)).toBe(true);
    });
  });

  it('held shared, lets other sharers in and keeps a closing out', async () => {
    const account = randomUUID();
    await whileLocked(account, true, async (other) => {
      expect(await spelledOutFree(other, account, true)).toBe(true);
      expect(await spelledOutFree(other, account, false)).toBe(false);
    });
  });

  it('is what an order for the account waits on while the account is being closed', async () => {
    const buyer = randomUUID();
    await whileLocked(buyer, false, async (other) => {
      await other.query("SET LOCAL lock_timeout = '200ms'");
      await expect(
        other.query(
          `INSERT INTO orders (id, buyer_id, idempotency_key, request_hash, total_cents, currency)
           VALUES (gen_random_uuid(), $1, 'k', 'h', 0, 'EUR')`,
          [buyer],
        ),
      ).rejects.toMatchObject({ code: '55P03' });
    });
  });
});
