-- The account's advisory lock (migration `closed_accounts`), named once: a closing takes it
-- exclusively, whatever gives the account something new takes it shared. The key is the one
-- the earlier statements spelled out (`hashtextextended('account:' || id, 0)` over the uuid's
-- canonical text), so that a release still spelling it out and this one lock alike while
-- both run. Given a uuid, not text: an id in another case is the same account and the same lock.
CREATE FUNCTION "lock_account"(account uuid, shared boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF shared THEN
    PERFORM pg_advisory_xact_lock_shared(hashtextextended('account:' || account::text, 0));
  ELSE
    PERFORM pg_advisory_xact_lock(hashtextextended('account:' || account::text, 0));
  END IF;
END;
$$;

CREATE OR REPLACE FUNCTION "refuse_closed_account"() RETURNS trigger
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
  PERFORM lock_account(account, true);
  IF EXISTS (SELECT 1 FROM closed_accounts WHERE user_id = account) THEN
    RAISE EXCEPTION 'account % is closed', account USING ERRCODE = 'TKA01';
  END IF;
  RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION "refuse_offer_to_closed_account"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM lock_account(NEW.to_user_id, true);
  IF EXISTS (SELECT 1 FROM closed_accounts WHERE user_id = NEW.to_user_id) THEN
    RAISE EXCEPTION 'account % is closed', NEW.to_user_id USING ERRCODE = 'TKA01';
  END IF;
  RETURN NEW;
END;
$$;
