-- Daily volume shows the captures an operator reversed (`Payment.CaptureReversed`, a
-- capture the acquirer never made): on the reversal's day, as columns of their own, so
-- a day's captures and fees stay what was captured then and no column goes below zero,
-- and `net` follows the merchant's balance as the statement does.
-- Existing rows take the defaults (no reversal); `paysource projections rebuild finance`
-- fills them from history when any capture was already reversed.

ALTER TABLE daily_volume
    ADD COLUMN reversals_count integer NOT NULL DEFAULT 0 CHECK (reversals_count >= 0),
    ADD COLUMN reversals_minor bigint NOT NULL DEFAULT 0 CHECK (reversals_minor >= 0),
    ADD COLUMN reversed_fees_minor bigint NOT NULL DEFAULT 0 CHECK (reversed_fees_minor >= 0);

-- A generated column's expression cannot change in place: drop it and add it again.
ALTER TABLE daily_volume DROP COLUMN net_minor;
ALTER TABLE daily_volume ADD COLUMN net_minor bigint GENERATED ALWAYS AS (
    captures_minor - refunds_minor - fees_minor - reversals_minor + reversed_fees_minor
) STORED;
