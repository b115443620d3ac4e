-- +goose Up
ALTER TABLE accounts ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE packs ADD COLUMN expires_after_days INTEGER;
ALTER TABLE lots ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0);
CREATE INDEX lots_spendable ON lots (account_id, remaining);
CREATE INDEX lots_expiring ON lots (expires_at) WHERE expires_at IS NOT NULL AND remaining > reserved;

-- Which lots each entry drew from (debits, captures, expiries, negative adjustments).
CREATE TABLE lot_draws (
    entry_id INTEGER NOT NULL REFERENCES entries (id),
    lot_id   INTEGER NOT NULL REFERENCES lots (id),
    amount   INTEGER NOT NULL CHECK (amount > 0),
    PRIMARY KEY (entry_id, lot_id)
);

CREATE TABLE holds (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    captured    INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX holds_account ON holds (account_id, status, created_at);
CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'held';

-- What each hold reserved on each lot.
CREATE TABLE hold_lots (
    hold_id TEXT NOT NULL REFERENCES holds (id),
    lot_id  INTEGER NOT NULL REFERENCES lots (id),
    amount  INTEGER NOT NULL CHECK (amount > 0),
    PRIMARY KEY (hold_id, lot_id)
);

-- The first answer to each idempotent request, kept 30 days.
CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    error_code    TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    result        BLOB,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE hold_lots;
DROP TABLE holds;
DROP TABLE lot_draws;
DROP INDEX lots_expiring;
DROP INDEX lots_spendable;
ALTER TABLE lots DROP COLUMN reserved;
ALTER TABLE packs DROP COLUMN expires_after_days;
ALTER TABLE accounts DROP COLUMN held;
