package sqlstore

import (
	"time"

	"github.com/credits/credits"
)

const autoRechargeColumns = `account_id, customer_id, payment_method_id, card_brand, card_last4, card_pending, enabled, threshold,
	pack_id, quantity, monthly_limit, disabled_reason, settings_at, updated_at, customer_generation`

func scanAutoRecharge(s scanner) (credits.AutoRecharge, error) {
	var a credits.AutoRecharge
	var card credits.SavedCard
	err := s.Scan(&a.AccountID, &a.CustomerID, &card.PaymentMethodID, &card.Brand, &card.Last4, &a.CardPending, &a.Enabled,
		&a.Threshold, &a.PackID, &a.Quantity, &a.MonthlyLimit, &a.DisabledReason, timeValue{&a.SettingsAt}, timeValue{&a.UpdatedAt},
		&a.CustomerGeneration)
	if card.PaymentMethodID != "" {
		a.Card = &card
	}
	return a, err
}

func (t *Tx) AutoRecharge(accountID string) (credits.AutoRecharge, error) {
	return queryOne(t, "read the auto-recharge of account "+accountID, scanAutoRecharge,
		`SELECT `+autoRechargeColumns+` FROM auto_recharge WHERE account_id = ?`, accountID)
}

func (t *Tx) AutoRechargeByCustomer(customerID string) (credits.AutoRecharge, error) {
	return queryOne(t, "find the account of customer "+customerID, scanAutoRecharge,
		`SELECT `+autoRechargeColumns+` FROM auto_recharge WHERE customer_id = ? AND customer_id <> '' ORDER BY account_id LIMIT 1`, customerID)
}

func (t *Tx) AutoRechargeByPaymentMethod(paymentMethodID string) (credits.AutoRecharge, error) {
	return queryOne(t, "find the account of card "+paymentMethodID, scanAutoRecharge,
		`SELECT `+autoRechargeColumns+` FROM auto_recharge WHERE payment_method_id = ? AND payment_method_id <> '' ORDER BY account_id LIMIT 1`, paymentMethodID)
}

func (t *Tx) CardsToRead(limit int) ([]credits.AutoRecharge, error) {
	return queryAll(t, "list cards to read", scanAutoRecharge,
		`SELECT `+autoRechargeColumns+` FROM auto_recharge WHERE card_pending <> '' ORDER BY account_id LIMIT ?`, limit)
}

func (l *lockedAccount) AutoRecharge() (credits.AutoRecharge, error) {
	return l.t.AutoRecharge(l.id())
}

func (l *lockedAccount) SaveAutoRecharge(a credits.AutoRecharge) error {
	var card credits.SavedCard
	if a.Card != nil {
		card = *a.Card
	}
	if _, err := l.t.exec("save the auto-recharge of account "+l.id(), `INSERT INTO auto_recharge (`+autoRechargeColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET customer_id = excluded.customer_id, payment_method_id = excluded.payment_method_id,
			card_brand = excluded.card_brand, card_last4 = excluded.card_last4, card_pending = excluded.card_pending,
			enabled = excluded.enabled, threshold = excluded.threshold, pack_id = excluded.pack_id, quantity = excluded.quantity,
			monthly_limit = excluded.monthly_limit, disabled_reason = excluded.disabled_reason, settings_at = excluded.settings_at,
			updated_at = excluded.updated_at, customer_generation = excluded.customer_generation`,
		l.id(), a.CustomerID, card.PaymentMethodID, card.Brand, card.Last4, a.CardPending, a.Enabled, a.Threshold, a.PackID,
		a.Quantity, a.MonthlyLimit, a.DisabledReason, l.t.d.Time(a.SettingsAt), l.t.d.Time(a.UpdatedAt), a.CustomerGeneration); err != nil {
		return err
	}
	threshold := int64(0)
	if a.Enabled {
		threshold = a.Threshold
	}
	if err := l.t.execOne("mirror the recharge threshold of account "+l.id(), `UPDATE accounts SET recharge_threshold = ? WHERE id = ?`,
		threshold, l.id()); err != nil {
		return err
	}
	l.account.RechargeThreshold = threshold
	return l.changed(nil, func(a *credits.Account) { a.RechargeThreshold = threshold })
}

const rechargeColumns = `id, account_id, pack_id, quantity, credits, amount, currency, attempt, status, payment_intent,
	checkout_session_id, action_url, error, next_attempt_at, locked_until, created_at, updated_at,
	sent_at, customer_id, key_generation, key_spent, soft_retry, link_open, link_expires_at`

func scanRecharge(s scanner) (credits.Recharge, error) {
	var r credits.Recharge
	err := s.Scan(&r.ID, &r.AccountID, &r.PackID, &r.Quantity, &r.Credits, &r.Amount, &r.Currency, &r.Attempt, &r.Status,
		&r.PaymentIntent, &r.CheckoutSessionID, &r.ActionURL, &r.Error, timeValue{&r.NextAttemptAt}, timeValue{&r.LockedUntil},
		timeValue{&r.CreatedAt}, timeValue{&r.UpdatedAt}, nullTimeValue{&r.SentAt}, &r.CustomerID, &r.KeyGeneration, &r.KeySpent,
		&r.SoftRetry, &r.LinkOpen, nullTimeValue{&r.LinkExpiresAt})
	return r, err
}

func (t *Tx) Recharge(id string) (credits.Recharge, error) {
	return queryOne(t, "read recharge "+id, scanRecharge, `SELECT `+rechargeColumns+` FROM recharges WHERE id = ?`, id)
}

func (t *Tx) Recharges(accountID string, limit int) ([]credits.Recharge, error) {
	return queryAll(t, "list the recharges of account "+accountID, scanRecharge,
		`SELECT `+rechargeColumns+` FROM recharges WHERE account_id = ? ORDER BY seq DESC LIMIT ?`, accountID, limit)
}

func (t *Tx) RechargesSince(accountID string, since time.Time) ([]credits.Recharge, error) {
	return queryAll(t, "list this month's recharges of account "+accountID, scanRecharge,
		`SELECT `+rechargeColumns+` FROM recharges WHERE account_id = ? AND created_at >= ? ORDER BY seq`, accountID, t.d.Time(since))
}

// ClaimRecharges skips recharges another replica is working on, and takes
// those whose earlier claim ran out (the replica stopped mid-call: the same
// idempotency key goes to Stripe again).
func (t *Tx) ClaimRecharges(now time.Time, lease time.Duration, limit int) ([]credits.Recharge, error) {
	return queryAll(t, "claim recharges", scanRecharge, `UPDATE recharges SET locked_until = ?
		WHERE id IN (SELECT id FROM recharges
			WHERE (status IN ('pending', 'processing', 'action_required') OR link_open)
				AND next_attempt_at <= ? AND locked_until <= ?
			ORDER BY next_attempt_at LIMIT ?{skip_locked})
		RETURNING `+rechargeColumns, t.d.Time(now.Add(lease)), t.d.Time(now), t.d.Time(now), limit)
}

func (l *lockedAccount) InFlightRecharge() (credits.Recharge, error) {
	return queryOne(l.t, "read the recharge in flight of account "+l.id(), scanRecharge, `SELECT `+rechargeColumns+` FROM recharges
		WHERE account_id = ? AND status IN ('pending', 'processing', 'action_required')`, l.id())
}

func (l *lockedAccount) RechargesSince(since time.Time) ([]credits.Recharge, error) {
	return l.t.RechargesSince(l.id(), since)
}

func (l *lockedAccount) CreateRecharge(r credits.Recharge) error {
	// The account is locked: its recharges are numbered one at a time.
	_, err := l.t.exec("record recharge "+r.ID, `INSERT INTO recharges (seq, `+rechargeColumns+`)
		VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM recharges WHERE account_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
			?, ?, ?, ?, ?, ?, ?)`,
		l.id(), r.ID, l.id(), r.PackID, r.Quantity, r.Credits, r.Amount,
		r.Currency, r.Attempt, r.Status, r.PaymentIntent, r.CheckoutSessionID, r.ActionURL, r.Error, l.t.d.Time(r.NextAttemptAt),
		l.t.d.Time(r.LockedUntil), l.t.d.Time(r.CreatedAt), l.t.d.Time(r.UpdatedAt),
		l.t.d.nullTime(r.SentAt), r.CustomerID, r.KeyGeneration, r.KeySpent, r.SoftRetry, r.LinkOpen, l.t.d.nullTime(r.LinkExpiresAt))
	return err
}

func (l *lockedAccount) UpdateRecharge(r credits.Recharge) error {
	return l.t.execOne("update recharge "+r.ID, `UPDATE recharges SET status = ?, payment_intent = ?, checkout_session_id = ?,
		action_url = ?, error = ?, next_attempt_at = ?, locked_until = ?, updated_at = ?, sent_at = ?, customer_id = ?,
		key_generation = ?, key_spent = ?, soft_retry = ?, link_open = ?, link_expires_at = ? WHERE id = ? AND account_id = ?`,
		r.Status, r.PaymentIntent, r.CheckoutSessionID, r.ActionURL, r.Error, l.t.d.Time(r.NextAttemptAt), l.t.d.Time(r.LockedUntil),
		l.t.d.Time(r.UpdatedAt), l.t.d.nullTime(r.SentAt), r.CustomerID, r.KeyGeneration, r.KeySpent, r.SoftRetry, r.LinkOpen, l.t.d.nullTime(r.LinkExpiresAt), r.ID, l.id())
}
