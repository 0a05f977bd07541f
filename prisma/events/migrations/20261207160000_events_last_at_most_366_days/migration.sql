-- An event ends at most 366 days after it starts. The service checks each edit against the
-- event as it read it; two edits at once (one moving the start earlier, the other the end
-- later) each fit that, and together did not. The database now refuses the second, as it
-- refuses an end before the start (events_ends_after_start). NOT VALID: rows written before
-- the rule are not checked until they change. In hours, as the service counts: a day added to
-- a timestamptz follows the session's time zone, 23 or 25 hours across a clock change.
ALTER TABLE "events" ADD CONSTRAINT "events_last_at_most_366_days"
  CHECK ("ends_at" IS NULL OR "ends_at" <= "starts_at" + interval '8784 hours') NOT VALID;
