-- The seal of a merchant moving out of this cell (`paysource cells move`, after its
-- last scan of the merchant, before its copy): its id and its aggregates' ids. Every
-- insert of events checks the ids it writes (each event's aggregate, the merchant or
-- settlement a creating event names) here, after the events table's lock and in its
-- own transaction (adapters/postgres/recorder.py), so a write that passed routing
-- before the move's mark cannot commit here once the seal has: it fails instead (the
-- client retries, into the new cell). The rows stay after the move; an aborted move
-- deletes them.
CREATE TABLE moved_out_ids (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL
);
CREATE INDEX moved_out_ids_by_merchant ON moved_out_ids (merchant_id);

CREATE FUNCTION refuse_moved_out(ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM moved_out_ids WHERE id = ANY(ids)) THEN
        RAISE EXCEPTION 'a write of a merchant that moved out of this cell'
            USING ERRCODE = 'PSM01';
    END IF;
END
$$;
