-- The event store: eventsourcing's stored events table and its tracking table.
--
-- The DDL is eventsourcing 9.5's own (a test compares it with what the library
-- creates), written out here so tables are created once, by `paysource migrate`,
-- and never by the application processes (which run with CREATE_TABLE=no).

CREATE TYPE stored_event_uuid AS (
    originator_id uuid,
    originator_version bigint,
    topic text,
    state bytea
);

CREATE TABLE paysource_events (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version)
) WITH (
    autovacuum_enabled = true,
    autovacuum_vacuum_threshold = 100000000,
    autovacuum_vacuum_scale_factor = 0.5,
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01
);

CREATE UNIQUE INDEX paysource_events_notification_id_idx
    ON paysource_events (notification_id ASC);

-- Positions of the workers that write events (one row per follower name).
CREATE TABLE paysource_tracking (
    application_name text,
    notification_id bigint,
    PRIMARY KEY (application_name)
) WITH (
    autovacuum_enabled = true,
    autovacuum_vacuum_threshold = 100000000,
    autovacuum_vacuum_scale_factor = 0.5,
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01
);

-- eventsourcing marks single-row tracking tables with this row.
INSERT INTO paysource_tracking VALUES ('__migration__', 1);

-- Events are facts: once written they never change or disappear. Auditors rely on
-- it, and so does every read model rebuilt from them.
CREATE FUNCTION paysource_events_are_immutable() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'paysource_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER paysource_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON paysource_events
    FOR EACH ROW EXECUTE FUNCTION paysource_events_are_immutable();

CREATE TRIGGER paysource_events_no_truncate
    BEFORE TRUNCATE ON paysource_events
    FOR EACH STATEMENT EXECUTE FUNCTION paysource_events_are_immutable();
