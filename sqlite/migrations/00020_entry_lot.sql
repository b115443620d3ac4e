-- +goose Up
-- A draw from one lot, a debit's common case, is stored with its entry: the
-- lot it drew all of the entry's credits from. A row in lot_draws cost a
-- debit a statement of its own, and on PostgreSQL two foreign-key checks
-- (architecture.md, Performance 24). Draws from several lots, and those whose
-- lot was not known when the entry was written, stay in lot_draws;
-- entry_draws shows both. verify checks that the lot is one of the entry's
-- account's.
ALTER TABLE entries ADD COLUMN lot_id INTEGER;
CREATE VIEW entry_draws AS
    SELECT id AS entry_id, lot_id, -amount AS amount FROM entries WHERE lot_id IS NOT NULL
    UNION ALL
    SELECT entry_id, lot_id, amount FROM lot_draws;

-- +goose Down
DROP VIEW entry_draws;
INSERT INTO lot_draws (entry_id, lot_id, amount) SELECT id, lot_id, -amount FROM entries WHERE lot_id IS NOT NULL;
ALTER TABLE entries DROP COLUMN lot_id;
