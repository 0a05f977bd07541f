-- CreateTable
CREATE TABLE "closed_organizers" (
    "user_id" UUID NOT NULL,
    "closed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "closed_organizers_pkey" PRIMARY KEY ("user_id")
);

-- An account being deleted is closed here too (`closeOrganizer`, asked by the tickets
-- service's `closeAccount`): its row is written under the account's advisory lock, held
-- exclusively, after checking that it organizes no published event that is not over. An event
-- becoming PUBLISHED (published, or written published) takes the same lock shared and looks
-- for its organizer's row, so that a publication racing the deletion either commits before
-- the check, which then counts it and refuses the deletion, or is refused itself (TKA01,
-- answered UNAUTHENTICATED, as the tickets database's `closed_accounts` refusals are). The
-- table is new and empty: the previous release's statements work unchanged.
CREATE FUNCTION "refuse_closed_organizer"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(hashtextextended('account:' || NEW.organizer_id::text, 0));
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
