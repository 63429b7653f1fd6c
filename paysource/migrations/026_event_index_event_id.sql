-- The feed names each event by its id (`evt_…`, the id its webhook carries:
-- uuid5 of object id and version), and a merchant pages by that id, not by log
-- position: positions are the cell's notification ids, so the gaps between one
-- merchant's would count every other merchant's events (docs/decisions.md).
-- `starting_after=evt_…` looks the id up here. Rows indexed before this migration
-- have none until `paysource projections rebuild events` (uuid5 needs sha1, which
-- Postgres has only in an extension); until then such an id is not found.

ALTER TABLE event_index ADD COLUMN event_id uuid;
CREATE UNIQUE INDEX event_index_by_event_id ON event_index (event_id);
