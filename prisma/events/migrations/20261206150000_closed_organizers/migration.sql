-- CreateTable
CREATE TABLE "closed_organizers" (
    "user_id" UUID NOT NULL,
    "closed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "closed_organizers_pkey" PRIMARY KEY ("user_id")
);

-- An account being deleted is closed here too (`closeOrganizer`, asked by the tickets
-- service's `closeAccount`): its row is written under the account's lock, held
-- exclusively, after checking that it organizes no published event that is not over. An event
-- becoming PUBLISHED (published, or written published) takes the same lock shared and looks
-- for its organizer's row, so that a publication racing the deletion either commits before
-- the check, which then counts it and refuses the deletion, or is refused itself (TKA01,
-- answered UNAUTHENTICATED, as the tickets database's `closed_accounts` refusals are). The
-- table is new and empty: the previous release's statements work unchanged.
--
-- The lock is one of 256 (the organizer's id hashed), not one per organizer: a statement
-- writing many organizers' published events at once (an import) takes at most 256 locks,
-- where one each would exhaust PostgreSQL's lock table (`out of shared memory`). A closing
-- holds its lock for the milliseconds of its check, delaying publications of the organizers
-- that share it, never refusing them.
CREATE FUNCTION "lock_organizer_account"(organizer uuid, shared boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  bucket integer := hashtext('account:' || organizer::text) & 255;
BEGIN
  -- 1329 names these locks among the database's advisory locks (the two-key form).
  IF shared THEN
    PERFORM pg_advisory_xact_lock_shared(1329, bucket);
  ELSE
    PERFORM pg_advisory_xact_lock(1329, bucket);
  END IF;
END;
$$;

CREATE FUNCTION "refuse_closed_organizer"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM lock_organizer_account(NEW.organizer_id, true);
  IF EXISTS (SELECT 1 FROM closed_organizers WHERE user_id = NEW.organizer_id) THEN
    RAISE EXCEPTION 'account % is closed', NEW.organizer_id USING ERRCODE = 'TKA01';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER "events_published_refuse_closed_organizer" BEFORE UPDATE OF "status" ON "events"
  FOR EACH ROW WHEN (NEW.status = 'PUBLISHED' AND OLD.status IS DISTINCT FROM 'PUBLISHED')
  EXECUTE FUNCTION refuse_closed_organizer();
CREATE TRIGGER "events_inserted_refuse_closed_organizer" BEFORE INSERT ON "events"
  FOR EACH ROW WHEN (NEW.status = 'PUBLISHED')
  EXECUTE FUNCTION refuse_closed_organizer();
