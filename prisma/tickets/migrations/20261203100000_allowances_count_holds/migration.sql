-- Holds now count toward the per-person cap with tickets: a hold takes its buyer's
-- allowance when it is made and gives it back when it expires. Recount every allowance
-- from the active tickets and active holds, so that holds made before this change are
-- counted too, and nothing is given back twice when they expire.
DELETE FROM "event_allowances";

INSERT INTO "event_allowances" ("event_id", "user_id", "tickets")
SELECT "event_id", "user_id", sum("quantity")::int
FROM (
  SELECT "event_id", "owner_id" AS "user_id", 1 AS "quantity"
  FROM "tickets" WHERE "status" = 'ACTIVE'
  UNION ALL
  SELECT t."event_id", h."user_id", h."quantity"
  FROM "holds" h JOIN "ticket_tiers" t ON t."id" = h."tier_id"
  WHERE h."status" = 'ACTIVE'
) AS counted
GROUP BY "event_id", "user_id";
