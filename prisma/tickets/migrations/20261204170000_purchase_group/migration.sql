-- Group commit: the purchases of one tier that reach the tickets service together are sold
-- in one statement, one transaction, with one update of the tier's row, instead of each
-- waiting its turn on that row. Each buyer still gets their own answer, as
-- purchase_tickets gives it: their order, or their own refusal. The guarantees are those
-- of purchase_tickets, for every member:
--
--   * Idempotency: each member's (buyer, key) pair is locked with
--     `pg_try_advisory_xact_lock`, in sorted order; a key in use elsewhere is `keyInUse`, a
--     key a member earlier in the group has taken is `keyInUse` too (retried, it replays
--     the committed order), and a committed order is replayed (or `keyReused`).
--   * The race with a cancellation: the event's snapshot `FOR SHARE`, once, before any
--     allowance or stock.
--   * The per-person cap: the members' allowances are taken one member at a time, in
--     (buyer, member) order, so that the same buyer twice in a group counts both
--     purchases, and every transaction on stock locks allowances before tiers.
--   * No oversell: the tier's row is locked once, after every allowance, the members are
--     fitted in the order they came while stock lasts, and their sum is sold in one
--     conditional update under the CHECK constraint `sold + held <= capacity`. A member
--     that does not fit is `soldOut`, and their allowance is given back.
--
-- The group leaves out what would take a lock out of that order: returning expired holds
-- (which updates tiers, and then allowances). A member whose cap or stock only expired holds
-- stand in the way of is answered `retryAlone`, with nothing of theirs kept, and the service
-- sends that purchase alone to purchase_tickets, which returns those holds first.
--
-- A refusal decided before any lock (unknown tier, sales window, limit per order) is the
-- same as purchase_tickets', for the member it concerns.
CREATE FUNCTION "purchase_tickets_group"(
  tier_id uuid,
  buyer_ids uuid[],
  idempotency_keys text[],
  request_hashes text[],
  quantities int[],
  per_user_cap int
) RETURNS TABLE (member int, purchase purchase_row)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  tier ticket_tiers%ROWTYPE;
  size int := cardinality(buyer_ids);
  -- Each member's outcome so far: NULL while still in the running.
  outcomes text[] := array_fill(NULL::text, ARRAY[cardinality(buyer_ids)]);
  replays uuid[] := array_fill(NULL::uuid, ARRAY[cardinality(buyer_ids)]);
  placed uuid[] := array_fill(NULL::uuid, ARRAY[cardinality(buyer_ids)]);
  refusal purchase_row;
  on_sale boolean;
  free int;
  sold_now int := 0;
  i int;
  existing orders%ROWTYPE;
BEGIN
  IF size = 0 THEN
    RETURN;
  END IF;
  IF cardinality(idempotency_keys) <> size OR cardinality(request_hashes) <> size
     OR cardinality(quantities) <> size THEN
    RAISE EXCEPTION 'purchase_tickets_group: the member arrays differ in length';
  END IF;

  SELECT t.* INTO tier FROM ticket_tiers t WHERE t.id = purchase_tickets_group.tier_id;
  IF NOT FOUND THEN
    refusal.outcome := 'tierNotFound';
    RETURN QUERY SELECT m, refusal FROM generate_series(1, size) AS m;
    RETURN;
  END IF;
  IF tier.sales_start_at > now() OR tier.sales_end_at <= now() THEN
    refusal.outcome := 'windowClosed';
    refusal.tier_sales_start_at := tier.sales_start_at;
    refusal.tier_sales_end_at := tier.sales_end_at;
    RETURN QUERY SELECT m, refusal FROM generate_series(1, size) AS m;
    RETURN;
  END IF;
  FOR i IN 1 .. size LOOP
    IF quantities[i] > tier.max_per_order THEN
      outcomes[i] := 'orderLimitExceeded';
    END IF;
  END LOOP;

  -- The idempotency keys, in sorted order; a member whose key an earlier member holds, or
  -- another transaction holds, is told the key is in use.
  FOR i IN
    SELECT m FROM generate_series(1, size) AS m
    WHERE outcomes[m] IS NULL
    ORDER BY buyer_ids[m], idempotency_keys[m], m
  LOOP
    IF EXISTS (
      SELECT 1 FROM generate_series(1, i - 1) AS earlier
      WHERE buyer_ids[earlier] = buyer_ids[i] AND idempotency_keys[earlier] = idempotency_keys[i]
        AND outcomes[earlier] IS DISTINCT FROM 'orderLimitExceeded'
    ) OR NOT pg_try_advisory_xact_lock(hashtextextended(buyer_ids[i]::text || ':' || idempotency_keys[i], 0)) THEN
      outcomes[i] := 'keyInUse';
      CONTINUE;
    END IF;
    SELECT * INTO existing FROM orders o
    WHERE o.buyer_id = buyer_ids[i] AND o.idempotency_key = idempotency_keys[i];
    IF FOUND THEN
      IF existing.request_hash <> request_hashes[i] THEN
        outcomes[i] := 'keyReused';
      ELSE
        outcomes[i] := 'replayed';
        replays[i] := existing.id;
      END IF;
    END IF;
  END LOOP;

  -- The snapshot before the allowances and the stock.
  SELECT s.status = 'PUBLISHED' AND s.starts_at > now() INTO on_sale
  FROM event_snapshots s WHERE s.event_id = tier.event_id
  FOR SHARE;
  IF on_sale IS NOT TRUE THEN
    FOR i IN 1 .. size LOOP
      IF outcomes[i] IS NULL THEN
        outcomes[i] := 'salesClosed';
      END IF;
    END LOOP;
  END IF;

  -- The allowances, in (buyer, member) order, within the cap.
  FOR i IN
    SELECT m FROM generate_series(1, size) AS m
    WHERE outcomes[m] IS NULL
    ORDER BY buyer_ids[m], m
  LOOP
    IF quantities[i] > per_user_cap THEN
      outcomes[i] := 'limitReached';
    ELSIF NOT take_allowance(tier.event_id, buyer_ids[i], quantities[i], per_user_cap) THEN
      outcomes[i] := CASE WHEN EXISTS (
        SELECT 1 FROM holds h JOIN ticket_tiers t ON t.id = h.tier_id
        WHERE h.user_id = buyer_ids[i] AND t.event_id = tier.event_id
          AND h.status = 'ACTIVE' AND h.expires_at <= now()
      ) THEN 'retryAlone' ELSE 'limitReached' END;
    END IF;
  END LOOP;

  -- The tier's row, once, last of the locks: the members fit in the order they came.
  IF EXISTS (SELECT 1 FROM generate_series(1, size) AS m WHERE outcomes[m] IS NULL) THEN
    SELECT t.capacity - t.sold - t.held INTO free FROM ticket_tiers t
    WHERE t.id = tier.id FOR UPDATE;
    FOR i IN 1 .. size LOOP
      IF outcomes[i] IS NULL THEN
        IF quantities[i] <= free - sold_now THEN
          sold_now := sold_now + quantities[i];
          outcomes[i] := 'created';
        ELSE
          outcomes[i] := 'soldOut';
        END IF;
      END IF;
    END LOOP;
    IF sold_now > 0 THEN
      UPDATE ticket_tiers t SET sold = t.sold + sold_now, updated_at = now()
      WHERE t.id = tier.id AND t.sold + t.held + sold_now <= t.capacity;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'purchase_tickets_group: the locked stock of tier % changed', tier.id;
      END IF;
    END IF;
  END IF;
  -- Those that did not fit give their allowance back, so that the refusal changes nothing
  -- (their rows are locked by this transaction since they were taken; an allowance of none
  -- is no row). Expired holds of the tier standing in their way send them to try alone.
  UPDATE event_allowances a SET tickets = a.tickets - r.quantity
  FROM (
    SELECT buyer_ids[m] AS user_id, sum(quantities[m])::int AS quantity
    FROM generate_series(1, size) AS m
    WHERE outcomes[m] = 'soldOut'
    GROUP BY 1
  ) r
  WHERE a.event_id = tier.event_id AND a.user_id = r.user_id;
  DELETE FROM event_allowances a
  WHERE a.event_id = tier.event_id AND a.tickets = 0
    AND a.user_id IN (SELECT buyer_ids[m] FROM generate_series(1, size) AS m
                      WHERE outcomes[m] = 'soldOut');
  IF 'soldOut' = ANY(outcomes) AND EXISTS (
    SELECT 1 FROM holds h WHERE h.tier_id = tier.id AND h.status = 'ACTIVE' AND h.expires_at <= now()
  ) THEN
    outcomes := array_replace(outcomes, 'soldOut', 'retryAlone');
  END IF;

  -- The orders and their tickets.
  FOR i IN 1 .. size LOOP
    IF outcomes[i] = 'created' THEN
      placed[i] := uuid_v7();
      INSERT INTO orders (id, buyer_id, idempotency_key, request_hash, total_cents, currency)
      VALUES (placed[i], buyer_ids[i], idempotency_keys[i], request_hashes[i],
              tier.price_cents * quantities[i], tier.currency);
      INSERT INTO tickets (id, tier_id, event_id, owner_id, code, order_id)
      SELECT uuid_v7(), tier.id, tier.event_id, buyer_ids[i], ticket_code(), placed[i]
      FROM generate_series(1, quantities[i]);
    END IF;
  END LOOP;

  FOR i IN 1 .. size LOOP
    IF outcomes[i] IN ('created', 'replayed') THEN
      RETURN QUERY SELECT i, p FROM order_placed(outcomes[i], coalesce(placed[i], replays[i])) AS p;
    ELSE
      refusal := NULL;
      refusal.outcome := outcomes[i];
      IF outcomes[i] = 'orderLimitExceeded' THEN
        refusal.tier_max_per_order := tier.max_per_order;
      END IF;
      RETURN QUERY SELECT i, refusal;
    END IF;
  END LOOP;
END
$$;
