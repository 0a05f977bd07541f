-- A draft deleted while a tier or door staff was being named for it left that row for an
-- event that no longer exists. The events service now reports each deletion through its
-- outbox; the deletion is kept here, so that a naming that comes after it is refused.
CREATE TABLE "deleted_events" (
    "event_id" UUID NOT NULL,
    "deleted_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "deleted_events_pkey" PRIMARY KEY ("event_id")
);
