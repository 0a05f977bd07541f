-- offer_waitlist (migration `waitlist`) offered stock that came back to a tier whenever the
-- event was on sale, even outside the tier's own sales window: a refund after the tier's
-- sales had ended turned into a hold for the next in line, and a purchase from a hold does
-- not check the window (a hold made in time may be bought after it), so the tier sold after
-- its sales ended. It now offers nothing outside the window, as it offers nothing for an
-- event not on sale; the queue keeps waiting. Every other line is as before.

CREATE OR REPLACE FUNCTION "offer_waitlist"(for_tier uuid) RETURNS int
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
  IF tier.sales_start_at > now() OR tier.sales_end_at <= now() THEN
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
