-- An offer read the queue without locking it, then wrote the entry it served as it found it:
-- a waiter who left (leaveWaitlist) after their entry was read and before it was written
-- had it put back WAITING with a negative count, which the entry's CHECK refused, and the
-- whole return of stock failed with it (a cancellation, a refund or a released hold
-- answered INTERNAL_SERVER_ERROR, and wrote nothing). The queue is now read FOR UPDATE, in
-- its order, after the tier's row: an entry that left meanwhile is passed over, one that
-- leaves later waits for the offer, and keeps it, as any offer made before leaving.
--
-- offer_waitlist (migration waitlist_offers_within_the_order_limit), with the waiting
-- entries locked as they are read. Every other line is as before.
CREATE OR REPLACE FUNCTION "offer_waitlist"(for_tier uuid) RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  tier ticket_tiers%ROWTYPE;
  entry waitlist_entries%ROWTYPE;
  free int;
  room int;
  offered int;
  part int;
  rest int;
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
  IF tier.sales_start_at > now() OR tier.sales_end_at <= now() THEN
    RETURN 0;
  END IF;

  free := tier.capacity - tier.sold - tier.held;
  FOR entry IN
    SELECT e.* FROM waitlist_entries e
    WHERE e.tier_id = for_tier AND e.status = 'WAITING'
    ORDER BY e.position
    FOR UPDATE
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
    rest := offered;
    WHILE rest > 0 LOOP
      part := least(rest, tier.max_per_order);
      INSERT INTO holds (id, tier_id, user_id, quantity, price_cents, currency, expires_at,
                         waitlist_entry_id)
      VALUES (uuid_v7(), for_tier, entry.user_id, part, tier.price_cents, tier.currency,
              now() + make_interval(secs => entry.offer_seconds), entry.id);
      rest := rest - part;
    END LOOP;
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
