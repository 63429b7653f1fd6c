-- Read model "reconciliation" (docs/reconciliation.md): the acquirer's and the bank's
-- files imported, and the breaks each showed. A break stays open until a later file
-- clears its item (`resolved_by` names that import).

CREATE TABLE reconciliation_imports (
    id uuid PRIMARY KEY,
    source text NOT NULL,
    digest text NOT NULL,
    day date NOT NULL,
    lines integer NOT NULL CHECK (lines >= 0),
    matched integer NOT NULL CHECK (matched >= 0),
    breaks integer NOT NULL CHECK (breaks >= 0),
    imported_at timestamptz NOT NULL
);

CREATE TABLE reconciliation_breaks (
    import_id uuid NOT NULL,
    number integer NOT NULL,
    source text NOT NULL,
    kind text NOT NULL,
    item_kind text NOT NULL,
    item_key uuid NOT NULL,
    merchant_id uuid,
    line integer,
    reference text NOT NULL DEFAULT '',
    currency char(3) NOT NULL,
    expected_minor bigint,
    actual_minor bigint,
    day date NOT NULL,
    detail text NOT NULL DEFAULT '',
    status text NOT NULL CHECK (status IN ('open', 'resolved')),
    detected_at timestamptz NOT NULL,
    resolved_at timestamptz,
    resolved_by uuid,
    PRIMARY KEY (import_id, number)
);

CREATE INDEX reconciliation_breaks_open_items
    ON reconciliation_breaks (item_kind, item_key) WHERE status = 'open';
CREATE INDEX reconciliation_breaks_by_day ON reconciliation_breaks (day, import_id, number);
