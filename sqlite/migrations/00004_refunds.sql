-- +goose Up
ALTER TABLE accounts ADD COLUMN debt INTEGER NOT NULL DEFAULT 0 CHECK (debt >= 0);
ALTER TABLE purchases ADD COLUMN refunded_credits INTEGER NOT NULL DEFAULT 0;
CREATE INDEX purchases_payment_intent ON purchases (payment_intent) WHERE payment_intent != '';
CREATE INDEX lots_reference ON lots (account_id, source, reference);

CREATE TABLE disputes (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    session_id TEXT NOT NULL,
    credits    INTEGER NOT NULL,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE disputes;
DROP INDEX lots_reference;
DROP INDEX purchases_payment_intent;
ALTER TABLE purchases DROP COLUMN refunded_credits;
ALTER TABLE accounts DROP COLUMN debt;
