-- The deletion sweeper's lease on a mark (migration `pending_deletion_leases`): claimed in a
-- short statement, held while the sweeper calls the tickets service with no transaction
-- open, and checked by the writes that settle the mark. Nullable columns and a constant
-- default: no rewrite of the table, and a replica still running the previous code (which
-- writes neither) keeps working beside it.

-- AlterTable
ALTER TABLE "pending_deletions" ADD COLUMN     "attempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "lease_token" UUID,
ADD COLUMN     "lease_until" TIMESTAMPTZ(3);
