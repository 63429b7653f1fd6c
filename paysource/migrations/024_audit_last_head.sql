-- The last tree head the audit-log job signed, per log, written with the head itself.
-- A restarted job checks the stored tree against the largest head it finds here or in
-- audit_tree_heads, and refuses to sign if that head is no longer stored: deleting the
-- heads an edit breaks does not let it fall back to an older one and sign the edit
-- (docs/audit.md). Whoever can write the database can change this row too; it raises
-- the bar, and the heads auditors keep remain the proof.
CREATE TABLE audit_last_head (
    log_id text PRIMARY KEY,
    tree_size bigint NOT NULL CHECK (tree_size > 0),
    timestamp_ms bigint NOT NULL,
    root_hash bytea NOT NULL,
    key_id text NOT NULL,
    signature bytea NOT NULL
);
