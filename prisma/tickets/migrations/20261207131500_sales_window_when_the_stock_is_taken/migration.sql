-- A purchase or a hold judged the tier's sales window by now(), the time its transaction
-- began: one that waited for a busy tier's row (another sale writing it) past the end of
-- the sales still took the stock when the row came free, as if it were still before the
-- end. The sale is made when the stock is taken, so the window is judged then, by the
-- database's clock at that moment (clock_timestamp()): in the conditional update that
-- takes the stock, whose condition is evaluated again on the row as it is once the other
-- writer commits, and in a group's check of the row it has locked. A sale that reaches the
-- stock after the end is refused (windowClosed, SALES_CLOSED) and changes nothing, however
-- long before the end it was asked. The function reads the clock, so it is VOLATILE now.
-- Every other line is as before.
CREATE OR REPLACE FUNCTION "tier_refused"(tier ticket_tiers, wanted int) RETURNS purchase_row
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  refusal purchase_row;
  at timestamptz := clock_timestamp();
BEGIN
  IF tier.sales_start_at > at OR tier.sales_end_at <= at THEN
    refusal.outcome := 'windowClosed';
    refusal.tier_sales_start_at := tier.sales_start_at;
    refusal.tier_sales_end_at := tier.sales_end_at;
  ELSIF wanted > tier.max_per_order THEN
    refusal.outcome := 'orderLimitExceeded';
    refusal.tier_max_per_order := tier.max_per_order;
  END IF;
  RETURN refusal;
END
$$;
