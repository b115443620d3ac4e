package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/credits/credits"
)

// tx implements credits.Tx on one PostgreSQL transaction.
type tx struct {
	ctx   context.Context
	tx    pgx.Tx
	write bool
}

type scanner interface{ Scan(dest ...any) error }

func (t *tx) exec(query string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(t.ctx, query, args...)
	return tag.RowsAffected(), mapError(err)
}

func (t *tx) execOne(query string, args ...any) error {
	n, err := t.exec(query, args...)
	if err != nil {
		return err
	}
	if n != 1 {
		return credits.ErrNotFound
	}
	return nil
}

func (t *tx) insert(query string, args ...any) (int64, error) {
	var id int64
	err := t.tx.QueryRow(t.ctx, query+" RETURNING id", args...).Scan(&id)
	return id, mapError(err)
}

func queryAll[T any](t *tx, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := t.tx.Query(t.ctx, query, args...)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, mapError(err)
		}
		out = append(out, item)
	}
	return out, mapError(rows.Err())
}

func queryOne[T any](t *tx, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	item, err := scan(t.tx.QueryRow(t.ctx, query, args...))
	return item, mapError(err)
}

func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Packs.

const packColumns = `id, name, credits, unit_amount, currency, COALESCE(stripe_price_id, ''), expires_after_days, active, created_at`

func scanPack(s scanner) (credits.Pack, error) {
	var p credits.Pack
	err := s.Scan(&p.ID, &p.Name, &p.Credits, &p.UnitAmount, &p.Currency, &p.StripePriceID, &p.ExpiresAfterDays, &p.Active, &p.CreatedAt)
	p.CreatedAt = utc(p.CreatedAt)
	return p, err
}

func (t *tx) CreatePack(p credits.Pack) error {
	_, err := t.exec(`INSERT INTO packs (id, name, credits, unit_amount, currency, stripe_price_id, expires_after_days, active, created_at)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8, $9)`,
		p.ID, p.Name, p.Credits, p.UnitAmount, p.Currency, p.StripePriceID, p.ExpiresAfterDays, p.Active, p.CreatedAt)
	return err
}

func (t *tx) Pack(id string) (credits.Pack, error) {
	return queryOne(t, scanPack, `SELECT `+packColumns+` FROM packs WHERE id = $1`, id)
}

func (t *tx) PackByPriceID(priceID string) (credits.Pack, error) {
	return queryOne(t, scanPack, `SELECT `+packColumns+` FROM packs WHERE stripe_price_id = $1`, priceID)
}

func (t *tx) Packs(activeOnly bool) ([]credits.Pack, error) {
	return queryAll(t, scanPack, `SELECT `+packColumns+` FROM packs WHERE active OR NOT $1 ORDER BY credits, id`, activeOnly)
}

// Accounts.

const accountColumns = `id, email, balance, held, debt, trial, created_at`

func scanAccount(s scanner) (credits.Account, error) {
	var a credits.Account
	err := s.Scan(&a.ID, &a.Email, &a.Balance, &a.Held, &a.Debt, &a.Trial, &a.CreatedAt)
	a.CreatedAt = utc(a.CreatedAt)
	return a, err
}

func (t *tx) CreateAccount(a credits.Account) error {
	_, err := t.exec(`INSERT INTO accounts (id, email, balance, trial, created_at) VALUES ($1, $2, $3, $4, $5)`,
		a.ID, a.Email, a.Balance, a.Trial, a.CreatedAt)
	return err
}

// Account locks the row in a write transaction: every change of an account's
// balance, lots or holds starts here, so writers of one account queue.
func (t *tx) Account(id string) (credits.Account, error) {
	query := `SELECT ` + accountColumns + ` FROM accounts WHERE id = $1`
	if t.write {
		query += ` FOR UPDATE`
	}
	return queryOne(t, scanAccount, query, id)
}

func (t *tx) AccountsByEmail(email string) ([]credits.Account, error) {
	return queryAll(t, scanAccount, `SELECT `+accountColumns+` FROM accounts WHERE email = lower($1) ORDER BY id`, email)
}

func (t *tx) Accounts(after string, limit int) ([]credits.Account, error) {
	return queryAll(t, scanAccount, `SELECT `+accountColumns+` FROM accounts WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
}

func (t *tx) SearchAccounts(prefix string, limit int) ([]credits.Account, error) {
	pattern := likePrefix(prefix)
	return queryAll(t, scanAccount, `SELECT `+accountColumns+` FROM accounts
		WHERE lower(id) LIKE $1 ESCAPE '\' OR email LIKE $1 ESCAPE '\' ORDER BY id LIMIT $2`, pattern, limit)
}

// likePrefix makes a LIKE pattern that matches values starting with prefix.
func likePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
}

func (t *tx) SetAccountBalance(id string, balance int64, trial bool) error {
	return t.execOne(`UPDATE accounts SET balance = $1, trial = $2 WHERE id = $3`, balance, trial, id)
}

func (t *tx) SetAccountHeld(id string, held int64) error {
	return t.execOne(`UPDATE accounts SET held = $1 WHERE id = $2`, held, id)
}

// Checkout sessions.

const sessionColumns = `id, account_id, pack_id, quantity, expected_amount, currency, status, url, created_at, updated_at`

func scanSession(s scanner) (credits.CheckoutSession, error) {
	var cs credits.CheckoutSession
	err := s.Scan(&cs.ID, &cs.AccountID, &cs.PackID, &cs.Quantity, &cs.ExpectedAmount, &cs.Currency,
		&cs.Status, &cs.URL, &cs.CreatedAt, &cs.UpdatedAt)
	cs.CreatedAt, cs.UpdatedAt = utc(cs.CreatedAt), utc(cs.UpdatedAt)
	return cs, err
}

func (t *tx) CreateCheckoutSession(cs credits.CheckoutSession) error {
	_, err := t.exec(`INSERT INTO checkout_sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		cs.ID, cs.AccountID, cs.PackID, cs.Quantity, cs.ExpectedAmount, cs.Currency, cs.Status, cs.URL, cs.CreatedAt, cs.UpdatedAt)
	return err
}

func (t *tx) CheckoutSession(id string) (credits.CheckoutSession, error) {
	return queryOne(t, scanSession, `SELECT `+sessionColumns+` FROM checkout_sessions WHERE id = $1`, id)
}

func (t *tx) SetCheckoutSessionStatus(id, status string, now time.Time) error {
	return t.execOne(`UPDATE checkout_sessions SET status = $1, updated_at = $2 WHERE id = $3`, status, now, id)
}

// Purchases.

const purchaseColumns = `id, account_id, pack_id, quantity, credits, amount_paid, currency, session_id, payment_intent, event_id, refunded_credits, created_at`

func scanPurchase(s scanner) (credits.Purchase, error) {
	var p credits.Purchase
	err := s.Scan(&p.ID, &p.AccountID, &p.PackID, &p.Quantity, &p.Credits, &p.AmountPaid, &p.Currency,
		&p.SessionID, &p.PaymentIntent, &p.EventID, &p.RefundedCredits, &p.CreatedAt)
	p.CreatedAt = utc(p.CreatedAt)
	return p, err
}

func (t *tx) CreatePurchase(p credits.Purchase) (int64, error) {
	return t.insert(`INSERT INTO purchases (account_id, pack_id, quantity, credits, amount_paid, currency, session_id, payment_intent, event_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		p.AccountID, p.PackID, p.Quantity, p.Credits, p.AmountPaid, p.Currency, p.SessionID, p.PaymentIntent, p.EventID, p.CreatedAt)
}

func (t *tx) PurchaseBySession(sessionID string) (credits.Purchase, error) {
	return queryOne(t, scanPurchase, `SELECT `+purchaseColumns+` FROM purchases WHERE session_id = $1`, sessionID)
}

func (t *tx) Purchases(accountID string, limit int) ([]credits.Purchase, error) {
	return queryAll(t, scanPurchase, `SELECT `+purchaseColumns+` FROM purchases WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, limit)
}

func (t *tx) PurchaseByPaymentIntent(paymentIntent string) (credits.Purchase, error) {
	return queryOne(t, scanPurchase, `SELECT `+purchaseColumns+` FROM purchases WHERE payment_intent = $1 AND payment_intent != '' ORDER BY id LIMIT 1`, paymentIntent)
}

func (t *tx) SetPurchaseRefunded(id, refundedCredits int64) error {
	return t.execOne(`UPDATE purchases SET refunded_credits = $1 WHERE id = $2`, refundedCredits, id)
}

func (t *tx) SetAccountDebt(id string, debt int64) error {
	return t.execOne(`UPDATE accounts SET debt = $1 WHERE id = $2`, debt, id)
}

func (t *tx) LotByReference(accountID, source, reference string) (credits.Lot, error) {
	return queryOne(t, scanLot, `SELECT `+lotColumns+` FROM lots WHERE account_id = $1 AND source = $2 AND reference = $3 ORDER BY id LIMIT 1`,
		accountID, source, reference)
}

// Disputes.

const disputeColumns = `id, account_id, session_id, credits, status, created_at, updated_at`

func scanDispute(s scanner) (credits.Dispute, error) {
	var d credits.Dispute
	err := s.Scan(&d.ID, &d.AccountID, &d.SessionID, &d.Credits, &d.Status, &d.CreatedAt, &d.UpdatedAt)
	d.CreatedAt, d.UpdatedAt = utc(d.CreatedAt), utc(d.UpdatedAt)
	return d, err
}

func (t *tx) Dispute(id string) (credits.Dispute, error) {
	return queryOne(t, scanDispute, `SELECT `+disputeColumns+` FROM disputes WHERE id = $1`, id)
}

func (t *tx) CreateDispute(d credits.Dispute) error {
	_, err := t.exec(`INSERT INTO disputes (`+disputeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		d.ID, d.AccountID, d.SessionID, d.Credits, d.Status, d.CreatedAt, d.UpdatedAt)
	return err
}

func (t *tx) UpdateDispute(d credits.Dispute) error {
	return t.execOne(`UPDATE disputes SET credits = $1, status = $2, updated_at = $3 WHERE id = $4`, d.Credits, d.Status, d.UpdatedAt, d.ID)
}

// Entries and lots.

const entryColumns = `id, account_id, amount, kind, reference, description, balance_after, created_at`

func scanEntry(s scanner) (credits.Entry, error) {
	var e credits.Entry
	err := s.Scan(&e.ID, &e.AccountID, &e.Amount, &e.Kind, &e.Reference, &e.Description, &e.BalanceAfter, &e.CreatedAt)
	e.CreatedAt = utc(e.CreatedAt)
	return e, err
}

func (t *tx) AddEntry(e credits.Entry) (int64, error) {
	return t.insert(`INSERT INTO entries (account_id, amount, kind, reference, description, balance_after, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.AccountID, e.Amount, e.Kind, e.Reference, e.Description, e.BalanceAfter, e.CreatedAt)
}

func (t *tx) Entries(accountID string, before int64, limit int) ([]credits.Entry, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	return queryAll(t, scanEntry, `SELECT `+entryColumns+` FROM entries WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
		accountID, before, limit)
}

func (t *tx) AddLot(l credits.Lot) (int64, error) {
	return t.insert(`INSERT INTO lots (account_id, amount, remaining, priority, expires_at, source, reference, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		l.AccountID, l.Amount, l.Remaining, l.Priority, l.ExpiresAt, l.Source, l.Reference, l.CreatedAt)
}

const lotColumns = `id, account_id, amount, remaining, reserved, priority, expires_at, source, reference, created_at`

func scanLot(s scanner) (credits.Lot, error) {
	var l credits.Lot
	err := s.Scan(&l.ID, &l.AccountID, &l.Amount, &l.Remaining, &l.Reserved, &l.Priority, &l.ExpiresAt, &l.Source, &l.Reference, &l.CreatedAt)
	l.CreatedAt, l.ExpiresAt = utc(l.CreatedAt), utcPtr(l.ExpiresAt)
	return l, err
}

func (t *tx) SpendableLots(accountID string, now time.Time, limit int) ([]credits.Lot, error) {
	return queryAll(t, scanLot, `SELECT `+lotColumns+` FROM lots
		WHERE account_id = $1 AND remaining > reserved AND (expires_at IS NULL OR expires_at > $2)
		ORDER BY account_id, expires_at IS NULL, expires_at, priority, id LIMIT $3`, accountID, now, limit)
}

func (t *tx) ExpiringLots(accountID string, until time.Time, limit int) ([]credits.Lot, error) {
	return queryAll(t, scanLot, `SELECT `+lotColumns+` FROM lots
		WHERE account_id = $1 AND expires_at IS NOT NULL AND remaining > reserved AND expires_at <= $2
		ORDER BY account_id, expires_at, id LIMIT $3`, accountID, until, limit)
}

func (t *tx) Lot(id int64) (credits.Lot, error) {
	return queryOne(t, scanLot, `SELECT `+lotColumns+` FROM lots WHERE id = $1`, id)
}

func (t *tx) SetLot(id, remaining, reserved int64) error {
	return t.execOne(`UPDATE lots SET remaining = $1, reserved = $2 WHERE id = $3`, remaining, reserved, id)
}

func (t *tx) AddLotDraws(entryID int64, draws []credits.LotAmount) error {
	for _, d := range draws {
		if _, err := t.exec(`INSERT INTO lot_draws (entry_id, lot_id, amount) VALUES ($1, $2, $3)`, entryID, d.LotID, d.Amount); err != nil {
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
	return queryAll(t, scanLotAmount, `SELECT lot_id, amount FROM lot_draws WHERE entry_id = $1 ORDER BY lot_id`, entryID)
}

// Holds.

const holdColumns = `id, account_id, amount, captured, status, description, expires_at, created_at, updated_at`

func scanHold(s scanner) (credits.Hold, error) {
	var h credits.Hold
	err := s.Scan(&h.ID, &h.AccountID, &h.Amount, &h.Captured, &h.Status, &h.Description, &h.ExpiresAt, &h.CreatedAt, &h.UpdatedAt)
	h.ExpiresAt, h.CreatedAt, h.UpdatedAt = utc(h.ExpiresAt), utc(h.CreatedAt), utc(h.UpdatedAt)
	return h, err
}

func (t *tx) CreateHold(h credits.Hold, lots []credits.LotAmount) error {
	_, err := t.exec(`INSERT INTO holds (`+holdColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		h.ID, h.AccountID, h.Amount, h.Captured, h.Status, h.Description, h.ExpiresAt, h.CreatedAt, h.UpdatedAt)
	if err != nil {
		return err
	}
	for _, l := range lots {
		if _, err := t.exec(`INSERT INTO hold_lots (hold_id, lot_id, amount) VALUES ($1, $2, $3)`, h.ID, l.LotID, l.Amount); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) Hold(id string) (credits.Hold, error) {
	return queryOne(t, scanHold, `SELECT `+holdColumns+` FROM holds WHERE id = $1`, id)
}

func (t *tx) HoldLots(holdID string) ([]credits.LotAmount, error) {
	return queryAll(t, scanLotAmount, `SELECT lot_id, amount FROM hold_lots WHERE hold_id = $1 ORDER BY lot_id`, holdID)
}

func (t *tx) UpdateHold(h credits.Hold) error {
	return t.execOne(`UPDATE holds SET captured = $1, status = $2, updated_at = $3 WHERE id = $4`, h.Captured, h.Status, h.UpdatedAt, h.ID)
}

func (t *tx) Holds(accountID, status string, limit int) ([]credits.Hold, error) {
	return queryAll(t, scanHold, `SELECT `+holdColumns+` FROM holds WHERE account_id = $1 AND (status = $2 OR $2 = '')
		ORDER BY created_at DESC, id DESC LIMIT $3`, accountID, status, limit)
}

// Expiry.

func scanString(s scanner) (string, error) {
	var v string
	return v, s.Scan(&v)
}

func (t *tx) DueAccounts(now time.Time, limit int) ([]string, error) {
	return queryAll(t, scanString, `SELECT account_id FROM holds WHERE status = 'held' AND expires_at <= $1
		UNION SELECT account_id FROM lots WHERE expires_at IS NOT NULL AND expires_at <= $1 AND remaining > reserved
		LIMIT $2`, now, limit)
}

func (t *tx) AccountDue(accountID string, now time.Time) (bool, error) {
	var due bool
	err := t.tx.QueryRow(t.ctx, `SELECT EXISTS (SELECT 1 FROM holds WHERE account_id = $1 AND status = 'held' AND expires_at <= $2)
		OR EXISTS (SELECT 1 FROM lots WHERE account_id = $1 AND expires_at IS NOT NULL AND expires_at <= $2 AND remaining > reserved)`,
		accountID, now).Scan(&due)
	return due, mapError(err)
}

// Idempotency keys.

func (t *tx) IdempotencyRecord(scope, key string) (credits.IdempotencyRecord, error) {
	return queryOne(t, func(s scanner) (credits.IdempotencyRecord, error) {
		var r credits.IdempotencyRecord
		err := s.Scan(&r.Scope, &r.Key, &r.RequestHash, &r.ErrorCode, &r.ErrorMessage, &r.Result, &r.CreatedAt)
		r.CreatedAt = utc(r.CreatedAt)
		return r, err
	}, `SELECT scope, key, request_hash, error_code, error_message, result, created_at FROM idempotency_keys WHERE scope = $1 AND key = $2`, scope, key)
}

func (t *tx) CreateIdempotencyRecord(r credits.IdempotencyRecord) error {
	_, err := t.exec(`INSERT INTO idempotency_keys (scope, key, request_hash, error_code, error_message, result, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.Scope, r.Key, r.RequestHash, r.ErrorCode, r.ErrorMessage, r.Result, r.CreatedAt)
	return err
}

func (t *tx) DeleteIdempotencyRecord(scope, key string) error {
	_, err := t.exec(`DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2`, scope, key)
	return err
}

func (t *tx) DeleteIdempotencyRecordsBefore(before time.Time) (int64, error) {
	return t.exec(`DELETE FROM idempotency_keys WHERE created_at < $1`, before)
}

// Events.

const eventColumns = `id, type, livemode, session_id, status, error, attempts, received_at, processed_at, next_attempt_at, session, payload`

func scanEvent(s scanner) (credits.Event, error) {
	var e credits.Event
	var session []byte
	err := s.Scan(&e.ID, &e.Type, &e.Livemode, &e.SessionID, &e.Status, &e.Error, &e.Attempts,
		&e.ReceivedAt, &e.ProcessedAt, &e.NextAttempt, &session, &e.Payload)
	if err != nil {
		return e, err
	}
	e.ReceivedAt, e.NextAttempt, e.ProcessedAt = utc(e.ReceivedAt), utc(e.NextAttempt), utcPtr(e.ProcessedAt)
	if len(session) > 0 {
		e.Session = new(credits.StripeSession)
		if err := json.Unmarshal(session, e.Session); err != nil {
			return e, fmt.Errorf("event %s: decode session: %w", e.ID, err)
		}
	}
	return e, nil
}

func (t *tx) CreateEvent(e credits.Event) error {
	var session []byte
	if e.Session != nil {
		var err error
		if session, err = json.Marshal(e.Session); err != nil {
			return err
		}
	}
	if e.Payload == nil {
		e.Payload = []byte{}
	}
	_, err := t.exec(`INSERT INTO events (`+eventColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.ID, e.Type, e.Livemode, e.SessionID, e.Status, e.Error, e.Attempts, e.ReceivedAt,
		e.ProcessedAt, e.NextAttempt, session, e.Payload)
	return err
}

func (t *tx) Event(id string) (credits.Event, error) {
	return queryOne(t, scanEvent, `SELECT `+eventColumns+` FROM events WHERE id = $1`, id)
}

func (t *tx) UpdateEvent(e credits.Event) error {
	return t.execOne(`UPDATE events SET status = $1, error = $2, attempts = $3, processed_at = $4, next_attempt_at = $5,
		locked_until = '-infinity' WHERE id = $6`, e.Status, e.Error, e.Attempts, e.ProcessedAt, e.NextAttempt, e.ID)
}

func (t *tx) Events(status string, limit int) ([]credits.Event, error) {
	return queryAll(t, scanEvent, `SELECT `+eventColumns+` FROM events WHERE status = $1 OR $1 = ''
		ORDER BY received_at DESC, id DESC LIMIT $2`, status, limit)
}

// ClaimEvents skips events that another replica is claiming right now, and
// takes those whose earlier claim ran out (a replica died mid-job).
func (t *tx) ClaimEvents(now time.Time, lease time.Duration, limit int) ([]credits.Event, error) {
	return queryAll(t, scanEvent, `UPDATE events SET locked_until = $1
		WHERE id IN (SELECT id FROM events WHERE status = 'pending' AND next_attempt_at <= $2 AND locked_until <= $2
			ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+eventColumns, now.Add(lease), now, limit)
}

// Verification.

func (t *tx) AccountTotals() ([]credits.AccountTotals, error) {
	return queryAll(t, func(s scanner) (credits.AccountTotals, error) {
		var a credits.AccountTotals
		return a, s.Scan(&a.AccountID, &a.Balance, &a.Held, &a.Debt, &a.EntrySum, &a.LotSum)
	}, `SELECT a.id, a.balance, a.held, a.debt,
		COALESCE((SELECT SUM(amount) FROM entries e WHERE e.account_id = a.id), 0)::BIGINT,
		COALESCE((SELECT SUM(remaining) FROM lots l WHERE l.account_id = a.id), 0)::BIGINT
		FROM accounts a ORDER BY a.id`)
}

func (t *tx) BrokenEntryChains() ([]credits.Entry, error) {
	return queryAll(t, scanEntry, `SELECT `+entryColumns+` FROM (
		SELECT *, SUM(amount) OVER (PARTITION BY account_id ORDER BY id) AS running FROM entries
	) AS chained WHERE running != balance_after ORDER BY id`)
}

func (t *tx) HeldTotals() ([]credits.HeldTotals, error) {
	return queryAll(t, func(s scanner) (credits.HeldTotals, error) {
		var h credits.HeldTotals
		return h, s.Scan(&h.AccountID, &h.Held, &h.HoldSum, &h.Reserved)
	}, `SELECT a.id, a.held,
		COALESCE((SELECT SUM(amount) FROM holds h WHERE h.account_id = a.id AND h.status = 'held'), 0)::BIGINT,
		COALESCE((SELECT SUM(reserved) FROM lots l WHERE l.account_id = a.id), 0)::BIGINT
		FROM accounts a ORDER BY a.id`)
}

func (t *tx) DuplicatePurchaseReferences() ([]string, error) {
	return queryAll(t, scanString, `SELECT reference FROM entries WHERE kind = 'purchase' GROUP BY reference HAVING COUNT(*) > 1 ORDER BY reference`)
}
