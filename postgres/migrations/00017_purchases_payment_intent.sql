-- +goose Up
-- No query reads purchases by payment intent: a refund or dispute finds its
-- payment by the payment intent's id (payments.id) and the purchase through
-- the payment's session. Payment intent ids are random, so each purchase
-- wrote this index on a page of its own.
DROP INDEX purchases_payment_intent;

-- +goose Down
CREATE INDEX purchases_payment_intent ON purchases (payment_intent) WHERE payment_intent != '';
