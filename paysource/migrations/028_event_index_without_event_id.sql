-- The feed's rows indexed before migration 026 have no `event_id`: `paysource migrate`
-- fills them in Python right after the migrations (uuid5 needs sha1, which Postgres has
-- only in an extension): readmodels/events/backfill.py finds them by this partial
-- index, which is empty once they are filled and which new rows never enter, so a
-- `migrate` with nothing to fill costs an empty index scan.
CREATE INDEX event_index_without_event_id ON event_index (position) WHERE event_id IS NULL;
