-- +goose Up
-- A recharge remembers what Stripe may have been told, so that a charge is
-- looked up in Stripe before it is sent again (Stripe may forget an
-- idempotency key after 24 hours, and a saved 500 or an idempotency_error
-- says nothing about whether money moved):
-- sent_at: when the charge first went out (NULL: never); customer_id: the
-- customer it was sent for (the look-up lists that customer's payment
-- intents); key_generation: the suffix of the idempotency key in use (a new
-- one only after a look-up found nothing); key_spent: the key can only
-- replay an error (a saved 500, an idempotency_error); soft_retry: this attempt is the one sooner retry after a
-- transient decline; link_open: its Checkout link may still be paid (the
-- worker expires it once the recharge ended otherwise); link_expires_at: when
-- the link asked for expires, fixed once so that every try of the request
-- carries the same parameters under its idempotency key.
ALTER TABLE recharges ADD COLUMN sent_at TIMESTAMPTZ;
ALTER TABLE recharges ADD COLUMN customer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE recharges ADD COLUMN key_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE recharges ADD COLUMN key_spent BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE recharges ADD COLUMN soft_retry BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE recharges ADD COLUMN link_open BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE recharges ADD COLUMN link_expires_at TIMESTAMPTZ;
UPDATE recharges SET link_open = TRUE WHERE status = 'action_required' AND checkout_session_id <> '';
-- A pending recharge may have been sent before: look it up before sending.
UPDATE recharges SET sent_at = created_at WHERE status = 'pending';
-- The worker's queue now also holds payments Stripe is processing (their
-- event may never come) and ended recharges whose link is still open.
DROP INDEX recharges_due;
CREATE INDEX recharges_due ON recharges (next_attempt_at)
    WHERE status IN ('pending', 'processing', 'action_required') OR link_open;
-- customer_generation counts the Stripe customers an account had: a new one
-- after customer.deleted is created with a new idempotency key.
ALTER TABLE auto_recharge ADD COLUMN customer_generation BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE auto_recharge DROP COLUMN customer_generation;
DROP INDEX recharges_due;
CREATE INDEX recharges_due ON recharges (next_attempt_at) WHERE status IN ('pending', 'action_required');
ALTER TABLE recharges DROP COLUMN link_expires_at;
ALTER TABLE recharges DROP COLUMN link_open;
ALTER TABLE recharges DROP COLUMN soft_retry;
ALTER TABLE recharges DROP COLUMN key_spent;
ALTER TABLE recharges DROP COLUMN key_generation;
ALTER TABLE recharges DROP COLUMN customer_id;
ALTER TABLE recharges DROP COLUMN sent_at;
