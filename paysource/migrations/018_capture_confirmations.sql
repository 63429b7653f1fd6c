-- A capture is settled only once the acquirer has confirmed it (`Payment.CaptureConfirmed`,
-- docs/settlement.md, "Unconfirmed captures"). Until then its settleable item is held as
-- 'capture_unconfirmed'. Existing rows keep their holds: captures recorded before this
-- migration need no confirmation (their `Captured` events are version 1), so neither
-- the rows nor a rebuild from the log hold them.

ALTER TABLE settleable_items DROP CONSTRAINT settleable_items_hold_check;
ALTER TABLE settleable_items ADD CONSTRAINT settleable_items_hold_check
    CHECK (hold IN ('capture_refused', 'capture_reversed', 'capture_unconfirmed'));

-- When the acquirer confirmed the capture; NULL: not (yet) confirmed, or captured before
-- confirmations were recorded.
ALTER TABLE payments ADD COLUMN capture_confirmed_at timestamptz;
