-- +goose Up
-- Settings the service makes for itself once, such as the secret that signs
-- dashboard links and cookies when CREDITS_SIGNING_SECRET is not set.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Dashboard links, dashboard sessions and operator sessions, kept so that
-- they can be revoked: a signed token names one of these rows.
CREATE TABLE web_sessions (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL, -- link, dashboard, operator
    account_id TEXT NOT NULL DEFAULT '',
    expires_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_account ON web_sessions (account_id, kind);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- +goose Down
DROP TABLE web_sessions;
DROP TABLE settings;
