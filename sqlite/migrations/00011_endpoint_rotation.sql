-- +goose Up
-- While a secret is rotated, the old one keeps signing (a second v1) until
-- previous_until.
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_endpoints ADD COLUMN previous_until INTEGER;

-- +goose Down
ALTER TABLE webhook_endpoints DROP COLUMN previous_until;
ALTER TABLE webhook_endpoints DROP COLUMN previous_secret;
