-- A hold was bought at the tier's price at checkout, not the price the buyer saw when the
-- hold was made: an organizer who raised the price in between charged the buyer more for
-- seats already reserved. A hold now keeps the price and currency of its tier as it
-- reserved the stock (the tier's row locked by the hold's transaction), and a purchase of
-- the hold is charged that price, whatever the tier's price has become since, up or down:
-- the held price is the buyer's contract. A purchase without a hold pays the tier's price
-- as it takes the stock.
--
-- Holds made before this migration keep the price their tier has now: the price they were
-- made at was not recorded.

ALTER TABLE "holds" ADD COLUMN "price_cents" INTEGER, ADD COLUMN "currency" CHAR(3);
UPDATE "holds" h SET "price_cents" = t."price_cents", "currency" = t."currency"
FROM "ticket_tiers" t WHERE t."id" = h."tier_id";
ALTER TABLE "holds" ALTER COLUMN "price_cents" SET NOT NULL, ALTER COLUMN "currency" SET NOT NULL;

-- purchase_tickets (migration tier_rules_under_the_stock_lock), with the hold's price for a
-- purchase of a hold. Every other line is as before.
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
  RETURN QUERY SELECT * FROM order_placed('created', placed);
END
$$;

-- offer_waitlist (migration waitlist_offers_within_the_sales_window), with the offer's hold
-- keeping the price of the tier it locked. Every other line is as before.
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
    INSERT INTO holds (id, tier_id, user_id, quantity, price_cents, currency, expires_at,
                       waitlist_entry_id)
    VALUES (uuid_v7(), for_tier, entry.user_id, offered, tier.price_cents, tier.currency,
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
