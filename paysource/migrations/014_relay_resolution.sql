-- Refused captures are held out of settlements until an operator resolves them
-- (docs/settlement.md, "Held captures"): retried at the acquirer, or reversed in the
-- books; a reversal of money already paid out is corrected by a `correction` item.
-- Existing rows take the defaults (no hold, no resolution); payments whose capture was
-- refused before this migration are held after `paysource projections rebuild payments
-- settlements`, and the settlement path asks the event store in any case.

ALTER TABLE settleable_items DROP CONSTRAINT settleable_items_kind_check;
ALTER TABLE settleable_items ADD CONSTRAINT settleable_items_kind_check
    CHECK (kind IN ('capture', 'refund', 'carried_forward', 'correction'));

-- Why an item may not be settled now: 'capture_refused' (held until resolved) or
-- 'capture_reversed' (never: the capture left the books). NULL: settleable.
ALTER TABLE settleable_items ADD COLUMN hold text
    CHECK (hold IN ('capture_refused', 'capture_reversed'));

DROP INDEX settleable_items_waiting;
CREATE INDEX settleable_items_waiting
    ON settleable_items (merchant_id, currency, occurred_at)
    WHERE settlement_id IS NULL AND hold IS NULL;

ALTER TABLE payments ADD COLUMN settlement_hold text;
-- The latest resolution: {"action", "outcome", "reason", "failure"}.
ALTER TABLE payments ADD COLUMN relay_resolution jsonb;
