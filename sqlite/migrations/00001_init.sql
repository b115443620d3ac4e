-- +goose Up
-- Times are integer microseconds since the Unix epoch, UTC.
CREATE TABLE packs (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    credits         INTEGER NOT NULL CHECK (credits > 0),
    unit_amount     INTEGER NOT NULL CHECK (unit_amount > 0),
    currency        TEXT NOT NULL,
    stripe_price_id TEXT UNIQUE, -- NULL when the pack has no Stripe price
    active          INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL
);

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    balance    INTEGER NOT NULL DEFAULT 0,
    trial      INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE INDEX accounts_email ON accounts (email);

CREATE TABLE checkout_sessions (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    pack_id         TEXT NOT NULL REFERENCES packs (id),
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    expected_amount INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL,
    url             TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX checkout_sessions_account ON checkout_sessions (account_id);

-- One purchase per checkout session: the unique key that makes crediting exactly-once.
CREATE TABLE purchases (
    id             INTEGER PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    pack_id        TEXT NOT NULL REFERENCES packs (id),
    quantity       INTEGER NOT NULL,
    credits        INTEGER NOT NULL,
    amount_paid    INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    session_id     TEXT NOT NULL UNIQUE,
    payment_intent TEXT NOT NULL DEFAULT '',
    event_id       TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX purchases_account ON purchases (account_id, id);

CREATE TABLE lots (
    id         INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    amount     INTEGER NOT NULL,
    remaining  INTEGER NOT NULL CHECK (remaining >= 0),
    priority   INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER,
    source     TEXT NOT NULL,
    reference  TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX lots_account ON lots (account_id);

CREATE TABLE entries (
    id            INTEGER PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    amount        INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    reference     TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    balance_after INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX entries_account ON entries (account_id, id);

-- The ledger is append-only: corrections are new entries.
-- +goose StatementBegin
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;
-- +goose StatementEnd

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    livemode        INTEGER NOT NULL,
    session_id      TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    error           TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    received_at     INTEGER NOT NULL,
    processed_at    INTEGER,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL DEFAULT 0,
    session         TEXT NOT NULL DEFAULT '', -- the session the event carried, as JSON
    payload         BLOB NOT NULL
);
CREATE INDEX events_due ON events (status, next_attempt_at);
CREATE INDEX events_received ON events (received_at, id);

-- +goose Down
DROP TABLE events;
DROP TABLE entries;
DROP TABLE lots;
DROP TABLE purchases;
DROP TABLE checkout_sessions;
DROP TABLE accounts;
DROP TABLE packs;
