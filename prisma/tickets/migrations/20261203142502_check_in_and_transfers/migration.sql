-- CreateEnum
CREATE TYPE "CheckInAction" AS ENUM ('ADMIT', 'UNDO');

-- AlterTable
ALTER TABLE "tickets" ADD COLUMN     "checked_in_at" TIMESTAMPTZ(3),
ADD COLUMN     "checked_in_by" UUID,
ADD COLUMN     "token_version" INTEGER NOT NULL DEFAULT 1;

-- CreateTable
CREATE TABLE "door_staff" (
    "event_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "added_by" UUID NOT NULL,
    "added_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "door_staff_pkey" PRIMARY KEY ("event_id","user_id")
);

-- CreateTable
CREATE TABLE "check_ins" (
    "id" UUID NOT NULL,
    "ticket_id" UUID NOT NULL,
    "event_id" UUID NOT NULL,
    "action" "CheckInAction" NOT NULL,
    "staff_id" UUID NOT NULL,
    "scanned_at" TIMESTAMPTZ(3) NOT NULL,
    "offline" BOOLEAN NOT NULL DEFAULT false,
    "recorded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "check_ins_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ticket_transfers" (
    "id" UUID NOT NULL,
    "ticket_id" UUID NOT NULL,
    "from_user_id" UUID NOT NULL,
    "to_user_id" UUID NOT NULL,
    "transferred_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ticket_transfers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "event_signing_keys" (
    "event_id" UUID NOT NULL,
    "kid" TEXT NOT NULL,
    "private_jwk" JSONB NOT NULL,
    "public_jwk" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "event_signing_keys_pkey" PRIMARY KEY ("event_id")
);

-- CreateIndex
CREATE INDEX "door_staff_user_id_idx" ON "door_staff"("user_id");

-- CreateIndex
CREATE INDEX "check_ins_ticket_id_idx" ON "check_ins"("ticket_id");

-- CreateIndex
CREATE INDEX "check_ins_event_id_recorded_at_idx" ON "check_ins"("event_id", "recorded_at");

-- CreateIndex
CREATE INDEX "ticket_transfers_ticket_id_idx" ON "ticket_transfers"("ticket_id");

-- CreateIndex
CREATE UNIQUE INDEX "event_signing_keys_kid_key" ON "event_signing_keys"("kid");

-- A ticket is admitted by someone at some time, or not at all. A token version only grows
-- from 1.
ALTER TABLE "tickets" ADD CONSTRAINT "tickets_check_in"
  CHECK (("checked_in_at" IS NULL) = ("checked_in_by" IS NULL));
ALTER TABLE "tickets" ADD CONSTRAINT "tickets_token_version" CHECK ("token_version" >= 1);
ALTER TABLE "ticket_transfers" ADD CONSTRAINT "ticket_transfers_other_user"
  CHECK ("from_user_id" <> "to_user_id");
