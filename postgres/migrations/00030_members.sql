-- +goose Up
-- Members spend from their account under an optional cap per period
-- (members.go). member_spending is what each member spent and holds in each
-- period of its cap (period_start: the period's first instant; the epoch for
-- a cap over all time, and for a member without a cap), written under the
-- account's lock in the transaction of the spend; member_entries names the
-- ledger entries spent as a member (verify sums them against spent), and
-- member_holds the holds made as one, with the period they count in.
CREATE TABLE members (
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    member_id   TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    email       TEXT NOT NULL DEFAULT '',
    cap_credits BIGINT, -- NULL: no cap
    cap_period  TEXT NOT NULL DEFAULT '',
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, member_id)
);

CREATE TABLE member_spending (
    account_id   TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    spent        BIGINT NOT NULL DEFAULT 0 CHECK (spent >= 0),
    held         BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    cap_reached  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (account_id, member_id, period_start),
    FOREIGN KEY (account_id, member_id) REFERENCES members (account_id, member_id)
);

CREATE TABLE member_entries (
    entry_id     BIGINT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    amount       BIGINT NOT NULL
);
CREATE INDEX member_entries_member ON member_entries (account_id, member_id, period_start);

CREATE TABLE member_holds (
    hold_id      TEXT PRIMARY KEY REFERENCES holds (id),
    account_id   TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    period_start TIMESTAMPTZ NOT NULL
);
CREATE INDEX member_holds_member ON member_holds (account_id, member_id, period_start);

-- A key bound to a member spends as that member alone ('' : bound to none).
ALTER TABLE api_keys ADD COLUMN member_id TEXT NOT NULL DEFAULT '';

-- A member's credits page (a dashboard link or session made for a member).
ALTER TABLE web_sessions ADD COLUMN member_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE web_sessions DROP COLUMN member_id;
ALTER TABLE api_keys DROP COLUMN member_id;
DROP TABLE member_holds;
DROP TABLE member_entries;
DROP TABLE member_spending;
DROP TABLE members;
