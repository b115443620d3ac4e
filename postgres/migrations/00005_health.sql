-- +goose Up
-- One row that /healthz writes, to learn whether writes still work.
CREATE TABLE health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE health;
