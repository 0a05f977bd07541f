-- Voids transfer offers once per statement instead of once per ticket (migration
-- `transfer_offers`): the row trigger ran an UPDATE of `ticket_transfer_offers` for every
-- ticket a statement cancelled, admitted or moved, so cancelling an event of 50,000 tickets
-- ran 50,000 of them. The statement trigger below runs one, joining the statement's old and
-- new rows (its transition tables) to the pending offers.
-- The rule is unchanged: a ticket whose status or owner changed, or that was admitted (its
-- `checked_in_at` set where it was null), has its pending offer cancelled in the same
-- transaction; an undone admission voids nothing, and brings nothing back. The accept marks
-- its own offer ACCEPTED before moving the ticket, so it is not caught by this.
--
-- PostgreSQL allows no column list (`UPDATE OF`) on a trigger with transition tables, so it
-- fires after every UPDATE of `tickets`, and compares the rows itself. The offer rows are
-- still taken after every ticket row the statement took, as before. PostgreSQL keeps no
-- statistics of transition tables, and guessed a merge join that sorted both of them (to
-- disk, for 20,000 tickets) where hash joins read each once: the function turns merge joins
-- (and JIT, whose compiling costs more than the statement) off for its own statement. A
-- statement of one ticket finds its offer through the partial unique index of pending ones.
--
-- The function and the trigger are replaced in this migration's one transaction: a running
-- older replica's statements are voided by the new trigger exactly as by the old.
DROP TRIGGER "tickets_void_transfer_offers" ON "tickets";
DROP FUNCTION "void_transfer_offers"();

CREATE FUNCTION "void_transfer_offers_of_changed_tickets"() RETURNS trigger
LANGUAGE plpgsql
SET enable_mergejoin = off SET jit = off AS $$
BEGIN
  UPDATE ticket_transfer_offers o SET status = 'CANCELLED', resolved_at = now()
  FROM new_tickets nt JOIN old_tickets ot ON ot.id = nt.id
  WHERE o.ticket_id = nt.id AND o.status = 'PENDING'
    AND (nt.status IS DISTINCT FROM ot.status
         OR nt.owner_id IS DISTINCT FROM ot.owner_id
         OR (nt.checked_in_at IS NOT NULL AND ot.checked_in_at IS NULL));
  RETURN NULL;
END;
$$;

CREATE TRIGGER "tickets_void_transfer_offers"
  AFTER UPDATE ON "tickets"
  REFERENCING OLD TABLE AS old_tickets NEW TABLE AS new_tickets
  FOR EACH STATEMENT
  EXECUTE FUNCTION void_transfer_offers_of_changed_tickets();
