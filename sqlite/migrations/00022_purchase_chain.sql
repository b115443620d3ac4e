-- +goose Up
-- Each purchase names the account's purchase before it, and the account its
-- latest: an account's purchases are read newest first along that chain, as
-- its entries are. It replaces the index on (account_id, id), whose
-- insertion point was a different page for every account: each webhook
-- wrote one more page (architecture.md, Performance 34).
ALTER TABLE purchases ADD COLUMN prev_purchase_id INTEGER;
ALTER TABLE accounts ADD COLUMN last_purchase_id INTEGER;
UPDATE purchases SET prev_purchase_id = chained.prev FROM (
    SELECT id, LAG(id) OVER (PARTITION BY account_id ORDER BY id) AS prev FROM purchases) AS chained
WHERE purchases.id = chained.id;
UPDATE accounts SET last_purchase_id = (SELECT MAX(id) FROM purchases WHERE purchases.account_id = accounts.id);
DROP INDEX purchases_account;

-- +goose Down
CREATE INDEX purchases_account ON purchases (account_id, id);
ALTER TABLE accounts DROP COLUMN last_purchase_id;
ALTER TABLE purchases DROP COLUMN prev_purchase_id;
