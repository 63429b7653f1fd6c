-- Moving a merchant between cells (docs/operations.md, "Moving a merchant").
--
-- In the target cell: the log positions its copied events took. The side-effect
-- followers (payment pipeline, payouts, chargeback notices, the payment notifier)
-- skip these positions: those events already had their effects in the source cell (an
-- acquirer call, a payout), so acting on them again would do it twice. Projections do
-- apply them: the merchant's balances, lists and ledger must be in the target.
CREATE TABLE moved_in_events (
    first_position bigint PRIMARY KEY,
    last_position bigint NOT NULL CHECK (last_position >= first_position),
    merchant_id uuid NOT NULL,
    source_cell text NOT NULL,
    moved_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX moved_in_events_by_end ON moved_in_events (last_position);

-- In the source cell: merchants moving or moved away. From the start of a move
-- ('moving') the cell's sweeps (settlement schedule, hold and dispute expiry) leave
-- them alone, so nothing of theirs is decided here after the copy. Once 'moved', their
-- events stay in this log as history, their read-model rows are deleted here (the
-- target holds them now), and a rebuild of this cell's read models deletes them again
-- after its replay.
CREATE TABLE moved_out_merchants (
    merchant_id uuid PRIMARY KEY,
    target_cell text NOT NULL,
    state text NOT NULL DEFAULT 'moved' CHECK (state IN ('moving', 'moved')),
    last_position bigint,
    moved_at timestamptz NOT NULL DEFAULT now()
);
