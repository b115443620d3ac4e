-- +goose Up
-- No query reads payments by account (a payment is found by its id or its
-- session), and each payment wrote this index twice: when it was made (with
-- no account yet) and again when the purchase named its account. Payments
-- of many accounts landed on as many pages of it: a SQLite batch of 31
-- webhooks wrote 34 of its pages.
DROP INDEX payments_account;

-- +goose Down
CREATE INDEX payments_account ON payments (account_id, created_at);
