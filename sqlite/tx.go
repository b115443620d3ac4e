package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/credits/credits"
)

// tx implements credits.Tx on one SQLite transaction.
type tx struct {
	ctx context.Context
	tx  *sql.Tx
}

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	res, err := t.tx.ExecContext(t.ctx, query, args...)
	return res, mapError(err)
}

// execOne runs an update that must touch exactly one row.
func (t *tx) execOne(query string, args ...any) error {
	res, err := t.exec(query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return credits.ErrNotFound
	}
	return nil
}

func (t *tx) insert(query string, args ...any) (int64, error) {
	res, err := t.exec(query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](t *tx, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := t.tx.QueryContext(t.ctx, query, args...)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, item)
	}
	return out, rows.Err()
}

func queryOne[T any](t *tx, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	item, err := scan(t.tx.QueryRowContext(t.ctx, query, args...))
	return item, mapError(err)
}

type scanner interface{ Scan(dest ...any) error }

// Packs.

const packColumns = `id, name, credits, unit_amount, currency, COALESCE(stripe_price_id, ''), expires_after_days, active, created_at`

func scanPack(s scanner) (credits.Pack, error) {
	var p credits.Pack
	var created int64
	var expiresAfter sql.NullInt64
	err := s.Scan(&p.ID, &p.Name, &p.Credits, &p.UnitAmount, &p.Currency, &p.StripePriceID, &expiresAfter, &p.Active, &created)
	p.CreatedAt = fromMicros(created)
	if expiresAfter.Valid {
		p.ExpiresAfterDays = &expiresAfter.Int64
	}
	return p, err
}

func (t *tx) CreatePack(p credits.Pack) error {
	_, err := t.exec(`INSERT INTO packs (id, name, credits, unit_amount, currency, stripe_price_id, expires_after_days, active, created_at)
		VALUES (?, ?, ?, ?, ?, NULLIF(?, ''), ?, ?, ?)`,
		p.ID, p.Name, p.Credits, p.UnitAmount, p.Currency, p.StripePriceID, p.ExpiresAfterDays, p.Active, toMicros(p.CreatedAt))
	return err
}

func (t *tx) Pack(id string) (credits.Pack, error) {
	return queryOne(t, scanPack, `SELECT `+packColumns+` FROM packs WHERE id = ?`, id)
}

func (t *tx) PackByPriceID(priceID string) (credits.Pack, error) {
	return queryOne(t, scanPack, `SELECT `+packColumns+` FROM packs WHERE stripe_price_id = ?`, priceID)
}

func (t *tx) Packs(activeOnly bool) ([]credits.Pack, error) {
	return queryAll(t, scanPack, `SELECT `+packColumns+` FROM packs WHERE active OR NOT ? ORDER BY credits, id`, activeOnly)
}

// Accounts.

const accountColumns = `id, email, balance, held, debt, trial, created_at`

func scanAccount(s scanner) (credits.Account, error) {
	var a credits.Account
	var created int64
	err := s.Scan(&a.ID, &a.Email, &a.Balance, &a.Held, &a.Debt, &a.Trial, &created)
	a.CreatedAt = fromMicros(created)
	return a, err
}

func (t *tx) CreateAccount(a credits.Account) error {
	_, err := t.exec(`INSERT INTO accounts (id, email, balance, trial, created_at) VALUES (?, ?, ?, ?, ?)`,
		a.ID, a.Email, a.Balance, a.Trial, toMicros(a.CreatedAt))
	return err
}

// Account needs no explicit lock: the write transaction holds SQLite's one
// write lock from BEGIN IMMEDIATE to COMMIT.
func (t *tx) Account(id string) (credits.Account, error) {
	return queryOne(t, scanAccount, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id)
}

func (t *tx) AccountsByEmail(email string) ([]credits.Account, error) {
	return queryAll(t, scanAccount, `SELECT `+accountColumns+` FROM accounts WHERE email = lower(?) ORDER BY id`, email)
}

func (t *tx) Accounts(after string, limit int) ([]credits.Account, error) {
	return queryAll(t, scanAccount, `SELECT `+accountColumns+` FROM accounts WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

func (t *tx) SearchAccounts(prefix string, limit int) ([]credits.Account, error) {
	pattern := likePrefix(prefix)
	return queryAll(t, scanAccount, `SELECT `+accountColumns+` FROM accounts
		WHERE id LIKE ? ESCAPE '\' OR email LIKE ? ESCAPE '\' ORDER BY id LIMIT ?`, pattern, pattern, limit)
}

// likePrefix makes a LIKE pattern that matches values starting with prefix.
func likePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
}

func (t *tx) SetAccountBalance(id string, balance int64, trial bool) error {
	return t.execOne(`UPDATE accounts SET balance = ?, trial = ? WHERE id = ?`, balance, trial, id)
}

// Checkout sessions.

const sessionColumns = `id, account_id, pack_id, quantity, expected_amount, currency, status, url, created_at, updated_at`

func scanSession(s scanner) (credits.CheckoutSession, error) {
	var cs credits.CheckoutSession
	var created, updated int64
	err := s.Scan(&cs.ID, &cs.AccountID, &cs.PackID, &cs.Quantity, &cs.ExpectedAmount, &cs.Currency,
		&cs.Status, &cs.URL, &created, &updated)
	cs.CreatedAt, cs.UpdatedAt = fromMicros(created), fromMicros(updated)
	return cs, err
}

func (t *tx) CreateCheckoutSession(cs credits.CheckoutSession) error {
	_, err := t.exec(`INSERT INTO checkout_sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		cs.ID, cs.AccountID, cs.PackID, cs.Quantity, cs.ExpectedAmount, cs.Currency, cs.Status, cs.URL,
		toMicros(cs.CreatedAt), toMicros(cs.UpdatedAt))
	return err
}

func (t *tx) CheckoutSession(id string) (credits.CheckoutSession, error) {
	return queryOne(t, scanSession, `SELECT `+sessionColumns+` FROM checkout_sessions WHERE id = ?`, id)
}

func (t *tx) SetCheckoutSessionStatus(id, status string, now time.Time) error {
	return t.execOne(`UPDATE checkout_sessions SET status = ?, updated_at = ? WHERE id = ?`, status, toMicros(now), id)
}

// Purchases.

const purchaseColumns = `id, account_id, pack_id, quantity, credits, amount_paid, currency, session_id, payment_intent, event_id, refunded_credits, created_at`

func scanPurchase(s scanner) (credits.Purchase, error) {
	var p credits.Purchase
	var created int64
	err := s.Scan(&p.ID, &p.AccountID, &p.PackID, &p.Quantity, &p.Credits, &p.AmountPaid, &p.Currency,
		&p.SessionID, &p.PaymentIntent, &p.EventID, &p.RefundedCredits, &created)
	p.CreatedAt = fromMicros(created)
	return p, err
}

func (t *tx) CreatePurchase(p credits.Purchase) (int64, error) {
	return t.insert(`INSERT INTO purchases (account_id, pack_id, quantity, credits, amount_paid, currency, session_id, payment_intent, event_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.AccountID, p.PackID, p.Quantity, p.Credits, p.AmountPaid, p.Currency, p.SessionID, p.PaymentIntent, p.EventID, toMicros(p.CreatedAt))
}

func (t *tx) PurchaseBySession(sessionID string) (credits.Purchase, error) {
	return queryOne(t, scanPurchase, `SELECT `+purchaseColumns+` FROM purchases WHERE session_id = ?`, sessionID)
}

func (t *tx) Purchases(accountID string, limit int) ([]credits.Purchase, error) {
	return queryAll(t, scanPurchase, `SELECT `+purchaseColumns+` FROM purchases WHERE account_id = ? ORDER BY id DESC LIMIT ?`, accountID, limit)
}

func (t *tx) PurchaseByPaymentIntent(paymentIntent string) (credits.Purchase, error) {
	return queryOne(t, scanPurchase, `SELECT `+purchaseColumns+` FROM purchases WHERE payment_intent = ? AND payment_intent != '' ORDER BY id LIMIT 1`, paymentIntent)
}

func (t *tx) SetPurchaseRefunded(id, refundedCredits int64) error {
	return t.execOne(`UPDATE purchases SET refunded_credits = ? WHERE id = ?`, refundedCredits, id)
}

func (t *tx) SetAccountDebt(id string, debt int64) error {
	return t.execOne(`UPDATE accounts SET debt = ? WHERE id = ?`, debt, id)
}

func (t *tx) LotByReference(accountID, source, reference string) (credits.Lot, error) {
	return queryOne(t, scanLot, `SELECT `+lotColumns+` FROM lots WHERE account_id = ? AND source = ? AND reference = ? ORDER BY id LIMIT 1`,
		accountID, source, reference)
}

// Disputes.

const disputeColumns = `id, account_id, session_id, credits, status, created_at, updated_at`

func scanDispute(s scanner) (credits.Dispute, error) {
	var d credits.Dispute
	var created, updated int64
	err := s.Scan(&d.ID, &d.AccountID, &d.SessionID, &d.Credits, &d.Status, &created, &updated)
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	return d, err
}

func (t *tx) Dispute(id string) (credits.Dispute, error) {
	return queryOne(t, scanDispute, `SELECT `+disputeColumns+` FROM disputes WHERE id = ?`, id)
}

func (t *tx) CreateDispute(d credits.Dispute) error {
	_, err := t.exec(`INSERT INTO disputes (`+disputeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.AccountID, d.SessionID, d.Credits, d.Status, toMicros(d.CreatedAt), toMicros(d.UpdatedAt))
	return err
}

func (t *tx) UpdateDispute(d credits.Dispute) error {
	return t.execOne(`UPDATE disputes SET credits = ?, status = ?, updated_at = ? WHERE id = ?`, d.Credits, d.Status, toMicros(d.UpdatedAt), d.ID)
}

// Entries and lots.

const entryColumns = `id, account_id, amount, kind, reference, description, balance_after, created_at`

func scanEntry(s scanner) (credits.Entry, error) {
	var e credits.Entry
	var created int64
	err := s.Scan(&e.ID, &e.AccountID, &e.Amount, &e.Kind, &e.Reference, &e.Description, &e.BalanceAfter, &created)
	e.CreatedAt = fromMicros(created)
	return e, err
}

func (t *tx) AddEntry(e credits.Entry) (int64, error) {
	return t.insert(`INSERT INTO entries (account_id, amount, kind, reference, description, balance_after, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.AccountID, e.Amount, e.Kind, e.Reference, e.Description, e.BalanceAfter, toMicros(e.CreatedAt))
}

func (t *tx) Entries(accountID string, before int64, limit int) ([]credits.Entry, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	return queryAll(t, scanEntry, `SELECT `+entryColumns+` FROM entries WHERE account_id = ? AND id < ? ORDER BY id DESC LIMIT ?`,
		accountID, before, limit)
}

func (t *tx) SetAccountHeld(id string, held int64) error {
	return t.execOne(`UPDATE accounts SET held = ? WHERE id = ?`, held, id)
}

func (t *tx) AddLot(l credits.Lot) (int64, error) {
	return t.insert(`INSERT INTO lots (account_id, amount, remaining, priority, expires_at, source, reference, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		l.AccountID, l.Amount, l.Remaining, l.Priority, toNullMicros(l.ExpiresAt), l.Source, l.Reference, toMicros(l.CreatedAt))
}

const lotColumns = `id, account_id, amount, remaining, reserved, priority, expires_at, source, reference, created_at`

func scanLot(s scanner) (credits.Lot, error) {
	var l credits.Lot
	var created int64
	var expires sql.NullInt64
	err := s.Scan(&l.ID, &l.AccountID, &l.Amount, &l.Remaining, &l.Reserved, &l.Priority, &expires, &l.Source, &l.Reference, &created)
	l.CreatedAt, l.ExpiresAt = fromMicros(created), fromNullMicros(expires)
	return l, err
}

func (t *tx) SpendableLots(accountID string, now time.Time, limit int) ([]credits.Lot, error) {
	return queryAll(t, scanLot, `SELECT `+lotColumns+` FROM lots
		WHERE account_id = ? AND remaining > reserved AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY account_id, expires_at IS NULL, expires_at, priority, id LIMIT ?`, accountID, toMicros(now), limit)
}

func (t *tx) ExpiringLots(accountID string, until time.Time, limit int) ([]credits.Lot, error) {
	return queryAll(t, scanLot, `SELECT `+lotColumns+` FROM lots
		WHERE account_id = ? AND expires_at IS NOT NULL AND remaining > reserved AND expires_at <= ?
		ORDER BY account_id, expires_at, id LIMIT ?`, accountID, toMicros(until), limit)
}

func (t *tx) Lot(id int64) (credits.Lot, error) {
	return queryOne(t, scanLot, `SELECT `+lotColumns+` FROM lots WHERE id = ?`, id)
}

func (t *tx) SetLot(id, remaining, reserved int64) error {
	return t.execOne(`UPDATE lots SET remaining = ?, reserved = ? WHERE id = ?`, remaining, reserved, id)
}

func (t *tx) AddLotDraws(entryID int64, draws []credits.LotAmount) error {
	for _, d := range draws {
		if _, err := t.exec(`INSERT INTO lot_draws (entry_id, lot_id, amount) VALUES (?, ?, ?)`, entryID, d.LotID, d.Amount); err != nil {
			return err
		}
	}
	return nil
}

func scanLotAmount(s scanner) (credits.LotAmount, error) {
	var a credits.LotAmount
	return a, s.Scan(&a.LotID, &a.Amount)
}

func (t *tx) LotDraws(entryID int64) ([]credits.LotAmount, error) {
	return queryAll(t, scanLotAmount, `SELECT lot_id, amount FROM lot_draws WHERE entry_id = ? ORDER BY lot_id`, entryID)
}

// Holds.

const holdColumns = `id, account_id, amount, captured, status, description, expires_at, created_at, updated_at`

func scanHold(s scanner) (credits.Hold, error) {
	var h credits.Hold
	var expires, created, updated int64
	err := s.Scan(&h.ID, &h.AccountID, &h.Amount, &h.Captured, &h.Status, &h.Description, &expires, &created, &updated)
	h.ExpiresAt, h.CreatedAt, h.UpdatedAt = fromMicros(expires), fromMicros(created), fromMicros(updated)
	return h, err
}

func (t *tx) CreateHold(h credits.Hold, lots []credits.LotAmount) error {
	_, err := t.exec(`INSERT INTO holds (`+holdColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		h.ID, h.AccountID, h.Amount, h.Captured, h.Status, h.Description, toMicros(h.ExpiresAt), toMicros(h.CreatedAt), toMicros(h.UpdatedAt))
	if err != nil {
		return err
	}
	for _, l := range lots {
		if _, err := t.exec(`INSERT INTO hold_lots (hold_id, lot_id, amount) VALUES (?, ?, ?)`, h.ID, l.LotID, l.Amount); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) Hold(id string) (credits.Hold, error) {
	return queryOne(t, scanHold, `SELECT `+holdColumns+` FROM holds WHERE id = ?`, id)
}

func (t *tx) HoldLots(holdID string) ([]credits.LotAmount, error) {
	return queryAll(t, scanLotAmount, `SELECT lot_id, amount FROM hold_lots WHERE hold_id = ? ORDER BY lot_id`, holdID)
}

func (t *tx) UpdateHold(h credits.Hold) error {
	return t.execOne(`UPDATE holds SET captured = ?, status = ?, updated_at = ? WHERE id = ?`, h.Captured, h.Status, toMicros(h.UpdatedAt), h.ID)
}

func (t *tx) Holds(accountID, status string, limit int) ([]credits.Hold, error) {
	return queryAll(t, scanHold, `SELECT `+holdColumns+` FROM holds WHERE account_id = ? AND (status = ? OR ? = '')
		ORDER BY created_at DESC, id DESC LIMIT ?`, accountID, status, status, limit)
}

// Expiry.

func (t *tx) DueAccounts(now time.Time, limit int) ([]string, error) {
	return queryAll(t, scanString, `SELECT account_id FROM holds WHERE status = 'held' AND expires_at <= ?
		UNION SELECT account_id FROM lots WHERE expires_at IS NOT NULL AND expires_at <= ? AND remaining > reserved
		LIMIT ?`, toMicros(now), toMicros(now), limit)
}

func (t *tx) AccountDue(accountID string, now time.Time) (bool, error) {
	var due bool
	err := t.tx.QueryRowContext(t.ctx, `SELECT EXISTS (SELECT 1 FROM holds WHERE account_id = ? AND status = 'held' AND expires_at <= ?)
		OR EXISTS (SELECT 1 FROM lots WHERE account_id = ? AND expires_at IS NOT NULL AND expires_at <= ? AND remaining > reserved)`,
		accountID, toMicros(now), accountID, toMicros(now)).Scan(&due)
	return due, mapError(err)
}

func scanString(s scanner) (string, error) {
	var v string
	return v, s.Scan(&v)
}

// Idempotency keys.

func (t *tx) IdempotencyRecord(scope, key string) (credits.IdempotencyRecord, error) {
	return queryOne(t, func(s scanner) (credits.IdempotencyRecord, error) {
		var r credits.IdempotencyRecord
		var created int64
		err := s.Scan(&r.Scope, &r.Key, &r.RequestHash, &r.ErrorCode, &r.ErrorMessage, &r.Result, &created)
		r.CreatedAt = fromMicros(created)
		return r, err
	}, `SELECT scope, key, request_hash, error_code, error_message, result, created_at FROM idempotency_keys WHERE scope = ? AND key = ?`, scope, key)
}

func (t *tx) CreateIdempotencyRecord(r credits.IdempotencyRecord) error {
	_, err := t.exec(`INSERT INTO idempotency_keys (scope, key, request_hash, error_code, error_message, result, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, r.Scope, r.Key, r.RequestHash, r.ErrorCode, r.ErrorMessage, r.Result, toMicros(r.CreatedAt))
	return err
}

func (t *tx) DeleteIdempotencyRecord(scope, key string) error {
	_, err := t.exec(`DELETE FROM idempotency_keys WHERE scope = ? AND key = ?`, scope, key)
	return err
}

func (t *tx) DeleteIdempotencyRecordsBefore(before time.Time) (int64, error) {
	res, err := t.exec(`DELETE FROM idempotency_keys WHERE created_at < ?`, toMicros(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Events.

const eventColumns = `id, type, livemode, session_id, status, error, attempts, received_at, processed_at, next_attempt_at, session, payload`

func scanEvent(s scanner) (credits.Event, error) {
	var e credits.Event
	var received, next int64
	var processed sql.NullInt64
	var session string
	err := s.Scan(&e.ID, &e.Type, &e.Livemode, &e.SessionID, &e.Status, &e.Error, &e.Attempts,
		&received, &processed, &next, &session, &e.Payload)
	if err != nil {
		return e, err
	}
	e.ReceivedAt, e.NextAttempt, e.ProcessedAt = fromMicros(received), fromMicros(next), fromNullMicros(processed)
	if session != "" {
		e.Session = new(credits.StripeSession)
		if err := json.Unmarshal([]byte(session), e.Session); err != nil {
			return e, fmt.Errorf("event %s: decode session: %w", e.ID, err)
		}
	}
	return e, nil
}

func (t *tx) CreateEvent(e credits.Event) error {
	session := ""
	if e.Session != nil {
		b, err := json.Marshal(e.Session)
		if err != nil {
			return err
		}
		session = string(b)
	}
	if e.Payload == nil {
		e.Payload = []byte{}
	}
	_, err := t.exec(`INSERT INTO events (`+eventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Type, e.Livemode, e.SessionID, e.Status, e.Error, e.Attempts, toMicros(e.ReceivedAt),
		toNullMicros(e.ProcessedAt), toMicros(e.NextAttempt), session, e.Payload)
	return err
}

func (t *tx) Event(id string) (credits.Event, error) {
	return queryOne(t, scanEvent, `SELECT `+eventColumns+` FROM events WHERE id = ?`, id)
}

func (t *tx) UpdateEvent(e credits.Event) error {
	return t.execOne(`UPDATE events SET status = ?, error = ?, attempts = ?, processed_at = ?, next_attempt_at = ?, locked_until = 0
		WHERE id = ?`, e.Status, e.Error, e.Attempts, toNullMicros(e.ProcessedAt), toMicros(e.NextAttempt), e.ID)
}

func (t *tx) Events(status string, limit int) ([]credits.Event, error) {
	return queryAll(t, scanEvent, `SELECT `+eventColumns+` FROM events WHERE status = ? OR ? = ''
		ORDER BY received_at DESC, id DESC LIMIT ?`, status, status, limit)
}

func (t *tx) ClaimEvents(now time.Time, lease time.Duration, limit int) ([]credits.Event, error) {
	return queryAll(t, scanEvent, `UPDATE events SET locked_until = ?
		WHERE id IN (SELECT id FROM events WHERE status = 'pending' AND next_attempt_at <= ? AND locked_until <= ?
			ORDER BY next_attempt_at LIMIT ?)
		RETURNING `+eventColumns, toMicros(now.Add(lease)), toMicros(now), toMicros(now), limit)
}

// Verification.

func (t *tx) AccountTotals() ([]credits.AccountTotals, error) {
	return queryAll(t, func(s scanner) (credits.AccountTotals, error) {
		var a credits.AccountTotals
		err := s.Scan(&a.AccountID, &a.Balance, &a.Held, &a.Debt, &a.EntrySum, &a.LotSum)
		return a, err
	}, `SELECT a.id, a.balance, a.held, a.debt,
		COALESCE((SELECT SUM(amount) FROM entries e WHERE e.account_id = a.id), 0),
		COALESCE((SELECT SUM(remaining) FROM lots l WHERE l.account_id = a.id), 0)
		FROM accounts a ORDER BY a.id`)
}

func (t *tx) BrokenEntryChains() ([]credits.Entry, error) {
	return queryAll(t, scanEntry, `SELECT `+entryColumns+` FROM (
		SELECT *, SUM(amount) OVER (PARTITION BY account_id ORDER BY id) AS running FROM entries
	) WHERE running != balance_after ORDER BY id`)
}

func (t *tx) HeldTotals() ([]credits.HeldTotals, error) {
	return queryAll(t, func(s scanner) (credits.HeldTotals, error) {
		var h credits.HeldTotals
		return h, s.Scan(&h.AccountID, &h.Held, &h.HoldSum, &h.Reserved)
	}, `SELECT a.id, a.held,
		COALESCE((SELECT SUM(amount) FROM holds h WHERE h.account_id = a.id AND h.status = 'held'), 0),
		COALESCE((SELECT SUM(reserved) FROM lots l WHERE l.account_id = a.id), 0)
		FROM accounts a ORDER BY a.id`)
}

func (t *tx) DuplicatePurchaseReferences() ([]string, error) {
	return queryAll(t, scanString, `SELECT reference FROM entries WHERE kind = 'purchase' GROUP BY reference HAVING COUNT(*) > 1 ORDER BY reference`)
}
