-- A settlement that waited for a rate while a later cut-off's settlement took its items
-- ends `superseded` (docs/settlement.md); this names the settlement that superseded it.
ALTER TABLE settlements ADD COLUMN IF NOT EXISTS superseded_by uuid;
