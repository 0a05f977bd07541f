-- CreateEnum
CREATE TYPE "CheckInReason" AS ENUM ('EVENT_POSTPONED');

-- AlterTable
ALTER TABLE "check_ins" ADD COLUMN     "reason" "CheckInReason",
ALTER COLUMN "staff_id" DROP NOT NULL;

-- Every row of the check-in log names who changed the admission: a member of staff, or the
-- system with its reason (an event postponed resets the admissions made for the old date).
-- The previous release writes staff_id on every row, which this allows unchanged.
ALTER TABLE "check_ins" ADD CONSTRAINT "check_ins_actor"
  CHECK ("staff_id" IS NOT NULL OR "reason" IS NOT NULL);
