-- +goose Up
-- Events for the application (purchase.completed, credits.granted, …), each
-- written in the transaction of the change that caused it; seq orders them.
ALTER TABLE accounts ADD COLUMN event_sequence BIGINT NOT NULL DEFAULT 0;
CREATE TABLE outbox_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    account_id TEXT NOT NULL,
    sequence   BIGINT NOT NULL, -- per account, for receivers to order
    payload    TEXT NOT NULL, -- the JSON that is sent
    created_at TIMESTAMPTZ NOT NULL
);

-- The application's endpoints. Each delivers the events after its cursor,
-- in order, one at a time; a failure is retried with back-off.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL, -- space-separated types, or *
    description     TEXT NOT NULL DEFAULT '',
    secret          TEXT NOT NULL,
    status          TEXT NOT NULL, -- enabled, disabled
    disabled_reason TEXT NOT NULL DEFAULT '',
    cursor          BIGINT NOT NULL, -- seq of the last event handled
    attempts        BIGINT NOT NULL DEFAULT 0, -- failed attempts at the next event
    next_attempt_at TIMESTAMPTZ NOT NULL,
    failing_since   TIMESTAMPTZ,
    locked_until    TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_attempts (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_id    TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    status_code BIGINT NOT NULL, -- 0 when no answer came
    latency_ms  BIGINT NOT NULL,
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, at);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_endpoints;
DROP TABLE outbox_events;
ALTER TABLE accounts DROP COLUMN event_sequence;
