-- A tier's attendee list in the sales report pages newest first by (purchased_at, id):
-- this index reads each page in order instead of sorting all the tier's tickets.
-- CreateIndex
CREATE INDEX "tickets_tier_id_purchased_at_id_idx" ON "tickets"("tier_id", "purchased_at", "id");
