-- The feed names each event by its id (`evt_…`, the id its webhook carries:
-- uuid5 of object id and version), and a merchant pages by that id, not by log
-- position: positions are the cell's notification ids, so the gaps between one
-- merchant's would count every other merchant's events (docs/decisions.md).
-- `starting_after=evt_…` looks the id up here. Rows indexed before this migration
-- get theirs from `paysource migrate` right after it, in Python (uuid5 needs sha1,
-- which Postgres has only in an extension): readmodels/events/backfill.py, which finds
-- them by the partial index below (empty once they are filled, and new rows never
-- enter it), so a `migrate` with nothing to fill costs nothing.

ALTER TABLE event_index ADD COLUMN event_id uuid;
CREATE UNIQUE INDEX event_index_by_event_id ON event_index (event_id);
CREATE INDEX event_index_without_event_id ON event_index (position) WHERE event_id IS NULL;
