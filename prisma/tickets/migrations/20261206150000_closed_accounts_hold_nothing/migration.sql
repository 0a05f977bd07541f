-- A closed account makes no hold either (migration `closed_accounts`): a hold made in the
-- instant between the closing and the account's deletion would keep its stock until it
-- expired. A hold takes the account's advisory lock shared and looks for its row, as an order
-- does, so that it either committed before the closing, which then releases it, or is refused
-- whole (TKA01), its stock given back. Waitlist offers are holds made for the entry's buyer
-- inside other statements (an expiry, a refund): they stay allowed, and the closing releases
-- them with the account's waitlist entries, as it releases every hold that came first.
CREATE TRIGGER "holds_refuse_closed_account" BEFORE INSERT ON "holds"
  FOR EACH ROW WHEN (NEW.waitlist_entry_id IS NULL)
  EXECUTE FUNCTION refuse_closed_account();
