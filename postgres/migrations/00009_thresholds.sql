-- +goose Up
-- An account's low-balance threshold (-1: the service's default) and where
-- its available credits stand against it (ok, low, depleted), so that each
-- crossing is told once.
ALTER TABLE accounts ADD COLUMN low_balance_threshold BIGINT NOT NULL DEFAULT -1;
ALTER TABLE accounts ADD COLUMN balance_state TEXT NOT NULL DEFAULT 'ok';

-- +goose Down
ALTER TABLE accounts DROP COLUMN balance_state;
ALTER TABLE accounts DROP COLUMN low_balance_threshold;
