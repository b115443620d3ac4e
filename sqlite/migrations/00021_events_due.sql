-- +goose Up
-- The index the worker finds due events by holds only the pending ones, as
-- PostgreSQL's always has: every processed, ignored or failed event was an
-- entry of it too, written by every webhook and read by nothing
-- (architecture.md, Performance 33).
DROP INDEX events_due;
CREATE INDEX events_due ON events (next_attempt_at) WHERE status = 'pending';

-- +goose Down
DROP INDEX events_due;
CREATE INDEX events_due ON events (status, next_attempt_at);
