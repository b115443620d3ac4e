-- +goose Up
-- Auto-recharge: an account's Stripe customer and saved card, its settings,
-- and one row per attempt to charge the card off-session.
-- recharge_threshold mirrors the settings on the account's own row (0: off),
-- so that a debit decides whether to look further without another read.
ALTER TABLE accounts ADD COLUMN recharge_threshold BIGINT NOT NULL DEFAULT 0;

CREATE TABLE auto_recharge (
    account_id        TEXT PRIMARY KEY REFERENCES accounts (id),
    customer_id       TEXT NOT NULL DEFAULT '', -- Stripe's cus_…, created once
    payment_method_id TEXT NOT NULL DEFAULT '', -- the saved card, pm_…
    card_brand        TEXT NOT NULL DEFAULT '',
    card_last4        TEXT NOT NULL DEFAULT '',
    card_pending      TEXT NOT NULL DEFAULT '', -- a setup or payment intent whose card is still to be read
    enabled           BOOLEAN NOT NULL DEFAULT FALSE,
    threshold         BIGINT NOT NULL DEFAULT 0,
    pack_id           TEXT NOT NULL DEFAULT '',
    quantity          BIGINT NOT NULL DEFAULT 1,
    monthly_limit     BIGINT NOT NULL DEFAULT 0, -- in the pack's minor units
    disabled_reason   TEXT NOT NULL DEFAULT '',
    settings_at       TIMESTAMPTZ NOT NULL DEFAULT '-infinity', -- when the settings were last set
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX auto_recharge_customer ON auto_recharge (customer_id) WHERE customer_id <> '';
CREATE INDEX auto_recharge_payment_method ON auto_recharge (payment_method_id) WHERE payment_method_id <> '';
CREATE INDEX auto_recharge_card_pending ON auto_recharge (account_id) WHERE card_pending <> '';

CREATE TABLE recharges (
    id                  TEXT PRIMARY KEY, -- rch_…; Stripe's Idempotency-Key for its payment intent
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    seq                 BIGINT NOT NULL, -- the account's recharges in order: 1, 2, …
    pack_id             TEXT NOT NULL,
    quantity            BIGINT NOT NULL,
    credits             BIGINT NOT NULL,
    amount              BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    attempt             BIGINT NOT NULL, -- 1, then 2 for the retry of a declined one
    status              TEXT NOT NULL, -- pending, processing, action_required, succeeded, failed, canceled, limit_reached
    payment_intent      TEXT NOT NULL DEFAULT '',
    checkout_session_id TEXT NOT NULL DEFAULT '',
    action_url          TEXT NOT NULL DEFAULT '',
    error               TEXT NOT NULL DEFAULT '',
    next_attempt_at     TIMESTAMPTZ NOT NULL,
    locked_until        TIMESTAMPTZ NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
-- At most one recharge in flight per account.
CREATE UNIQUE INDEX recharges_in_flight ON recharges (account_id) WHERE status IN ('pending', 'processing', 'action_required');
CREATE UNIQUE INDEX recharges_account ON recharges (account_id, seq);
CREATE INDEX recharges_account_created ON recharges (account_id, created_at);
-- The worker's queue: recharges to charge, and those that wait for a Checkout link.
CREATE INDEX recharges_due ON recharges (next_attempt_at) WHERE status IN ('pending', 'action_required');
CREATE INDEX recharges_payment_intent ON recharges (payment_intent) WHERE payment_intent <> '';

-- +goose Down
DROP TABLE recharges;
DROP TABLE auto_recharge;
ALTER TABLE accounts DROP COLUMN recharge_threshold;
