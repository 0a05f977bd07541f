-- An event created again with its idempotency key must find the event the key made, not make
-- a second draft: the key is unique per organizer, and kept with a hash of what was asked
-- for, since the event itself may be changed after. Null for events made without a key.
-- AlterTable
ALTER TABLE "events" ADD COLUMN     "idempotency_key" TEXT,
ADD COLUMN     "request_hash" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "events_idempotency_key_organizer_id_key" ON "events"("idempotency_key", "organizer_id");
