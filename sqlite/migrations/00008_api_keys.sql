-- +goose Up
-- Scoped API keys: only a hash of each secret is kept.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL DEFAULT '',
    scope        TEXT NOT NULL, -- read, spend, admin
    account_id   TEXT NOT NULL DEFAULT '', -- '' reaches every account
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

-- +goose Down
DROP TABLE api_keys;
