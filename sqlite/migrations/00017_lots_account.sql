-- +goose Up
-- lots_reference (account_id, source, reference) serves every lookup of an
-- account's lots that this index served, the foreign key's included; a
-- purchase wrote an entry into both. (PostgreSQL never had it.)
DROP INDEX lots_account;

-- +goose Down
CREATE INDEX lots_account ON lots (account_id);
