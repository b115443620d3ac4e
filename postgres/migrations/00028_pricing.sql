-- +goose Up
-- Features an application meters, and rate cards that price them in
-- credits. A rate card's versions are immutable: a change of price is a new
-- version with the time it takes effect (never earlier than the version
-- before it), and each usage names the version it was priced at.
CREATE TABLE features (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    unit       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE rate_cards (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- rates is the version's rates as JSON (feature, quantity, credits as a
-- decimal string, per, match), written once.
CREATE TABLE rate_card_versions (
    rate_card_id TEXT NOT NULL REFERENCES rate_cards (id),
    version      BIGINT NOT NULL CHECK (version > 0),
    rates        TEXT NOT NULL,
    rounding     TEXT NOT NULL CHECK (rounding IN ('up', 'down', 'nearest')),
    minimum      BIGINT NOT NULL CHECK (minimum >= 0),
    effective_at TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (rate_card_id, version)
);

-- An account priced by a rate card of its own (others: the card 'default').
CREATE TABLE account_rate_cards (
    account_id   TEXT PRIMARY KEY REFERENCES accounts (id),
    rate_card_id TEXT NOT NULL REFERENCES rate_cards (id),
    updated_at   TIMESTAMPTZ NOT NULL
);

-- One priced usage: what was used, the version that priced it, and the
-- entries that took its credits (entry_id: the debit, or the capture of its
-- hold; extra_entry_id: the debit of what the price exceeded its hold by).
-- A usage priced at 0 credits has no entry.
CREATE TABLE usages (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    feature_id        TEXT NOT NULL REFERENCES features (id),
    quantities        TEXT NOT NULL,
    properties        TEXT NOT NULL,
    rate_card_id      TEXT NOT NULL,
    rate_card_version BIGINT NOT NULL,
    credits           BIGINT NOT NULL CHECK (credits >= 0),
    hold_id           TEXT NOT NULL DEFAULT '',
    entry_id          BIGINT REFERENCES entries (id),
    extra_entry_id    BIGINT REFERENCES entries (id),
    created_at        TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (rate_card_id, rate_card_version) REFERENCES rate_card_versions (rate_card_id, version)
);
CREATE INDEX usages_account_created ON usages (account_id, created_at);
CREATE INDEX usages_entry ON usages (entry_id);
CREATE INDEX usages_extra_entry ON usages (extra_entry_id);

-- +goose Down
DROP TABLE usages;
DROP TABLE account_rate_cards;
DROP TABLE rate_card_versions;
DROP TABLE rate_cards;
DROP TABLE features;
