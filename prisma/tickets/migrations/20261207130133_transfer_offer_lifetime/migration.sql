-- A transfer offer ends TRANSFER_OFFER_HOURS after it was made or at the event's start,
-- whichever is first; when the event is postponed, its expiry goes back to the later of the
-- two, so the offer's own lifetime is kept beside it. Added nullable, without a backfill:
-- what an offer made before (or by a pod of the release before) would have lasted without
-- the start is not known, and such an offer keeps its expiry when the event moves later.
-- AlterTable
ALTER TABLE "ticket_transfer_offers" ADD COLUMN     "lifetime_ends_at" TIMESTAMPTZ(3);
