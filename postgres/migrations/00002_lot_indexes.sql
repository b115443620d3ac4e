-- +goose Up
-- Draws read an account's spendable lots in burn-down order, a few at a time;
-- expiry reads its expired ones. Both must not scan every lot the account
-- ever had.
DROP INDEX lots_spendable;
DROP INDEX lots_expiring;
CREATE INDEX lots_burn_down ON lots (account_id, (expires_at IS NULL), expires_at, priority, id) WHERE remaining > reserved;
CREATE INDEX lots_expiring ON lots (account_id, expires_at, id) WHERE expires_at IS NOT NULL AND remaining > reserved;

-- +goose Down
DROP INDEX lots_burn_down;
DROP INDEX lots_expiring;
CREATE INDEX lots_spendable ON lots (account_id, remaining);
CREATE INDEX lots_expiring ON lots (expires_at) WHERE expires_at IS NOT NULL AND remaining > reserved;
