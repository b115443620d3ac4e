-- +goose Up
-- Whether credits.expiring was written for a lot: it is told once per lot.
ALTER TABLE lots ADD COLUMN expiring_notified BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX lots_expiring_notice ON lots (expires_at) WHERE expires_at IS NOT NULL AND NOT expiring_notified;

-- +goose Down
DROP INDEX lots_expiring_notice;
ALTER TABLE lots DROP COLUMN expiring_notified;
