-- A purchase read its tier's rules (sales window, limit per order) before it locked the
-- tier's row to take the stock: an organizer who closed the sales or lowered the limit in
-- that gap was missed, and the order placed under the old rule. The rules are now checked
-- on the row the stock is taken from: purchase_tickets takes the stock with one
-- conditional update whose condition holds the rules as well as the stock, and
-- purchase_tickets_group checks them again on the row it has locked FOR UPDATE. The early
-- look at the tier stays, so that what the tier plainly forbids is refused before any
-- allowance is taken; a purchase refused under the lock gives its allowance back, as a sold
-- out one does. The rules themselves are written once, in tier_refused.
--
-- The order's price is now also read from the row the stock was taken from, not from the
-- early look. A purchase of a hold is unchanged: a hold's quantity was within the tier's
-- rules when it was made. Every other line is as before.

-- Why the tier refuses an order of `wanted` tickets now, as a refusal row (outcome
-- windowClosed or orderLimitExceeded, with the rule's detail), or a row of NULLs if it
-- does not. A bound of the window that is not set does not close it.
CREATE FUNCTION "tier_refused"(tier ticket_tiers, wanted int) RETURNS purchase_row
LANGUAGE plpgsql STABLE AS $$
DECLARE
  refusal purchase_row;
BEGIN
  IF tier.sales_start_at > now() OR tier.sales_end_at <= now() THEN
    refusal.outcome := 'windowClosed';
    refusal.tier_sales_start_at := tier.sales_start_at;
    refusal.tier_sales_end_at := tier.sales_end_at;
  ELSIF wanted > tier.max_per_order THEN
    refusal.outcome := 'orderLimitExceeded';
    refusal.tier_max_per_order := tier.max_per_order;
  END IF;
  RETURN refusal;
END
$$;

-- Sells `wanted` of a tier's stock if that much is left and the tier's rules allow an
-- order of that many, both judged on the row the update writes (after any concurrent
-- writer of the row has committed). Returns a row of NULLs if it sold, else the refusal:
-- the rule the tier as it now is breaks, or soldOut.
CREATE FUNCTION "take_stock_by_the_rules"(for_tier uuid, wanted int) RETURNS purchase_row
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  tier ticket_tiers%ROWTYPE;
  refusal purchase_row;
BEGIN
  UPDATE ticket_tiers t SET sold = t.sold + wanted, updated_at = now()
  WHERE t.id = for_tier AND t.sold + t.held + wanted <= t.capacity
    AND (tier_refused(t, wanted)).outcome IS NULL;
  IF FOUND THEN
    RETURN refusal;
  END IF;
  SELECT t.* INTO tier FROM ticket_tiers t WHERE t.id = for_tier;
  refusal := tier_refused(tier, wanted);
  IF refusal.outcome IS NULL THEN
    refusal.outcome := 'soldOut';
  END IF;
  RETURN refusal;
END
$$;

CREATE OR REPLACE FUNCTION "purchase_tickets"(
  buyer_id uuid,
  idempotency_key text,
  request_hash text,
  tier_id uuid,
  quantity int,
  hold_id uuid,
  per_user_cap int
) RETURNS SETOF purchase_row
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  buyer uuid := purchase_tickets.buyer_id;
  existing orders%ROWTYPE;
  tier ticket_tiers%ROWTYPE;
  wanted int := purchase_tickets.quantity;
  on_sale boolean;
  taken boolean;
  placed uuid;
  refusal purchase_row;
BEGIN
  -- A refusal is one row with only `outcome` set, and the detail its message needs.
  IF purchase_tickets.hold_id IS NULL THEN
    SELECT t.* INTO tier FROM ticket_tiers t WHERE t.id = purchase_tickets.tier_id;
    IF NOT FOUND THEN
      refusal.outcome := 'tierNotFound';
      RETURN NEXT refusal;
      RETURN;
    END IF;
  END IF;

  IF NOT pg_try_advisory_xact_lock(hashtextextended(buyer::text || ':' || purchase_tickets.idempotency_key, 0)) THEN
    refusal.outcome := 'keyInUse';
    RETURN NEXT refusal;
    RETURN;
  END IF;

  SELECT * INTO existing FROM orders o
  WHERE o.buyer_id = buyer AND o.idempotency_key = purchase_tickets.idempotency_key;
  IF FOUND THEN
    IF existing.request_hash <> purchase_tickets.request_hash THEN
      refusal.outcome := 'keyReused';
      RETURN NEXT refusal;
      RETURN;
    END IF;
    RETURN QUERY SELECT * FROM order_placed('replayed', existing.id);
    RETURN;
  END IF;

  -- The tier's own rules, for a new order only: a retry of a committed one is replayed
  -- above, whatever the tier's window or limit has become since. This early look refuses
  -- at once what the tier plainly forbids, before any allowance is taken; the rules that
  -- decide are those of the row the stock is taken from, below.
  IF purchase_tickets.hold_id IS NULL THEN
    refusal := tier_refused(tier, wanted);
    IF refusal.outcome IS NOT NULL THEN
      RETURN NEXT refusal;
      RETURN;
    END IF;
  END IF;

  IF purchase_tickets.hold_id IS NOT NULL THEN
    SELECT h.quantity INTO wanted FROM holds h
    WHERE h.id = purchase_tickets.hold_id AND h.user_id = buyer;
    IF NOT FOUND THEN
      refusal.outcome := 'holdNotFound';
      RETURN NEXT refusal;
      RETURN;
    END IF;
    SELECT t.* INTO tier FROM ticket_tiers t
    WHERE t.id = (SELECT h.tier_id FROM holds h WHERE h.id = purchase_tickets.hold_id);
    -- A hold's quantity was within the tier's limit per order when it was made; the price
    -- may have been raised since, with the limit lowered to match. The total would not fit
    -- the order's integer column: refused as an order over the tier's limit, nothing kept.
    IF tier.price_cents::bigint * wanted > 2147483647 THEN
      refusal.outcome := 'orderLimitExceeded';
      refusal.tier_max_per_order := tier.max_per_order;
      RETURN NEXT refusal;
      RETURN;
    END IF;
  END IF;

  -- The snapshot before the hold and the stock: the cancellation's cascade locks the
  -- snapshot, then the holds, then the tiers.
  SELECT s.status = 'PUBLISHED' AND s.starts_at > now() INTO on_sale
  FROM event_snapshots s WHERE s.event_id = tier.event_id
  FOR SHARE;
  IF on_sale IS NOT TRUE THEN
    refusal.outcome := 'salesClosed';
    RETURN NEXT refusal;
    RETURN;
  END IF;

  IF purchase_tickets.hold_id IS NOT NULL THEN
    -- A hold took its allowance and its stock when it was made: claim it, then move its
    -- quantity from held to sold.
    UPDATE holds h SET status = 'PURCHASED'
    WHERE h.id = purchase_tickets.hold_id AND h.status = 'ACTIVE' AND h.expires_at > now();
    IF NOT FOUND THEN
      refusal.outcome := 'holdExpired';
      RETURN NEXT refusal;
      RETURN;
    END IF;
    UPDATE ticket_tiers t SET held = t.held - wanted, sold = t.sold + wanted, updated_at = now()
    WHERE t.id = tier.id;
  ELSE
    -- The allowance, within the cap. The buyer's own expired holds, if the sweeper has not
    -- returned them yet, are returned first when they are what stands in the way.
    -- (Statements, not one boolean expression: SQL does not promise to evaluate OR and AND
    -- in order, and each of these writes.)
    taken := wanted <= per_user_cap;
    IF taken THEN
      taken := take_allowance(tier.event_id, buyer, wanted, per_user_cap);
      IF NOT taken THEN
        IF expire_holds(NULL, buyer, tier.event_id) THEN
          taken := take_allowance(tier.event_id, buyer, wanted, per_user_cap);
        END IF;
      END IF;
    END IF;
    IF NOT taken THEN
      refusal.outcome := 'limitReached';
      RETURN NEXT refusal;
      RETURN;
    END IF;
    -- The stock, last of the locks, with the tier's rules checked on the row the update
    -- writes. Expired holds of the tier are returned only when they are what stands
    -- between the buyer and the stock, so that the common purchase does not scan holds
    -- while it holds the tier's row.
    refusal := take_stock_by_the_rules(tier.id, wanted);
    IF refusal.outcome = 'soldOut' THEN
      IF expire_holds(tier.id, NULL, NULL) THEN
        refusal := take_stock_by_the_rules(tier.id, wanted);
      END IF;
    END IF;
    IF refusal.outcome IS NOT NULL THEN
      -- Give the allowance back, so that the refusal changes nothing: the row is locked
      -- by this transaction since it was taken, and an allowance of none is no row.
      UPDATE event_allowances a SET tickets = a.tickets - wanted
      WHERE a.event_id = tier.event_id AND a.user_id = buyer;
      DELETE FROM event_allowances a
      WHERE a.event_id = tier.event_id AND a.user_id = buyer AND a.tickets = 0;
      RETURN NEXT refusal;
      RETURN;
    END IF;
    -- The tier as the stock was taken from it (its row is this transaction's now): the
    -- order's price is the one the sale was made under.
    SELECT t.* INTO tier FROM ticket_tiers t WHERE t.id = tier.id;
  END IF;

  placed := uuid_v7();
  INSERT INTO orders (id, buyer_id, idempotency_key, request_hash, total_cents, currency)
  VALUES (placed, buyer, purchase_tickets.idempotency_key, purchase_tickets.request_hash,
          tier.price_cents * wanted, tier.currency);
  INSERT INTO tickets (id, tier_id, event_id, owner_id, code, order_id)
  SELECT uuid_v7(), tier.id, tier.event_id, buyer, ticket_code(), placed
  FROM generate_series(1, wanted);
  RETURN QUERY SELECT * FROM order_placed('created', placed);
END
$$;

CREATE OR REPLACE FUNCTION "purchase_tickets_group"(
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
  -- The tier at the early look; `tier` becomes the row locked to take the stock.
  looked ticket_tiers%ROWTYPE;
  -- Members refused under the tier's lock, after their allowance was taken.
  refused_late boolean[] := array_fill(false, ARRAY[cardinality(buyer_ids)]);
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
  looked := tier;

  -- The idempotency keys, in sorted order; a member whose key an earlier member holds, or
  -- another transaction holds, is told the key is in use.
  FOR i IN
    SELECT m FROM generate_series(1, size) AS m
    ORDER BY buyer_ids[m], idempotency_keys[m], m
  LOOP
    IF EXISTS (
      SELECT 1 FROM generate_series(1, i - 1) AS earlier
      WHERE buyer_ids[earlier] = buyer_ids[i] AND idempotency_keys[earlier] = idempotency_keys[i]
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

  -- The tier's own rules, for the members that would place a new order: a retry of a
  -- committed one is replayed above, whatever the tier's window or limit has become since.
  -- An early look, before the allowances; they are checked again under the tier's lock.
  FOR i IN 1 .. size LOOP
    IF outcomes[i] IS NULL THEN
      outcomes[i] := (tier_refused(looked, quantities[i])).outcome;
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

  -- The tier's row, once, last of the locks: its rules as they are under the lock (an
  -- organizer may have changed them since the early look), then the members fit in the
  -- order they came.
  IF EXISTS (SELECT 1 FROM generate_series(1, size) AS m WHERE outcomes[m] IS NULL) THEN
    SELECT t.* INTO tier FROM ticket_tiers t WHERE t.id = tier.id FOR UPDATE;
    free := tier.capacity - tier.sold - tier.held;
    FOR i IN 1 .. size LOOP
      IF outcomes[i] IS NULL THEN
        outcomes[i] := (tier_refused(tier, quantities[i])).outcome;
        refused_late[i] := outcomes[i] IS NOT NULL;
      END IF;
    END LOOP;
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
    WHERE outcomes[m] = 'soldOut' OR refused_late[m]
    GROUP BY 1
  ) r
  WHERE a.event_id = tier.event_id AND a.user_id = r.user_id;
  DELETE FROM event_allowances a
  WHERE a.event_id = tier.event_id AND a.tickets = 0
    AND a.user_id IN (SELECT buyer_ids[m] FROM generate_series(1, size) AS m
                      WHERE outcomes[m] = 'soldOut' OR refused_late[m]);
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
      -- A refusal by the tier's rules, with the detail of the row it was judged on.
      refusal := tier_refused(CASE WHEN refused_late[i] THEN tier ELSE looked END, quantities[i]);
      IF refusal.outcome IS DISTINCT FROM outcomes[i] THEN
        refusal := NULL;
        refusal.outcome := outcomes[i];
      END IF;
      RETURN QUERY SELECT i, refusal;
    END IF;
  END LOOP;
END
$$;
