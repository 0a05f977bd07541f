-- The waitlist of a sold-out tier: buyers queue in first-come order, and stock that comes
-- back is offered to them as holds reserved for them (`holds.waitlist_entry_id`).
--
-- The rule that keeps the queue fair: after every transaction that returns stock, a tier
-- with anyone waiting has no free stock (`offer_waitlist` turns all of it into offers, in
-- the same transaction). A stranger's purchase or hold therefore finds none, and answers
-- SOLD_OUT, while offers are outstanding, without a check of its own.

-- CreateEnum
CREATE TYPE "WaitlistStatus" AS ENUM ('WAITING', 'OFFERED', 'EXPIRED', 'LEFT', 'SKIPPED', 'CANCELLED');

-- CreateTable
CREATE TABLE "waitlist_entries" (
    "id" UUID NOT NULL,
    "position" BIGSERIAL NOT NULL,
    "tier_id" UUID NOT NULL,
    "event_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "quantity" INTEGER NOT NULL,
    "waiting" INTEGER NOT NULL,
    "status" "WaitlistStatus" NOT NULL DEFAULT 'WAITING',
    "per_user_cap" INTEGER NOT NULL,
    "offer_seconds" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "waitlist_entries_pkey" PRIMARY KEY ("id")
);

-- AlterTable
ALTER TABLE "holds" ADD COLUMN "waitlist_entry_id" UUID;

-- CreateIndex
CREATE UNIQUE INDEX "waitlist_entries_position_key" ON "waitlist_entries"("position");

-- CreateIndex
CREATE INDEX "waitlist_entries_tier_id_status_position_idx" ON "waitlist_entries"("tier_id", "status", "position");

-- CreateIndex
CREATE INDEX "waitlist_entries_user_id_status_idx" ON "waitlist_entries"("user_id", "status");

-- CreateIndex
CREATE INDEX "waitlist_entries_event_id_idx" ON "waitlist_entries"("event_id");

-- CreateIndex
CREATE INDEX "holds_waitlist_entry_id_idx" ON "holds"("waitlist_entry_id");

-- AddForeignKey
ALTER TABLE "waitlist_entries" ADD CONSTRAINT "waitlist_entries_tier_id_fkey" FOREIGN KEY ("tier_id") REFERENCES "ticket_tiers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "holds" ADD CONSTRAINT "holds_waitlist_entry_id_fkey" FOREIGN KEY ("waitlist_entry_id") REFERENCES "waitlist_entries"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- One live entry per buyer and tier: joining twice is refused.
CREATE UNIQUE INDEX "waitlist_entries_one_live_per_buyer" ON "waitlist_entries"("tier_id", "user_id")
  WHERE "status" IN ('WAITING', 'OFFERED');

ALTER TABLE "waitlist_entries" ADD CONSTRAINT "waitlist_entries_quantities"
  CHECK ("quantity" > 0 AND "waiting" >= 0 AND "waiting" <= "quantity"
         AND "per_user_cap" > 0 AND "offer_seconds" > 0);
-- Only a waiting entry has units still to offer.
ALTER TABLE "waitlist_entries" ADD CONSTRAINT "waitlist_entries_waiting_status"
  CHECK (("status" = 'WAITING') = ("waiting" > 0));

-- Turns the tier's free stock into offers for its queue, first come first served; returns
-- the units offered. Call it in the transaction that returned the stock, right after.
--
-- It locks the tier's row first (the caller usually holds it already, from its restock),
-- so calls for one tier run one at a time and each unit is offered exactly once. Under
-- that lock it:
--   1. ends the entries whose offer lapsed or was released (EXPIRED): an offer not taken
--      passes to the next in line, never back to the same buyer;
--   2. offers nothing if the event is not on sale (a cancelled event's cascade cancels the
--      queue);
--   3. walks the WAITING entries in position order while stock is free: each gets a hold
--      of min(units it still waits for, free stock, room under its per-person cap) for its
--      `offer_seconds`, which takes that much of its allowance as any hold does. An entry
--      whose offer was trimmed waits on for the rest, at the head of the queue. A buyer
--      with no room under the cap is passed over for good (SKIPPED), so free stock never
--      stays behind a buyer who cannot take it.
-- The allowance rows it takes are locked after the tier's row, the reverse of a purchase's
-- order; PostgreSQL breaks the rare cycle (a waiter buying the same tier's stock directly
-- at the very moment it comes back) by failing one of the two transactions.
CREATE FUNCTION "offer_waitlist"(for_tier uuid) RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  tier ticket_tiers%ROWTYPE;
  entry waitlist_entries%ROWTYPE;
  free int;
  room int;
  offered int;
  total int := 0;
BEGIN
  SELECT t.* INTO tier FROM ticket_tiers t WHERE t.id = for_tier FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;

  UPDATE waitlist_entries e SET status = 'EXPIRED', waiting = 0, updated_at = now()
  WHERE e.tier_id = for_tier AND e.status IN ('WAITING', 'OFFERED')
    AND EXISTS (SELECT 1 FROM holds h WHERE h.waitlist_entry_id = e.id AND h.status = 'EXPIRED');

  IF NOT EXISTS (
    SELECT 1 FROM event_snapshots s
    WHERE s.event_id = tier.event_id AND s.status = 'PUBLISHED' AND s.starts_at > now()
  ) THEN
    RETURN 0;
  END IF;

  free := tier.capacity - tier.sold - tier.held;
  FOR entry IN
    SELECT e.* FROM waitlist_entries e
    WHERE e.tier_id = for_tier AND e.status = 'WAITING'
    ORDER BY e.position
  LOOP
    EXIT WHEN free <= 0;
    SELECT entry.per_user_cap - coalesce(sum(a.tickets), 0)::int INTO room
    FROM event_allowances a WHERE a.event_id = entry.event_id AND a.user_id = entry.user_id;
    offered := least(entry.waiting, free, room);
    IF offered <= 0 OR NOT take_allowance(entry.event_id, entry.user_id, offered, entry.per_user_cap) THEN
      UPDATE waitlist_entries SET status = 'SKIPPED', waiting = 0, updated_at = now()
      WHERE id = entry.id;
      CONTINUE;
    END IF;
    INSERT INTO holds (id, tier_id, user_id, quantity, expires_at, waitlist_entry_id)
    VALUES (uuid_v7(), for_tier, entry.user_id, offered,
            now() + make_interval(secs => entry.offer_seconds), entry.id);
    UPDATE ticket_tiers SET held = held + offered, updated_at = now() WHERE id = for_tier;
    UPDATE waitlist_entries
    SET waiting = waiting - offered,
        status = CASE WHEN waiting - offered = 0 THEN 'OFFERED'::"WaitlistStatus" ELSE 'WAITING' END,
        updated_at = now()
    WHERE id = entry.id;
    free := free - offered;
    total := total + offered;
  END LOOP;
  RETURN total;
END
$$;

-- expire_holds (migration purchase_in_one_statement), now followed by offer_waitlist for
-- every tier that got stock back, so that an expired hold or offer that a purchase returns
-- on its way goes to the queue first, never to the purchase of someone who is not in it.
CREATE OR REPLACE FUNCTION "expire_holds"(for_tier uuid, for_user uuid, for_event uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  restocked_tiers uuid[];
BEGIN
  WITH expired AS (
    UPDATE holds SET status = 'EXPIRED'
    WHERE status = 'ACTIVE' AND expires_at <= now()
      AND (for_tier IS NULL OR tier_id = for_tier)
      AND (for_user IS NULL OR user_id = for_user)
      AND (for_event IS NULL OR tier_id IN (SELECT id FROM ticket_tiers WHERE event_id = for_event))
    RETURNING tier_id, user_id, quantity
  ), restocked AS (
    UPDATE ticket_tiers t SET held = t.held - r.quantity, updated_at = now()
    FROM (SELECT tier_id, sum(quantity)::int AS quantity FROM expired GROUP BY tier_id) r
    WHERE t.id = r.tier_id
  ), returned AS (
    SELECT t.event_id, e.user_id, sum(e.quantity)::int AS quantity,
           array_agg(DISTINCT e.tier_id) AS tiers
    FROM expired e JOIN ticket_tiers t ON t.id = e.tier_id
    GROUP BY t.event_id, e.user_id
  ), given_back AS (
    UPDATE event_allowances a SET tickets = a.tickets - r.quantity
    FROM returned r WHERE a.event_id = r.event_id AND a.user_id = r.user_id
    RETURNING r.tiers
  )
  SELECT array_agg(DISTINCT tier ORDER BY tier) INTO restocked_tiers
  FROM given_back, unnest(given_back.tiers) AS tier;
  IF restocked_tiers IS NULL THEN
    RETURN false;
  END IF;
  PERFORM offer_waitlist(tier) FROM unnest(restocked_tiers) AS tier;
  RETURN true;
END
$$;
