-- AlterTable
ALTER TABLE "event_snapshots" ADD COLUMN     "admissions_reset_at" TIMESTAMPTZ(3);
