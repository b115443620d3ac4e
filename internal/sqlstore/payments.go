package sqlstore

import (
	"time"

	"github.com/credits/credits"
)

const paymentColumns = `id, account_id, session_id, pack_id, quantity, credits, sold_amount, paid_amount, discount, currency,
	charge_id, charge_amount, charge_currency, charge_refunded, charge_seen_at, posted, created_at, updated_at`

func scanPayment(s scanner) (credits.Payment, error) {
	var p credits.Payment
	err := s.Scan(&p.ID, &p.AccountID, &p.SessionID, &p.PackID, &p.Quantity, &p.Credits, &p.SoldAmount, &p.PaidAmount,
		&p.Discount, &p.Currency, &p.ChargeID, &p.ChargeAmount, &p.ChargeCurrency, &p.ChargeRefunded,
		timeValue{&p.ChargeSeenAt}, &p.Posted, timeValue{&p.CreatedAt}, timeValue{&p.UpdatedAt})
	return p, err
}

// LockPayment creates the payment when it is new, then locks its row (on
// PostgreSQL; SQLite's one writer already serialises).
func (t *Tx) LockPayment(id string, now time.Time) (credits.Payment, bool, error) {
	// A new row is locked by its insert. Its columns are the ones given here
	// and the table's defaults, the zero values, so they are not read back
	// (RETURNING its eighteen columns made it the dearest statement of a
	// SQLite purchase, 21 µs). Times are cut to the microsecond, as both
	// stores keep them.
	created := credits.Payment{ID: id, ChargeSeenAt: time.UnixMicro(0).UTC(),
		CreatedAt: time.UnixMicro(now.UnixMicro()).UTC()}
	created.UpdatedAt = created.CreatedAt
	n, err := t.exec("create payment "+id, `INSERT INTO payments (id, charge_seen_at, created_at, updated_at)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, id, t.d.Time(created.ChargeSeenAt), t.d.Time(now), t.d.Time(now))
	if err != nil {
		return credits.Payment{}, false, err
	}
	if n == 1 {
		return created, true, nil
	}
	// FOR NO KEY UPDATE serialises the payment's events as FOR UPDATE would,
	// but lets a settling account link an expiry entry to the payment
	// (LinkPurchaseLotEntry: the foreign key takes FOR KEY SHARE) while an
	// event holds the payment and waits for that account: under FOR UPDATE
	// the two waited for each other.
	p, err := queryOne(t, "lock payment "+id, scanPayment, `SELECT `+paymentColumns+` FROM payments WHERE id = ?{for_no_key_update}`, id)
	return p, false, err
}

func (t *Tx) Payment(id string) (credits.Payment, error) {
	return queryOne(t, "read payment "+id, scanPayment, `SELECT `+paymentColumns+` FROM payments WHERE id = ?`, id)
}

func (t *Tx) PaymentBySession(sessionID string) (credits.Payment, error) {
	return queryOne(t, "read payment of session "+sessionID, scanPayment,
		`SELECT `+paymentColumns+` FROM payments WHERE session_id = ? AND session_id != ''`, sessionID)
}

func (t *Tx) AllPayments(after string, limit int) ([]credits.Payment, error) {
	return queryAll(t, "list payments", scanPayment, `SELECT `+paymentColumns+` FROM payments WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

func (t *Tx) SavePayment(p credits.Payment) error {
	return t.execOne("save payment "+p.ID, `UPDATE payments SET account_id = ?, session_id = ?, pack_id = ?, quantity = ?, credits = ?,
		sold_amount = ?, paid_amount = ?, discount = ?, currency = ?, charge_id = ?, charge_amount = ?, charge_currency = ?,
		charge_refunded = ?, charge_seen_at = ?, updated_at = ? WHERE id = ?`,
		p.AccountID, p.SessionID, p.PackID, p.Quantity, p.Credits, p.SoldAmount, p.PaidAmount, p.Discount, p.Currency,
		p.ChargeID, p.ChargeAmount, p.ChargeCurrency, p.ChargeRefunded, t.d.Time(p.ChargeSeenAt), t.d.Time(p.UpdatedAt), p.ID)
}

const refundColumns = `id, payment_id, amount, currency, status, updated_at`

func scanRefund(s scanner) (credits.PaymentRefund, error) {
	var r credits.PaymentRefund
	return r, s.Scan(&r.ID, &r.PaymentID, &r.Amount, &r.Currency, &r.Status, timeValue{&r.UpdatedAt})
}

func (t *Tx) PaymentRefund(id string) (credits.PaymentRefund, error) {
	return queryOne(t, "read refund "+id, scanRefund, `SELECT `+refundColumns+` FROM payment_refunds WHERE id = ?`, id)
}

func (t *Tx) PaymentRefunds(paymentID string) ([]credits.PaymentRefund, error) {
	return queryAll(t, "list refunds of payment "+paymentID, scanRefund,
		`SELECT `+refundColumns+` FROM payment_refunds WHERE payment_id = ? ORDER BY id`, paymentID)
}

func (t *Tx) SavePaymentRefund(r credits.PaymentRefund) error {
	_, err := t.exec("save refund "+r.ID, `INSERT INTO payment_refunds (`+refundColumns+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET amount = excluded.amount, currency = excluded.currency, status = excluded.status,
		updated_at = excluded.updated_at`, r.ID, r.PaymentID, r.Amount, r.Currency, r.Status, t.d.Time(r.UpdatedAt))
	return err
}

const disputeColumns = `id, payment_id, amount, currency, status, withdrawn, reinstated, updated_at`

func scanDispute(s scanner) (credits.PaymentDispute, error) {
	var d credits.PaymentDispute
	return d, s.Scan(&d.ID, &d.PaymentID, &d.Amount, &d.Currency, &d.Status, &d.Withdrawn, &d.Reinstated, timeValue{&d.UpdatedAt})
}

func (t *Tx) PaymentDispute(id string) (credits.PaymentDispute, error) {
	return queryOne(t, "read dispute "+id, scanDispute, `SELECT `+disputeColumns+` FROM payment_disputes WHERE id = ?`, id)
}

func (t *Tx) PaymentDisputes(paymentID string) ([]credits.PaymentDispute, error) {
	return queryAll(t, "list disputes of payment "+paymentID, scanDispute,
		`SELECT `+disputeColumns+` FROM payment_disputes WHERE payment_id = ? ORDER BY id`, paymentID)
}

func (t *Tx) SavePaymentDispute(d credits.PaymentDispute) error {
	_, err := t.exec("save dispute "+d.ID, `INSERT INTO payment_disputes (`+disputeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET amount = excluded.amount, currency = excluded.currency, status = excluded.status,
		withdrawn = excluded.withdrawn, reinstated = excluded.reinstated, updated_at = excluded.updated_at`,
		d.ID, d.PaymentID, d.Amount, d.Currency, d.Status, d.Withdrawn, d.Reinstated, t.d.Time(d.UpdatedAt))
	return err
}

func (t *Tx) PaymentEntries(paymentID string) ([]credits.Entry, error) {
	return queryAll(t, "list entries of payment "+paymentID, scanEntry, `SELECT `+prefixed("e", entryColumns)+`
		FROM payment_entries pe JOIN entries e ON e.id = pe.entry_id WHERE pe.payment_id = ? ORDER BY e.id`, paymentID)
}

func (t *Tx) PaymentEntrySums() ([]credits.PaymentEntrySum, error) {
	return queryAll(t, "sum entries of payments", func(s scanner) (credits.PaymentEntrySum, error) {
		var p credits.PaymentEntrySum
		return p, s.Scan(&p.PaymentID, &p.Posted, &p.EntrySum, &p.Expired, &p.Lot)
	}, `SELECT p.id, p.posted,
		CAST(COALESCE((SELECT SUM(e.amount) FROM payment_entries pe JOIN entries e ON e.id = pe.entry_id
			WHERE pe.payment_id = p.id AND e.kind != 'expiry'), 0) AS BIGINT),
		CAST(COALESCE((SELECT -SUM(e.amount) FROM payment_entries pe JOIN entries e ON e.id = pe.entry_id
			WHERE pe.payment_id = p.id AND e.kind = 'expiry'), 0) AS BIGINT),
		CAST(COALESCE((SELECT l.remaining FROM lots l WHERE l.account_id = p.account_id AND l.source = 'purchase'
			AND l.reference = p.session_id ORDER BY l.id LIMIT 1), 0) AS BIGINT)
		FROM payments p ORDER BY p.id`)
}

func (l *lockedAccount) SetPaymentPosted(paymentID string, posted int64) error {
	return l.t.later(Write{Op: "set what payment " + paymentID + " posted", Args: []any{posted, paymentID, l.id()}, One: true},
		`UPDATE payments SET posted = ? WHERE id = ? AND account_id = ?`)
}

func (l *lockedAccount) RecordPurchase(p credits.Payment) error {
	return l.t.later(Write{Op: "record the purchase of payment " + p.ID, One: true, Args: []any{l.id(), p.SessionID, p.PackID, p.Quantity,
		p.Credits, p.SoldAmount, p.PaidAmount, p.Discount, p.Currency, p.Posted, l.t.d.Time(p.UpdatedAt), p.ID, l.id()}},
		`UPDATE payments SET account_id = ?, session_id = ?, pack_id = ?, quantity = ?, credits = ?, sold_amount = ?, paid_amount = ?,
		discount = ?, currency = ?, posted = ?, updated_at = ? WHERE id = ? AND (account_id = '' OR account_id = ?)`)
}

// LinkPaymentEntry names an entry a payment posted; the caller wrote both
// under this account's lock.
func (l *lockedAccount) LinkPaymentEntry(entryID int64, paymentID string) error {
	return l.t.later(Write{Op: "link an entry to payment " + paymentID, Args: []any{entryID, paymentID}},
		`INSERT INTO payment_entries (entry_id, payment_id) VALUES (?, ?)`)
}

// LinkPurchaseLotEntry links an entry to the payment whose session bought
// the lot, in one statement: nothing is read back.
func (l *lockedAccount) LinkPurchaseLotEntry(entryID int64, sessionID string) error {
	// Of any account: a lot that a transfer moved keeps its purchase's
	// session, and what expires of it was never spent where it went.
	return l.t.later(Write{Op: "link an entry to the payment of session " + sessionID, Args: []any{entryID, sessionID}},
		`INSERT INTO payment_entries (entry_id, payment_id) SELECT ?, id FROM payments
		WHERE session_id = ? AND session_id != ''`)
}
