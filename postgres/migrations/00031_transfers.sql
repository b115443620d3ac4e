-- +goose Up
-- A transfer moves credits between accounts lot by lot (transfers.go): each
-- part takes from one lot of the sender (from_lot) and makes one lot of the
-- receiver (to_lot) with the same expiry, priority, source and reference.
-- lot_origins names, for every lot a transfer made, the lot its credits
-- first arrived in (a purchase's or a grant's, in whichever account), so
-- that a refund of that purchase finds them wherever they moved.
CREATE TABLE transfers (
    id              TEXT PRIMARY KEY,
    from_account    TEXT NOT NULL REFERENCES accounts (id),
    to_account      TEXT NOT NULL REFERENCES accounts (id),
    credits         BIGINT NOT NULL CHECK (credits > 0),
    description     TEXT NOT NULL DEFAULT '',
    include_granted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX transfers_from ON transfers (from_account, created_at);
CREATE INDEX transfers_to ON transfers (to_account, created_at);

CREATE TABLE transfer_parts (
    transfer_id TEXT NOT NULL REFERENCES transfers (id),
    seq         BIGINT NOT NULL,
    from_lot    BIGINT NOT NULL REFERENCES lots (id),
    to_lot      BIGINT NOT NULL REFERENCES lots (id),
    credits     BIGINT NOT NULL CHECK (credits > 0),
    expires_at  TIMESTAMPTZ,
    PRIMARY KEY (transfer_id, seq)
);
CREATE INDEX transfer_parts_from ON transfer_parts (from_lot);

CREATE TABLE lot_origins (
    lot_id        BIGINT PRIMARY KEY REFERENCES lots (id),
    origin_lot_id BIGINT NOT NULL REFERENCES lots (id),
    transfer_id   TEXT NOT NULL REFERENCES transfers (id)
);
CREATE INDEX lot_origins_origin ON lot_origins (origin_lot_id);

-- +goose Down
DROP TABLE lot_origins;
DROP TABLE transfer_parts;
DROP TABLE transfers;
