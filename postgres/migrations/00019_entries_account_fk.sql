-- +goose Up
-- An entry's account is not checked by a foreign key any more: every entry is
-- written under its account's lock (a LockedAccount), so the account exists,
-- and the check was an SPI query per entry on the backend that runs every
-- group-commit batch, its serial part (architecture.md, Performance 30:
-- debit-100 about +10 %). verify reports an entry whose account does not
-- exist. SQLite keeps its foreign key: dropping it would rewrite the table,
-- and its check is a lookup in a page the writer has just read.
ALTER TABLE entries DROP CONSTRAINT entries_account_id_fkey;

-- +goose Down
ALTER TABLE entries ADD CONSTRAINT entries_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id);
