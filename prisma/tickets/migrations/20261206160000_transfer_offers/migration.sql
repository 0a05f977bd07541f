-- CreateEnum
CREATE TYPE "TransferOfferStatus" AS ENUM ('PENDING', 'ACCEPTED', 'DECLINED', 'CANCELLED', 'EXPIRED');

-- CreateTable
CREATE TABLE "ticket_transfer_offers" (
    "id" UUID NOT NULL,
    "ticket_id" UUID NOT NULL,
    "from_user_id" UUID NOT NULL,
    "to_user_id" UUID NOT NULL,
    "status" "TransferOfferStatus" NOT NULL DEFAULT 'PENDING',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "resolved_at" TIMESTAMPTZ(3),

    CONSTRAINT "ticket_transfer_offers_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ticket_transfer_offers_ticket_id_idx" ON "ticket_transfer_offers"("ticket_id");

-- CreateIndex
CREATE INDEX "ticket_transfer_offers_from_user_id_status_created_at_idx" ON "ticket_transfer_offers"("from_user_id", "status", "created_at");

-- CreateIndex
CREATE INDEX "ticket_transfer_offers_to_user_id_status_created_at_idx" ON "ticket_transfer_offers"("to_user_id", "status", "created_at");

-- At most one pending offer per ticket: a second is refused (TRANSFER_PENDING).
CREATE UNIQUE INDEX "ticket_transfer_offers_one_pending" ON "ticket_transfer_offers"("ticket_id")
  WHERE "status" = 'PENDING';

ALTER TABLE "ticket_transfer_offers" ADD CONSTRAINT "ticket_transfer_offers_other_user"
  CHECK ("from_user_id" <> "to_user_id");
-- Settled exactly when it is no longer pending.
ALTER TABLE "ticket_transfer_offers" ADD CONSTRAINT "ticket_transfer_offers_resolved"
  CHECK (("status" = 'PENDING') = ("resolved_at" IS NULL));

-- An offer to an account being deleted is refused as a transfer to it is (migration
-- `closed_accounts`, whose advisory lock and SQLSTATE it shares): answered RECIPIENT_NOT_FOUND.
CREATE FUNCTION "refuse_offer_to_closed_account"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(hashtextextended('account:' || NEW.to_user_id::text, 0));
  IF EXISTS (SELECT 1 FROM closed_accounts WHERE user_id = NEW.to_user_id) THEN
    RAISE EXCEPTION 'account % is closed', NEW.to_user_id USING ERRCODE = 'TKA01';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER "ticket_transfer_offers_refuse_closed_account" BEFORE INSERT ON "ticket_transfer_offers"
  FOR EACH ROW EXECUTE FUNCTION refuse_offer_to_closed_account();

-- A ticket that is cancelled or refunded, admitted at the door, or changes owner can no
-- longer be given by its offer's giver: its pending offer is cancelled in the same
-- transaction. The accept marks its own offer ACCEPTED before moving the ticket, so it is
-- not caught by this. Every such statement already holds the ticket's row, which an accept
-- locks first too, so the offer's row is always taken after the ticket's.
CREATE FUNCTION "void_transfer_offers"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ticket_transfer_offers SET status = 'CANCELLED', resolved_at = now()
  WHERE ticket_id = NEW.id AND status = 'PENDING';
  RETURN NULL;
END;
$$;

CREATE TRIGGER "tickets_void_transfer_offers"
  AFTER UPDATE OF "status", "checked_in_at", "owner_id" ON "tickets"
  FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status
        OR NEW.owner_id IS DISTINCT FROM OLD.owner_id
        OR (NEW.checked_in_at IS NOT NULL AND OLD.checked_in_at IS NULL))
  EXECUTE FUNCTION void_transfer_offers();
