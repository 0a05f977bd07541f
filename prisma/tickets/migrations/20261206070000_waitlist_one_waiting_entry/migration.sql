-- A buyer whose waitlist offer was bought stayed on the tier's waitlist for good: the entry
-- stays OFFERED (every unit asked for was offered), and the unique index of live entries
-- covered OFFERED ones, so joining the tier's queue again, once it had sold out again, was
-- ALREADY_ON_WAITLIST for as long as the tier existed. The index now keeps one WAITING
-- entry per buyer and tier. An OFFERED entry with an offer still open is refused by the
-- join itself, under the tier's row lock that every offer, purchase and release of an
-- offer takes; one whose offers were all bought no longer stands in the way.

DROP INDEX "waitlist_entries_one_live_per_buyer";

CREATE UNIQUE INDEX "waitlist_entries_one_waiting_per_buyer" ON "waitlist_entries"("tier_id", "user_id")
  WHERE "status" = 'WAITING';
