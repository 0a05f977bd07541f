-- Orders and refunds: an order's status, currency and refunded amount; refunds, each
-- ticket refunded at most once; what the offline payment provider was asked to do; and
-- purchase_tickets setting the order's currency (every other line of it as before).

-- CreateEnum
CREATE TYPE "OrderStatus" AS ENUM ('CONFIRMED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "RefundReason" AS ENUM ('BUYER', 'ORGANIZER', 'ADMIN', 'EVENT_CANCELLED');

-- AlterTable
ALTER TABLE "orders" ADD COLUMN     "currency" CHAR(3),
ADD COLUMN     "refunded_cents" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "status" "OrderStatus" NOT NULL DEFAULT 'CONFIRMED';

-- Existing orders: the currency of their tier (every order has tickets of one tier: the
-- purchase writes both in one statement), and CANCELLED when every ticket was cancelled
-- (by the buyer or the event's cancellation, before refunds were recorded: nothing was
-- refunded). An order without tickets would stop the migration here, as it should.
UPDATE "orders" o SET "currency" = tt."currency"
FROM "tickets" t JOIN "ticket_tiers" tt ON tt."id" = t."tier_id"
WHERE t."order_id" = o."id";
UPDATE "orders" o SET "status" = 'CANCELLED'
WHERE NOT EXISTS (SELECT 1 FROM "tickets" t WHERE t."order_id" = o."id" AND t."status" = 'ACTIVE');
ALTER TABLE "orders" ALTER COLUMN "currency" SET NOT NULL;

-- CreateTable
CREATE TABLE "refunds" (
    "id" UUID NOT NULL,
    "order_id" UUID NOT NULL,
    "amount_cents" INTEGER NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "reason" "RefundReason" NOT NULL,
    "requested_by" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sent_at" TIMESTAMPTZ(3),
    "provider_reference" TEXT,

    CONSTRAINT "refunds_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "refund_tickets" (
    "ticket_id" UUID NOT NULL,
    "refund_id" UUID NOT NULL,
    "order_id" UUID NOT NULL,

    CONSTRAINT "refund_tickets_pkey" PRIMARY KEY ("ticket_id")
);

-- CreateTable
CREATE TABLE "payment_instructions" (
    "idempotency_key" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "order_id" UUID NOT NULL,
    "amount_cents" INTEGER NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "payment_instructions_pkey" PRIMARY KEY ("idempotency_key")
);

-- CreateIndex
CREATE INDEX "refunds_order_id_idx" ON "refunds"("order_id");

-- CreateIndex
CREATE INDEX "refunds_sent_at_idx" ON "refunds"("sent_at");

-- CreateIndex
CREATE INDEX "refund_tickets_refund_id_idx" ON "refund_tickets"("refund_id");

-- CreateIndex
CREATE INDEX "refund_tickets_order_id_idx" ON "refund_tickets"("order_id");

-- AddForeignKey
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "refund_tickets" ADD CONSTRAINT "refund_tickets_refund_id_fkey" FOREIGN KEY ("refund_id") REFERENCES "refunds"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Invariants the code relies on, whatever a bug does: nothing is refunded beyond what was
-- paid, and no refund is negative.
ALTER TABLE "orders" ADD CONSTRAINT "orders_refunded_within_total"
  CHECK ("refunded_cents" >= 0 AND "refunded_cents" <= "total_cents");
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_amount_not_negative" CHECK ("amount_cents" >= 0);

-- Sets the status and refunded amount of these orders from their tickets and refunds:
-- REFUNDED when every ticket is refunded, PARTIALLY_REFUNDED when some are, CANCELLED when
-- every ticket is cancelled and none refunded, CONFIRMED otherwise. Run after every
-- cancellation and refund, in its transaction, which holds the orders' rows.
CREATE FUNCTION "settle_orders"(for_orders uuid[]) RETURNS void
LANGUAGE sql VOLATILE AS $$
  UPDATE orders o SET
    refunded_cents = s.refunded_cents,
    status = CASE
      WHEN s.tickets > 0 AND s.refunded = s.tickets THEN 'REFUNDED'
      WHEN s.refunded > 0 THEN 'PARTIALLY_REFUNDED'
      WHEN s.tickets > 0 AND s.cancelled = s.tickets THEN 'CANCELLED'
      ELSE 'CONFIRMED'
    END::"OrderStatus"
  FROM (
    SELECT o.id,
      (SELECT count(*) FROM tickets t WHERE t.order_id = o.id) AS tickets,
      (SELECT count(*) FROM tickets t WHERE t.order_id = o.id AND t.status = 'CANCELLED') AS cancelled,
      (SELECT count(*) FROM refund_tickets r WHERE r.order_id = o.id) AS refunded,
      (SELECT coalesce(sum(r.amount_cents), 0)::int FROM refunds r WHERE r.order_id = o.id) AS refunded_cents
    FROM orders o WHERE o.id = ANY(for_orders)
  ) s
  WHERE o.id = s.id
$$;

-- Records the refund of these just-cancelled tickets of one order: their share of the
-- order's total (all of an order's tickets have one price), in the order's currency.
-- Returns the refund's id. A ticket refunded before fails refund_tickets' key.
CREATE FUNCTION "record_refund"(for_order uuid, ticket_ids uuid[], why "RefundReason", asked_by uuid)
RETURNS uuid
LANGUAGE sql VOLATILE AS $$
  WITH refund AS (
    INSERT INTO refunds (id, order_id, amount_cents, currency, reason, requested_by)
    SELECT uuid_v7(), o.id,
           o.total_cents / (SELECT count(*) FROM tickets t WHERE t.order_id = o.id) * cardinality(ticket_ids),
           o.currency, why, asked_by
    FROM orders o WHERE o.id = for_order
    RETURNING id
  ), recorded AS (
    INSERT INTO refund_tickets (ticket_id, refund_id, order_id)
    SELECT unnest(ticket_ids), refund.id, for_order FROM refund
  )
  SELECT id FROM refund
$$;

-- An event's cancellation: cancels its active tickets and refunds each order's, one
-- refund per order, with no restock (its tiers are emptied by the cascade). Run in the
-- cascade's transaction, which holds the event's snapshot, so it happens once however
-- often the change is delivered. Returns how many orders were refunded.
CREATE FUNCTION "refund_event_orders"(for_event uuid) RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  refunded uuid[];
BEGIN
  WITH cancelled AS (
    UPDATE tickets t SET status = 'CANCELLED', cancelled_at = now()
    WHERE t.event_id = for_event AND t.status = 'ACTIVE'
    RETURNING t.id, t.order_id
  ), per_order AS (
    SELECT c.order_id, array_agg(c.id ORDER BY c.id) AS ticket_ids
    FROM cancelled c WHERE c.order_id IS NOT NULL GROUP BY c.order_id
  ), refund AS (
    INSERT INTO refunds (id, order_id, amount_cents, currency, reason)
    SELECT uuid_v7(), o.id,
           o.total_cents / (SELECT count(*) FROM tickets t WHERE t.order_id = o.id) * cardinality(p.ticket_ids),
           o.currency, 'EVENT_CANCELLED'
    FROM per_order p JOIN orders o ON o.id = p.order_id
    RETURNING id, order_id
  ), recorded AS (
    INSERT INTO refund_tickets (ticket_id, refund_id, order_id)
    SELECT unnest(p.ticket_ids), r.id, r.order_id FROM refund r JOIN per_order p USING (order_id)
  )
  SELECT coalesce(array_agg(r.order_id), '{}') INTO refunded FROM refund r;
  PERFORM settle_orders(refunded);
  RETURN cardinality(refunded);
END
$$;

-- purchase_tickets answers with the order's new columns too.
ALTER TYPE "purchase_row"
  ADD ATTRIBUTE order_currency text,
  ADD ATTRIBUTE order_status text,
  ADD ATTRIBUTE order_refunded_cents int;

CREATE OR REPLACE FUNCTION "order_placed"(outcome text, placed uuid) RETURNS SETOF purchase_row
LANGUAGE sql STABLE AS $$
  SELECT $1, o.id, o.total_cents, o.created_at,
         t.id, t.tier_id, t.event_id, t.status::text, t.code, t.purchased_at, t.cancelled_at,
         t.owner_id, t.token_version, t.checked_in_at, t.checked_in_by,
         o.currency::text, o.status::text, o.refunded_cents
  FROM orders o JOIN tickets t ON t.order_id = o.id
  WHERE o.id = $2
  ORDER BY t.id
$$;

-- As in migration purchase_in_one_statement, with the order's currency: the tier's.
-- Buys `quantity` tickets of `tier_id`, or the tickets of the buyer's hold `hold_id` (give
-- one or the other), for `buyer_id`, once per `idempotency_key`. Returns one row per
-- ticket of the order (created or replayed, with each ticket as it is now), or a single
-- row whose `outcome` names the refusal: keyInUse, keyReused, salesClosed, holdNotFound,
-- holdExpired, limitReached, soldOut.
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
  INSERT INTO orders (id, buyer_id, idempotency_key, request_hash, total_cents, currency)
  VALUES (placed, buyer, purchase_tickets.idempotency_key, purchase_tickets.request_hash,
          tier.price_cents * wanted, tier.currency);
  INSERT INTO tickets (id, tier_id, event_id, owner_id, code, order_id)
  SELECT uuid_v7(), tier.id, tier.event_id, buyer, ticket_code(), placed
  FROM generate_series(1, wanted);
  RETURN QUERY SELECT * FROM order_placed('created', placed);
END
$$;
