-- A hold retried with its idempotency key must find the hold the key made, not make a second:
-- the key is unique per buyer (NULLs, holds made without a key, are all distinct). The
-- service also locks the (buyer, key) pair while it makes the hold; this index stands behind it.
-- AlterTable
ALTER TABLE "holds" ADD COLUMN     "idempotency_key" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "holds_user_id_idempotency_key_key" ON "holds"("user_id", "idempotency_key");
