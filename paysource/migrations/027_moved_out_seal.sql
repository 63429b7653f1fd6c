-- The seal of a merchant moving out of this cell (`paysource cells move`, after its
-- last scan of the merchant, before its copy): its id and its aggregates' ids. Every
-- insert of events checks its owners here (the merchant of each aggregate it writes,
-- or the aggregate if it names none; the merchant or settlement a creating event
-- names: application/move_fence.py), after the events table's lock and in its own
-- statement (adapters/postgres/recorder.py), so a write that passed routing
-- before the move's mark cannot commit here once the seal has: it fails instead (the
-- client retries, into the new cell). The rows stay after the move; an aborted move
-- deletes them.
CREATE TABLE moved_out_ids (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL
);
CREATE INDEX moved_out_ids_by_merchant ON moved_out_ids (merchant_id);

-- True, or the error the store turns into 503 merchant_moving (application/eventlog.py).
CREATE FUNCTION refuse_moved_out(ids uuid[]) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM moved_out_ids WHERE id = ANY(ids)) THEN
        RAISE EXCEPTION 'a write of a merchant that moved out of this cell'
            USING ERRCODE = 'PSM01';
    END IF;
    RETURN true;
END
$$;
