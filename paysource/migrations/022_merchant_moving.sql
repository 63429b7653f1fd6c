-- A merchant being moved to another cell (`paysource cells move`): while `moving_to`
-- is set, every API process answers the merchant's writes with 503 + Retry-After
-- (placements are cached for about a second, so within a second of the mark).
ALTER TABLE merchant_cells ADD COLUMN moving_to text;
ALTER TABLE merchant_cells ADD COLUMN moving_since timestamptz;
