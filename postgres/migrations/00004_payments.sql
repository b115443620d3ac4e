-- +goose Up
-- A payment is one Stripe payment intent (a charge where there is none) and
-- the facts Stripe told us about it, each keyed by its Stripe id: what it
-- bought, its charge, each refund and each dispute. The credits it owes its
-- account are a function of these facts (docs/architecture.md); posted is
-- what the ledger holds for it, and payment_entries names those entries.
CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL DEFAULT '', -- '' until the purchase is known
    session_id      TEXT NOT NULL DEFAULT '',
    pack_id         TEXT NOT NULL DEFAULT '',
    quantity        BIGINT NOT NULL DEFAULT 0,
    credits         BIGINT NOT NULL DEFAULT 0, -- bought
    sold_amount     BIGINT NOT NULL DEFAULT 0,
    paid_amount     BIGINT NOT NULL DEFAULT 0,
    discount        BIGINT NOT NULL DEFAULT 0,
    currency        TEXT NOT NULL DEFAULT '',
    charge_id       TEXT NOT NULL DEFAULT '',
    charge_amount   BIGINT NOT NULL DEFAULT 0,
    charge_currency TEXT NOT NULL DEFAULT '',
    charge_refunded BIGINT NOT NULL DEFAULT 0, -- amount_refunded of the newest charge snapshot
    charge_seen_at  TIMESTAMPTZ NOT NULL,
    posted          BIGINT NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX payments_account ON payments (account_id, created_at);
CREATE UNIQUE INDEX payments_session ON payments (session_id) WHERE session_id != '';

CREATE TABLE payment_refunds (
    id         TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    amount     BIGINT NOT NULL,
    currency   TEXT NOT NULL,
    status     TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX payment_refunds_payment ON payment_refunds (payment_id);

CREATE TABLE payment_disputes (
    id         TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    amount     BIGINT NOT NULL,
    currency   TEXT NOT NULL,
    status     TEXT NOT NULL,
    withdrawn  BOOLEAN NOT NULL DEFAULT FALSE,
    reinstated BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX payment_disputes_payment ON payment_disputes (payment_id);

CREATE TABLE payment_entries (
    entry_id   BIGINT PRIMARY KEY REFERENCES entries (id),
    payment_id TEXT NOT NULL REFERENCES payments (id)
);
CREATE INDEX payment_entries_payment ON payment_entries (payment_id);

-- Today's purchases become payments. A refund was applied from the charge's
-- cumulative amount_refunded: it is kept as the charge snapshot, the
-- smallest amount that took back the credits it took. A dispute keeps the
-- smallest amount that took back its credits, and its status.
INSERT INTO payments (id, account_id, session_id, pack_id, quantity, credits, sold_amount, paid_amount, currency,
    charge_amount, charge_currency, charge_refunded, charge_seen_at, created_at, updated_at)
SELECT CASE WHEN payment_intent != '' THEN payment_intent ELSE session_id END, account_id, session_id, pack_id, quantity,
    credits, amount_paid, amount_paid, currency, amount_paid, currency, (refunded_credits * amount_paid + credits - 1) / credits,
    to_timestamp(0), created_at, created_at
FROM purchases WHERE true
ON CONFLICT DO NOTHING;

INSERT INTO payment_disputes (id, payment_id, amount, currency, status, withdrawn, reinstated, updated_at)
SELECT d.id, p.id, (d.credits * p.paid_amount + p.credits - 1) / p.credits, p.currency,
    CASE d.status WHEN 'open' THEN 'needs_response' WHEN 'won' THEN 'won' WHEN 'lost' THEN 'lost' ELSE 'warning_closed' END,
    CASE WHEN d.status IN ('open', 'lost') THEN TRUE ELSE FALSE END,
    CASE WHEN d.status = 'won' THEN TRUE ELSE FALSE END,
    d.updated_at
FROM disputes d JOIN payments p ON p.session_id = d.session_id;

-- The entries each payment posted: its purchase, its refunds (their
-- description names the session) and its disputes.
INSERT INTO payment_entries (entry_id, payment_id)
SELECT e.id, p.id FROM entries e JOIN payments p ON p.account_id = e.account_id
WHERE (e.kind = 'purchase' AND e.reference = p.session_id)
   OR (e.kind = 'refund' AND e.description LIKE '% of session ' || p.session_id)
   OR (e.kind = 'dispute' AND e.reference IN (SELECT d.id FROM disputes d WHERE d.session_id = p.session_id));

UPDATE payments SET posted = COALESCE((SELECT SUM(e.amount) FROM payment_entries pe JOIN entries e ON e.id = pe.entry_id
    WHERE pe.payment_id = payments.id), 0);

-- +goose Down
DROP TABLE payment_entries;
DROP TABLE payment_disputes;
DROP TABLE payment_refunds;
DROP TABLE payments;
