-- +goose Up
-- credits reconcile: each comparison of the ledger with Stripe, and what it
-- found. A run keeps how far it read each of Stripe's lists (progress, JSON:
-- per object type the last id listed), so that an interrupted run continues.
CREATE TABLE reconcile_runs (
    id          TEXT PRIMARY KEY, -- rec_…
    seq         BIGINT NOT NULL, -- runs in the order they began
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ, -- NULL until every list was read
    since       TIMESTAMPTZ NOT NULL, -- objects created at or after this
    fix         BOOLEAN NOT NULL,
    status      TEXT NOT NULL, -- running, succeeded, interrupted
    error       TEXT NOT NULL DEFAULT '',
    progress    TEXT NOT NULL DEFAULT '{}',
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX reconcile_runs_seq ON reconcile_runs (seq);
CREATE INDEX reconcile_runs_status ON reconcile_runs (status, seq);

-- One item per run, kind and object: a run that continues finds the same ones again.
CREATE TABLE reconcile_items (
    run_id     TEXT NOT NULL REFERENCES reconcile_runs (id),
    kind       TEXT NOT NULL,
    object     TEXT NOT NULL,
    seq        BIGINT NOT NULL, -- the order found
    account_id TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL,
    command    TEXT NOT NULL DEFAULT '',
    fixed      BOOLEAN NOT NULL DEFAULT FALSE,
    event_id   TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, kind, object)
);
CREATE INDEX reconcile_items_seq ON reconcile_items (run_id, seq);

-- Recharges that wait on Stripe or the customer, for "stuck".
CREATE INDEX recharges_waiting ON recharges (updated_at) WHERE status IN ('processing', 'pending', 'action_required');

-- +goose Down
DROP INDEX recharges_waiting;
DROP TABLE reconcile_items;
DROP TABLE reconcile_runs;
