-- +goose Up
-- A payment counts what of its purchase's lot expired (its expiry entries
-- are linked to it when the lot expires), so that a refund or a lost
-- dispute never takes expired credits again (architecture.md, Payments).
-- Expiry entries written before are linked here: the lot they name
-- (reference lot_<id>) is a purchase's, and the payment is the one of its
-- session. Linking only widens what a payment may hold (posted ≤
-- max(owed, expired)), so no payment that verify passed fails it after.
INSERT INTO payment_entries (entry_id, payment_id)
SELECT e.id, p.id
FROM entries e
JOIN lots l ON l.account_id = e.account_id AND e.reference = 'lot_' || l.id AND l.source = 'purchase'
JOIN payments p ON p.session_id = l.reference AND p.session_id != '' AND p.account_id = l.account_id
WHERE e.kind = 'expiry' AND NOT EXISTS (SELECT 1 FROM payment_entries pe WHERE pe.entry_id = e.id);

-- +goose Down
DELETE FROM payment_entries WHERE entry_id IN (SELECT id FROM entries WHERE kind = 'expiry');
