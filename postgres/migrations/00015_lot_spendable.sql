-- +goose Up
-- Whether a lot has credits to spend (remaining > reserved), kept as its own
-- column so that no index names a column a draw sets: a draw that leaves the
-- lot spendable sets only remaining, and its update can be a heap-only
-- (HOT) one that writes no index entry (when the lot indexes' condition
-- named remaining, every draw added an entry to each of the lot's indexes).
-- Every write that sets remaining or reserved sets it; verify checks it.
ALTER TABLE lots ADD COLUMN spendable BOOLEAN NOT NULL DEFAULT TRUE;
UPDATE lots SET spendable = (remaining > reserved);
DROP INDEX lots_burn_down;
DROP INDEX lots_expiring;
CREATE INDEX lots_burn_down ON lots (account_id, (expires_at IS NULL), expires_at, priority, id) WHERE spendable;
CREATE INDEX lots_expiring ON lots (account_id, expires_at, id) WHERE expires_at IS NOT NULL AND spendable;

-- +goose Down
DROP INDEX lots_burn_down;
DROP INDEX lots_expiring;
CREATE INDEX lots_burn_down ON lots (account_id, (expires_at IS NULL), expires_at, priority, id) WHERE remaining > reserved;
CREATE INDEX lots_expiring ON lots (account_id, expires_at, id) WHERE expires_at IS NOT NULL AND remaining > reserved;
ALTER TABLE lots DROP COLUMN spendable;
