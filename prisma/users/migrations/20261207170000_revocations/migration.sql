-- The revocations of the last 15½ minutes (migration `revocations`), so that a Redis that
-- lost them is given them again. A new table: a replica still running the previous code
-- writes none, and keeps working beside it.

-- CreateTable
CREATE TABLE "revocations" (
    "id" BIGSERIAL NOT NULL,
    "kind" TEXT NOT NULL,
    "subject_id" TEXT NOT NULL,
    "before" INTEGER,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "revocations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "revocations_expires_at_idx" ON "revocations"("expires_at");
