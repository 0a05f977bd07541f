-- CreateExtension
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- AlterTable
ALTER TABLE "events" ADD COLUMN     "cancellation_reason" TEXT,
ADD COLUMN     "cancelled_at" TIMESTAMPTZ(3),
ADD COLUMN     "city_key" TEXT,
ADD COLUMN     "published_at" TIMESTAMPTZ(3),
ADD COLUMN     "version" INTEGER NOT NULL DEFAULT 1;

-- Backfill (added to the generated migration): existing events get their city key, then
-- the column becomes required as schema.prisma says.
UPDATE "events" SET "city_key" = lower("city");
ALTER TABLE "events" ALTER COLUMN "city_key" SET NOT NULL;

-- Not expressible in schema.prisma (added to the generated migration): an event ends after
-- it starts, whatever writes the row.
ALTER TABLE "events" ADD CONSTRAINT "events_ends_after_start" CHECK ("ends_at" IS NULL OR "ends_at" > "starts_at");

-- CreateTable
CREATE TABLE "outbox_messages" (
    "sequence" BIGSERIAL NOT NULL,
    "topic" TEXT NOT NULL,
    "event_id" UUID NOT NULL,
    "payload" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "claimed_until" TIMESTAMPTZ(3),
    "delivered_at" TIMESTAMPTZ(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "outbox_messages_pkey" PRIMARY KEY ("sequence")
);

-- CreateIndex
CREATE INDEX "outbox_messages_delivered_at_sequence_idx" ON "outbox_messages"("delivered_at", "sequence");

-- CreateIndex
CREATE INDEX "events_starts_at_id_idx" ON "events"("starts_at", "id");

-- CreateIndex
CREATE INDEX "events_city_key_starts_at_id_idx" ON "events"("city_key", "starts_at", "id");

-- CreateIndex
CREATE INDEX "events_title_trgm_idx" ON "events" USING GIN ("title" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "events_venue_trgm_idx" ON "events" USING GIN ("venue" gin_trgm_ops);
