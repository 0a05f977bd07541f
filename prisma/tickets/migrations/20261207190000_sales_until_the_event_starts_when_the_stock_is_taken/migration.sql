-- A sale was judged against the event's start when the purchase read the event, at the
-- start of its transaction (now()): one that then waited for a busy tier's row (another
-- sale writing it) past the start still took the stock once the row came free. The sale is
-- made when the stock is taken, so the start is judged then, by the database's clock, as
-- the tier's sales window already is (migration sales_window_when_the_stock_is_taken):
-- tier_refused, which the conditional update that takes the stock and a group's check of
-- its locked row both call, now also refuses once the event has started (salesClosed, as
-- the early look at the event answers). The event's snapshot is locked FOR SHARE by every
-- sale before its stock, so the start it reads cannot move under it.
--
-- A purchase of a hold takes no new stock, but moves its hold's quantity from held to sold:
-- that update now holds the same condition, and a purchase that reaches it after the start
-- gives the hold back as it was and is refused. A hold (made by the service, not here) takes
-- its stock under tier_refused too. Every other line is as before.

CREATE OR REPLACE FUNCTION "tier_refused"(tier ticket_tiers, wanted int) RETURNS purchase_row
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  refusal purchase_row;
  at timestamptz := clock_timestamp();
BEGIN
  IF (SELECT s.starts_at FROM event_snapshots s WHERE s.event_id = tier.event_id) <= at THEN
    refusal.outcome := 'salesClosed';
  ELSIF tier.sales_start_at > at OR tier.sales_end_at <= at THEN
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

-- purchase_tickets (migration hold_answers_with_its_order), with the event's start judged as
-- a hold's quantity moves from held to sold.
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
  -- The price of the order: the hold's, or the tier's as the stock is taken.
  order_price_cents int;
  order_currency char(3);
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
    SELECT h.quantity, h.price_cents, h.currency INTO wanted, order_price_cents, order_currency FROM holds h
    WHERE h.id = purchase_tickets.hold_id AND h.user_id = buyer;
    IF NOT FOUND THEN
      refusal.outcome := 'holdNotFound';
      RETURN NEXT refusal;
      RETURN;
    END IF;
    SELECT t.* INTO tier FROM ticket_tiers t
    WHERE t.id = (SELECT h.tier_id FROM holds h WHERE h.id = purchase_tickets.hold_id);
    -- A hold is bought at its own price. Its quantity was within the tier's limit per order
    -- at that price when it was made, but a hold made before that rule held may not be:
    -- a total that would not fit the order's integer column is refused as an order over
    -- the tier's limit, nothing kept.
    IF order_price_cents::bigint * wanted > 2147483647 THEN
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
      -- Bought already, by another request of its buyer with another key (a second tab,
      -- which waited above for the first to commit): that order is this purchase's too.
      SELECT h.order_id INTO placed FROM holds h
      WHERE h.id = purchase_tickets.hold_id AND h.status = 'PURCHASED';
      IF placed IS NOT NULL THEN
        RETURN QUERY SELECT * FROM order_placed('replayed', placed);
        RETURN;
      END IF;
      refusal.outcome := 'holdExpired';
      RETURN NEXT refusal;
      RETURN;
    END IF;
    -- The event's start is judged as the stock moves, as the tier's rules are: a purchase
    -- that waited for the busy tier's row past the start gives the hold back, unbought.
    UPDATE ticket_tiers t SET held = t.held - wanted, sold = t.sold + wanted, updated_at = now()
    WHERE t.id = tier.id AND (tier_refused(t, 0)).outcome IS DISTINCT FROM 'salesClosed';
    IF NOT FOUND THEN
      UPDATE holds h SET status = 'ACTIVE' WHERE h.id = purchase_tickets.hold_id;
      refusal.outcome := 'salesClosed';
      RETURN NEXT refusal;
      RETURN;
    END IF;
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
    order_price_cents := tier.price_cents;
    order_currency := tier.currency;
  END IF;

  placed := uuid_v7();
  INSERT INTO orders (id, buyer_id, idempotency_key, request_hash, total_cents, currency)
  VALUES (placed, buyer, purchase_tickets.idempotency_key, purchase_tickets.request_hash,
          order_price_cents * wanted, order_currency);
  INSERT INTO tickets (id, tier_id, event_id, owner_id, code, order_id)
  SELECT uuid_v7(), tier.id, tier.event_id, buyer, ticket_code(), placed
  FROM generate_series(1, wanted);
  IF purchase_tickets.hold_id IS NOT NULL THEN
    UPDATE holds h SET order_id = placed WHERE h.id = purchase_tickets.hold_id;
  END IF;
  RETURN QUERY SELECT * FROM order_placed('created', placed);
END
$$;
