-- `paysource_settlement_items_held` counts the unsettled items held out of settlements
-- (a refused or reversed capture, or one the acquirer has not confirmed) at every scrape:
-- they are few, so a partial index keeps that count from reading every item ever made.
CREATE INDEX IF NOT EXISTS settleable_items_held
    ON settleable_items (hold)
    WHERE hold IS NOT NULL AND settlement_id IS NULL;
