-- +goose Up
-- One row that /healthz writes, to learn whether writes still work (a full
-- disk or a read-only file fails only writes).
CREATE TABLE health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE health;
