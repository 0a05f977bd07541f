-- purchase_tickets decides what the tickets service read the tier for before calling it:
-- whether the tier exists, whether its own sales window is open, and whether the order
-- is within the tier's limit per order. A purchase is then one statement, one round trip.
-- These checks come first, before the idempotency key's lock, as they did when the service
-- made them: they read the tier's row without locking it (as that read did), and a refused
-- request changes nothing. Every other line of the function is as in migration
-- orders_and_refunds.

-- The detail of these refusals, for the error messages: the tier's sales window, and its
-- limit per order.
ALTER TYPE "purchase_row"
  ADD ATTRIBUTE tier_sales_start_at timestamptz,
  ADD ATTRIBUTE tier_sales_end_at timestamptz,
  ADD ATTRIBUTE tier_max_per_order int;

CREATE OR REPLACE FUNCTION "order_placed"(outcome text, placed uuid) RETURNS SETOF purchase_row
LANGUAGE sql STABLE AS $$
  SELECT $1, o.id, o.total_cents, o.created_at,
         t.id, t.tier_id, t.event_id, t.status::text, t.code, t.purchased_at, t.cancelled_at,
         t.owner_id, t.token_version, t.checked_in_at, t.checked_in_by,
         o.currency::text, o.status::text, o.refunded_cents,
         NULL::timestamptz, NULL::timestamptz, NULL::int
  FROM orders o JOIN tickets t ON t.order_id = o.id
  WHERE o.id = $2
  ORDER BY t.id
$$;

-- Buys `quantity` tickets of `tier_id`, or the tickets of the buyer's hold `hold_id` (give
-- one or the other), for `buyer_id`, once per `idempotency_key`. Returns one row per
-- ticket of the order (created or replayed, with each ticket as it is now), or a single
-- row whose `outcome` names the refusal: tierNotFound, windowClosed (with the tier's
-- sales window), orderLimitExceeded (with the tier's limit per order), keyInUse,
-- keyReused, salesClosed, holdNotFound, holdExpired, limitReached, soldOut.
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
