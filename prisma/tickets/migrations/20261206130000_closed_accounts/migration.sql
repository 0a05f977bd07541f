-- CreateTable
CREATE TABLE "closed_accounts" (
    "user_id" UUID NOT NULL,
    "closed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "closed_accounts_pkey" PRIMARY KEY ("user_id")
);

-- An account being deleted is closed here first (AccountClosure.ts): its row is written under
-- the account's advisory lock, held exclusively, after checking that it holds no ticket for an
-- event not over. Whatever would give the account something new (an order, a ticket
-- transferred to it, a waitlist entry, a door-staff grant) takes the same lock shared and then
-- looks for the row, so that a purchase racing the deletion either commits before the check,
-- which then sees its tickets and refuses the deletion, or is refused itself, whole. The
-- refusal's SQLSTATE, TKA01, is answered UNAUTHENTICATED ("This account no longer exists").
-- The table is new, and the triggers refuse nothing until a row exists: the previous
-- release's statements work unchanged.
CREATE FUNCTION "refuse_closed_account"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  account uuid;
BEGIN
  IF TG_TABLE_NAME = 'orders' THEN
    account := NEW.buyer_id;
  ELSIF TG_TABLE_NAME = 'tickets' THEN
    account := NEW.owner_id;
  ELSE
    account := NEW.user_id;
  END IF;
  PERFORM pg_advisory_xact_lock_shared(hashtextextended('account:' || account::text, 0));
  IF EXISTS (SELECT 1 FROM closed_accounts WHERE user_id = account) THEN
    RAISE EXCEPTION 'account % is closed', account USING ERRCODE = 'TKA01';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER "orders_refuse_closed_account" BEFORE INSERT ON "orders"
  FOR EACH ROW EXECUTE FUNCTION refuse_closed_account();
CREATE TRIGGER "tickets_refuse_closed_account" BEFORE UPDATE OF "owner_id" ON "tickets"
  FOR EACH ROW WHEN (NEW.owner_id IS DISTINCT FROM OLD.owner_id)
  EXECUTE FUNCTION refuse_closed_account();
CREATE TRIGGER "waitlist_entries_refuse_closed_account" BEFORE INSERT ON "waitlist_entries"
  FOR EACH ROW EXECUTE FUNCTION refuse_closed_account();
CREATE TRIGGER "door_staff_refuse_closed_account" BEFORE INSERT ON "door_staff"
  FOR EACH ROW EXECUTE FUNCTION refuse_closed_account();
