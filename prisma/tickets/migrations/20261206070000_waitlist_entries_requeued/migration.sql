-- A buyer whose waitlist offer was bought stayed on the tier's waitlist for good: the entry
-- stays OFFERED (every unit asked for was offered), the unique index of live entries
-- (WAITING or OFFERED, migration `waitlist`) covers it, so joining the tier's queue again,
-- once it had sold out again, was ALREADY_ON_WAITLIST for as long as the tier existed.
--
-- The index stays as it is: the previous release's join infers it by its predicate
-- (`ON CONFLICT (tier_id, user_id) WHERE status IN ('WAITING', 'OFFERED')`), and its pods
-- keep serving on this schema during the rollout. Instead, a join by a buyer whose OFFERED
-- entry is served (every offer of it bought) first closes that entry, under the tier's row
-- lock: LEFT in the database, so that it no longer holds the index's place, and marked
-- `requeued`, so that `myWaitlist` shows it as it stood (OFFERED). A column with a
-- constant default: added without rewriting the table, and unseen by the previous release.

-- AlterTable
ALTER TABLE "waitlist_entries" ADD COLUMN "requeued" BOOLEAN NOT NULL DEFAULT false;
