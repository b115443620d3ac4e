-- +goose Up
-- When something of the account comes due (a hold expires, a lot with
-- unreserved credits expires): never later than the earliest such time, so
-- that a write settles only when it must, and the sweep finds due accounts
-- through an index. NULL: nothing will come due.
ALTER TABLE accounts ADD COLUMN due_at TIMESTAMPTZ;
UPDATE accounts SET due_at = (SELECT MIN(t) FROM (
    SELECT MIN(expires_at) AS t FROM holds WHERE holds.account_id = accounts.id AND status = 'held'
    UNION ALL
    SELECT MIN(expires_at) FROM lots WHERE lots.account_id = accounts.id AND expires_at IS NOT NULL AND remaining > reserved) AS due);
CREATE INDEX accounts_due ON accounts (due_at) WHERE due_at IS NOT NULL;

-- +goose Down
DROP INDEX accounts_due;
ALTER TABLE accounts DROP COLUMN due_at;
