-- The tamper-evident log (docs/audit.md): one Merkle leaf per stored event, in log
-- order, the complete subtrees above them (so a proof costs O(log n) reads), and the
-- signed tree heads. Written only by the `audit-log` process; `paysource audit verify`
-- recomputes all of it from paysource_events.
--
-- Numbered 013: 010 was taken on main, and the event feed's migration is 012.

CREATE TABLE audit_leaves (
    leaf_index bigint PRIMARY KEY,
    notification_id bigint NOT NULL UNIQUE,
    leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32)
);

-- The hash of the leaves [idx * 2^level, (idx + 1) * 2^level), for level >= 1.
CREATE TABLE audit_nodes (
    level smallint NOT NULL CHECK (level >= 1),
    idx bigint NOT NULL,
    hash bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

CREATE TABLE audit_tree_heads (
    tree_size bigint PRIMARY KEY CHECK (tree_size > 0),
    log_id text NOT NULL,
    timestamp_ms bigint NOT NULL,
    root_hash bytea NOT NULL,
    key_id text NOT NULL,
    signature bytea NOT NULL
);
