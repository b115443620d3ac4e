-- +goose Up
-- Links and sessions belong to the API key that made them (key_id; a
-- dashboard session inherits its link's), so that revoking the key ends
-- them; a customer page may do only what its key could (capabilities:
-- purchase, auto_recharge, card; space-separated); a link is exchanged once
-- (used); an operator's notices live with its session (flash), not in URLs.
-- The id column now holds the SHA-256 of the token's secret part, never the
-- secret itself: the rows made before held plain ids, so they are forgotten
-- (everyone signs in again) rather than kept forgeable.
DELETE FROM web_sessions;
ALTER TABLE web_sessions ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE web_sessions ADD COLUMN capabilities TEXT NOT NULL DEFAULT '';
ALTER TABLE web_sessions ADD COLUMN used BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE web_sessions ADD COLUMN flash TEXT NOT NULL DEFAULT '';
CREATE INDEX web_sessions_key ON web_sessions (key_id);

-- +goose Down
DROP INDEX web_sessions_key;
ALTER TABLE web_sessions DROP COLUMN flash;
ALTER TABLE web_sessions DROP COLUMN used;
ALTER TABLE web_sessions DROP COLUMN capabilities;
ALTER TABLE web_sessions DROP COLUMN key_id;
