-- Which cell (Postgres cluster) holds each merchant's objects (docs/operations.md,
-- "Cells"). Kept in the directory cell; a merchant without a row is in the directory
-- cell itself (every merchant made before cells existed).
CREATE TABLE IF NOT EXISTS merchant_cells (
    merchant_id uuid PRIMARY KEY,
    cell text NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS merchant_cells_by_cell ON merchant_cells (cell);
