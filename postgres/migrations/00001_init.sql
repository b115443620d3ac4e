-- +goose Up
CREATE TABLE packs (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    credits            BIGINT NOT NULL CHECK (credits > 0),
    unit_amount        BIGINT NOT NULL CHECK (unit_amount > 0),
    currency           TEXT NOT NULL,
    stripe_price_id    TEXT UNIQUE, -- NULL when the pack has no Stripe price
    expires_after_days BIGINT,
    active             BOOLEAN NOT NULL DEFAULT TRUE,
    created_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    balance    BIGINT NOT NULL DEFAULT 0,
    held       BIGINT NOT NULL DEFAULT 0,
    trial      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX accounts_email ON accounts (email);

CREATE TABLE checkout_sessions (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    pack_id         TEXT NOT NULL REFERENCES packs (id),
    quantity        BIGINT NOT NULL CHECK (quantity > 0),
    expected_amount BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL,
    url             TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX checkout_sessions_account ON checkout_sessions (account_id);

-- One purchase per checkout session: the unique key that makes crediting exactly-once.
CREATE TABLE purchases (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    pack_id        TEXT NOT NULL REFERENCES packs (id),
    quantity       BIGINT NOT NULL,
    credits        BIGINT NOT NULL,
    amount_paid    BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    session_id     TEXT NOT NULL UNIQUE,
    payment_intent TEXT NOT NULL DEFAULT '',
    event_id       TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX purchases_account ON purchases (account_id, id);

CREATE TABLE lots (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    amount     BIGINT NOT NULL,
    remaining  BIGINT NOT NULL CHECK (remaining >= 0),
    reserved   BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= remaining),
    priority   BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ,
    source     TEXT NOT NULL,
    reference  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX lots_spendable ON lots (account_id, remaining);
CREATE INDEX lots_expiring ON lots (expires_at) WHERE expires_at IS NOT NULL AND remaining > reserved;

CREATE TABLE entries (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    amount        BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    reference     TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    balance_after BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX entries_account ON entries (account_id, id);

-- The ledger is append-only: corrections are new entries.
-- +goose StatementBegin
CREATE FUNCTION entries_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only';
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER entries_no_update BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();

CREATE TABLE lot_draws (
    entry_id BIGINT NOT NULL REFERENCES entries (id),
    lot_id   BIGINT NOT NULL REFERENCES lots (id),
    amount   BIGINT NOT NULL CHECK (amount > 0),
    PRIMARY KEY (entry_id, lot_id)
);

CREATE TABLE holds (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    captured    BIGINT NOT NULL DEFAULT 0,
    status      TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX holds_account ON holds (account_id, status, created_at);
CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'held';

CREATE TABLE hold_lots (
    hold_id TEXT NOT NULL REFERENCES holds (id),
    lot_id  BIGINT NOT NULL REFERENCES lots (id),
    amount  BIGINT NOT NULL CHECK (amount > 0),
    PRIMARY KEY (hold_id, lot_id)
);

CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    error_code    TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    result        BYTEA,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    livemode        BOOLEAN NOT NULL,
    session_id      TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    error           TEXT NOT NULL DEFAULT '',
    attempts        BIGINT NOT NULL DEFAULT 0,
    received_at     TIMESTAMPTZ NOT NULL,
    processed_at    TIMESTAMPTZ,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    locked_until    TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    session         JSONB,
    payload         BYTEA NOT NULL
);
CREATE INDEX events_due ON events (next_attempt_at) WHERE status = 'pending';
CREATE INDEX events_received ON events (received_at, id);
CREATE INDEX events_status ON events (status, received_at);

-- +goose Down
DROP TABLE events;
DROP TABLE idempotency_keys;
DROP TABLE hold_lots;
DROP TABLE holds;
DROP TABLE lot_draws;
DROP TABLE entries;
DROP FUNCTION entries_append_only;
DROP TABLE lots;
DROP TABLE purchases;
DROP TABLE checkout_sessions;
DROP TABLE accounts;
DROP TABLE packs;
