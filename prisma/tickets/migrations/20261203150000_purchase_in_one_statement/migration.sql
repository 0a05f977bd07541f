-- A purchase in one statement: the whole transaction of PurchaseRepository.purchase as a
-- function, so that a sale costs one round trip to the database instead of about nine,
-- while the hot tier's row waits for none of them. Every guarantee of the transaction it
-- replaces is kept, in the same order:
--
--   1. The (buyer, idempotency key) pair is locked with `pg_try_advisory_xact_lock`, so a
--      concurrent request with the same key is told `keyInUse` at once; a replay finds the
--      committed order (`replayed`) or a different request under the key (`keyReused`).
--   2. The event's snapshot is read `FOR SHARE`: a cancellation waits for this sale to
--      commit and its cascade then sees the tickets; a sale that starts after the
--      cancellation waits for it and is refused (`salesClosed`).
--   3. The buyer's allowance row, then the tier's row: the lock order of every transaction
--      on stock (cancellation, hold expiry, holds), so that none waits on another in a
--      circle. The stock update is conditional, under the CHECK constraint
--      `sold + held <= capacity`, so nothing oversells whatever runs at the same time.
--   4. The order and its tickets, last: the hot row stays locked only for these inserts,
--      inside the server, and the commit.
--
-- An outcome other than `created` or `replayed` changes nothing a buyer can see: the only
-- writes that may stay are the return of holds that had expired already (what the sweeper
-- does anyway). Expired holds the sweeper has not returned yet are returned here only when
-- they are what stands in the way, as before.

-- A version 7 UUID (time-ordered, as Prisma's `uuid(7)` makes them): 48 bits of Unix
-- milliseconds, then the random bits of a version 4 UUID with its version set to 7.
CREATE FUNCTION "uuid_v7"() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(
    set_bit(
      set_bit(
        overlay(uuid_send(gen_random_uuid())
                placing substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                FROM 1 FOR 6),
        52, 1),
      53, 1),
    'hex')::uuid
$$;

-- A ticket's code: 128 random bits in base64url, unguessable, so that a code proves
-- possession of the ticket (two version 4 UUIDs, from the server's strong random source,
-- give 244 random bits; the first 128 bits of their SHA-256 are uniform).
CREATE FUNCTION "ticket_code"() RETURNS text
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT translate(
    rtrim(encode(substring(sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())) FROM 1 FOR 16), 'base64'), '='),
    '+/', '-_')
$$;

-- Returns the expired holds matching the filters (NULL: any) to their tiers and their
-- allowance to their buyers; says whether any expired: the statement of
-- PurchaseRepository.expireHolds, for purchase_tickets. (The service's hold sweeper keeps
-- its own copy, whose SQL the statement counts of tests and benchmarks recognise as
-- background work.) Allowances before tiers: the main query updates the allowances, and
-- PostgreSQL runs `restocked`, which the main query does not read, after it has finished.
CREATE FUNCTION "expire_holds"(for_tier uuid, for_user uuid, for_event uuid) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
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
    SELECT t.event_id, e.user_id, sum(e.quantity)::int AS quantity
    FROM expired e JOIN ticket_tiers t ON t.id = e.tier_id
    GROUP BY t.event_id, e.user_id
  ), given_back AS (
    UPDATE event_allowances a SET tickets = a.tickets - r.quantity
    FROM returned r WHERE a.event_id = r.event_id AND a.user_id = r.user_id
    RETURNING 1
  )
  SELECT count(*) > 0 FROM given_back
$$;

-- Takes `wanted` of a buyer's allowance for an event, within `cap`; says whether it could.
-- An allowance that would go past the cap is left as it was, and locked until commit.
CREATE FUNCTION "take_allowance"(for_event uuid, for_user uuid, wanted int, cap int) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
  WITH taken AS (
    INSERT INTO event_allowances AS a (event_id, user_id, tickets)
    VALUES (for_event, for_user, wanted)
    ON CONFLICT ON CONSTRAINT event_allowances_pkey
    DO UPDATE SET tickets = a.tickets + EXCLUDED.tickets
    WHERE a.tickets + EXCLUDED.tickets <= cap
    RETURNING 1
  )
  SELECT count(*) > 0 FROM taken
$$;

-- Sells `wanted` of a tier's stock if that much is left; says whether it did.
CREATE FUNCTION "take_stock"(for_tier uuid, wanted int) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
  WITH taken AS (
    UPDATE ticket_tiers t SET sold = t.sold + wanted, updated_at = now()
    WHERE t.id = for_tier AND t.sold + t.held + wanted <= t.capacity
    RETURNING 1
  )
  SELECT count(*) > 0 FROM taken
$$;


-- What purchase_tickets answers: a ticket of the order, or a refusal with only `outcome`.
CREATE TYPE "purchase_row" AS (
  outcome text,
  order_id uuid,
  order_total_cents int,
  order_created_at timestamptz,
  ticket_id uuid,
  ticket_tier_id uuid,
  ticket_event_id uuid,
  ticket_status text,
  ticket_code text,
  ticket_purchased_at timestamptz,
  ticket_cancelled_at timestamptz,
  ticket_owner_id uuid,
  ticket_token_version int,
  ticket_checked_in_at timestamptz,
  ticket_checked_in_by uuid
);

-- An order and its tickets as purchase_tickets returns them, tickets by id.
CREATE FUNCTION "order_placed"(outcome text, placed uuid) RETURNS SETOF purchase_row
LANGUAGE sql STABLE AS $$
  SELECT $1, o.id, o.total_cents, o.created_at,
         t.id, t.tier_id, t.event_id, t.status::text, t.code, t.purchased_at, t.cancelled_at,
         t.owner_id, t.token_version, t.checked_in_at, t.checked_in_by
  FROM orders o JOIN tickets t ON t.order_id = o.id
  WHERE o.id = $2
  ORDER BY t.id
$$;

-- Buys `quantity` tickets of `tier_id`, or the tickets of the buyer's hold `hold_id` (give
-- one or the other), for `buyer_id`, once per `idempotency_key`. Returns one row per
-- ticket of the order (created or replayed, with each ticket as it is now), or a single
-- row whose `outcome` names the refusal: keyInUse, keyReused, salesClosed, holdNotFound,
-- holdExpired, limitReached, soldOut.
CREATE FUNCTION "purchase_tickets"(
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
  -- A refusal is one row with only `outcome` set.
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
  ELSE
    SELECT t.* INTO tier FROM ticket_tiers t WHERE t.id = purchase_tickets.tier_id;
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
  INSERT INTO orders (id, buyer_id, idempotency_key, request_hash, total_cents)
  VALUES (placed, buyer, purchase_tickets.idempotency_key, purchase_tickets.request_hash,
          tier.price_cents * wanted);
  INSERT INTO tickets (id, tier_id, event_id, owner_id, code, order_id)
  SELECT uuid_v7(), tier.id, tier.event_id, buyer, ticket_code(), placed
  FROM generate_series(1, wanted);
  RETURN QUERY SELECT * FROM order_placed('created', placed);
END
$$;
