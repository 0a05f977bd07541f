-- A tier created again with its idempotency key must find the tier the key made, not make a
-- second: the key is unique per creator, and kept with a hash of what was asked for, since
-- the tier itself may be changed after. Null for tiers made without a key.
-- AlterTable
ALTER TABLE "ticket_tiers" ADD COLUMN     "created_by" UUID,
ADD COLUMN     "idempotency_key" TEXT,
ADD COLUMN     "request_hash" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "ticket_tiers_created_by_idempotency_key_key" ON "ticket_tiers"("created_by", "idempotency_key");
