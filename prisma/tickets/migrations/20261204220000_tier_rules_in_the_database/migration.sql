-- Two rules on a ticket tier that the tickets service checked by reading the row, then
-- writing it: two updates racing (one raising the price, one raising maxPerOrder; one moving
-- the sales start, one the sales end) could each pass on the other's old value, and tiers
-- written before a rule could break it. Both are now CHECK constraints, which PostgreSQL
-- evaluates on the row as the last writer leaves it:
--
--   * ticket_tiers_order_total: price_cents × max_per_order fits an order's total, a 32-bit
--     integer (orders.total_cents, the GraphQL Int), so no purchase of the tier overflows;
--   * ticket_tiers_sales_window: the sales end, when both bounds are set, is after the start.
--
-- Existing rows are repaired first and the constraints validated at once, rather than added
-- NOT VALID: PostgreSQL checks even a NOT VALID constraint on every later update of a row,
-- so a tier left violating it would fail every purchase, hold, cancellation and edit that
-- touches its stock until an organizer fixed it by hand. The repairs:
--
--   * a tier whose price × limit does not fit gets the largest limit per order that does
--     (price_cents is at least 1 there, and at most 2^31 − 1, so the limit stays >= 1). No
--     order it could store is lost: a larger one overflowed and failed;
--   * a tier whose sales end is at or before its start was never on sale; its start moves to
--     one millisecond before its end, the shortest window the rule allows.
UPDATE "ticket_tiers"
SET "max_per_order" = 2147483647 / "price_cents", "updated_at" = now()
WHERE "price_cents"::bigint * "max_per_order" > 2147483647;

UPDATE "ticket_tiers"
SET "sales_start_at" = "sales_end_at" - interval '1 millisecond', "updated_at" = now()
WHERE "sales_end_at" <= "sales_start_at";

ALTER TABLE "ticket_tiers" ADD CONSTRAINT "ticket_tiers_order_total"
  CHECK ("price_cents"::bigint * "max_per_order" <= 2147483647);
ALTER TABLE "ticket_tiers" ADD CONSTRAINT "ticket_tiers_sales_window"
  CHECK ("sales_end_at" > "sales_start_at");

-- purchase_tickets (migration purchase_checks_the_tier), with one check more on the hold's
-- path: a hold made before its tier's price went up may hold more tickets than the tier's
-- limit now allows, and its total may not fit an order. Every other line is as before.
-- Buys `quantity` tickets of `tier_id`, or the tickets of the buyer's hold `hold_id` (give
-- one or the other), for `buyer_id`, once per `idempotency_key`. Returns one row per
-- ticket of the order (created or replayed, with each ticket as it is now), or a single
-- row whose `outcome` names the refusal: tierNotFound, windowClosed (with the tier's
-- sales window), orderLimitExceeded (with the tier's limit per order), keyInUse,
-- keyReused, salesClosed, holdNotFound, holdExpired, limitReached, soldOut; and
-- orderLimitExceeded for a hold whose total no longer fits an order (see below).
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
    IF tier.sales_start_at > now() OR tier.sales_end_at <= now() THEN
      refusal.outcome := 'windowClosed';
      refusal.tier_sales_start_at := tier.sales_start_at;
      refusal.tier_sales_end_at := tier.sales_end_at;
      RETURN NEXT refusal;
      RETURN;
    END IF;
    IF wanted > tier.max_per_order THEN
      refusal.outcome := 'orderLimitExceeded';
      refusal.tier_max_per_order := tier.max_per_order;
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
    -- The stock, last of the locks. Expired holds of the tier are returned only when they
    -- are what stands between the buyer and the stock, so that the common purchase does
    -- not scan holds while it holds the tier's row.
    taken := take_stock(tier.id, wanted);
    IF NOT taken THEN
      IF expire_holds(tier.id, NULL, NULL) THEN
        taken := take_stock(tier.id, wanted);
      END IF;
    END IF;
    IF NOT taken THEN
      -- Give the allowance back, so that the refusal changes nothing: the row is locked
      -- by this transaction since it was taken, and an allowance of none is no row.
      UPDATE event_allowances a SET tickets = a.tickets - wanted
      WHERE a.event_id = tier.event_id AND a.user_id = buyer;
      DELETE FROM event_allowances a
      WHERE a.event_id = tier.event_id AND a.user_id = buyer AND a.tickets = 0;
      refusal.outcome := 'soldOut';
      RETURN NEXT refusal;
      RETURN;
    END IF;
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
