package sqlstore

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/credits/credits"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Packs.

const packColumns = `id, name, credits, unit_amount, currency, COALESCE(stripe_price_id, ''), expires_after_days, active, created_at`

func scanPack(s scanner) (credits.Pack, error) {
	var p credits.Pack
	var expiresAfter sql.NullInt64
	err := s.Scan(&p.ID, &p.Name, &p.Credits, &p.UnitAmount, &p.Currency, &p.StripePriceID, &expiresAfter, &p.Active, timeValue{&p.CreatedAt})
	p.ExpiresAfterDays = nullInt64(expiresAfter)
	return p, err
}

func (t *Tx) CreatePack(p credits.Pack) error {
	_, err := t.exec("create pack "+p.ID, `INSERT INTO packs (id, name, credits, unit_amount, currency, stripe_price_id, expires_after_days, active, created_at)
		VALUES (?, ?, ?, ?, ?, NULLIF(?, ''), ?, ?, ?)`,
		p.ID, p.Name, p.Credits, p.UnitAmount, p.Currency, p.StripePriceID, p.ExpiresAfterDays, p.Active, t.d.Time(p.CreatedAt))
	return err
}

func (t *Tx) Pack(id string) (credits.Pack, error) {
	return queryOne(t, "read pack "+id, scanPack, `SELECT `+packColumns+` FROM packs WHERE id = ?`, id)
}

func (t *Tx) PackByPriceID(priceID string) (credits.Pack, error) {
	return queryOne(t, "read pack of price "+priceID, scanPack, `SELECT `+packColumns+` FROM packs WHERE stripe_price_id = ?`, priceID)
}

func (t *Tx) Packs(activeOnly bool) ([]credits.Pack, error) {
	return queryAll(t, "list packs", scanPack, `SELECT `+packColumns+` FROM packs WHERE active OR NOT ? ORDER BY credits, id`, activeOnly)
}

// Accounts.

const accountColumns = `id, email, balance, held, debt, trial, low_balance_threshold, balance_state, recharge_threshold, due_at, event_sequence, created_at`

func scanAccount(s scanner) (credits.Account, error) {
	var a credits.Account
	err := s.Scan(&a.ID, &a.Email, &a.Balance, &a.Held, &a.Debt, &a.Trial, &a.LowBalanceThreshold, &a.BalanceState, &a.RechargeThreshold,
		nullTimeValue{&a.DueAt}, &a.EventSequence, timeValue{&a.CreatedAt})
	return a, err
}

func (t *Tx) CreateAccount(a credits.Account) error {
	_, err := t.exec("create account "+a.ID, `INSERT INTO accounts (id, email, email_key, balance, trial, balance_state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Email, foldEmail(a.Email), a.Balance, a.Trial, a.BalanceState, t.d.Time(a.CreatedAt))
	return err
}

func (t *Tx) Account(id string) (credits.Account, error) {
	return queryOne(t, "read account "+id, scanAccount, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id)
}

// AccountAtDataVersion reads an account's row and, in the same statement (so
// of the same snapshot), SQLite's PRAGMA data_version: a read connection
// keeps the rows it read while that version stays the same (sqlite/reads.go).
func (t *Tx) AccountAtDataVersion(id string) (a credits.Account, version int64, err error) {
	a, err = queryOne(t, "read account "+id, func(s scanner) (credits.Account, error) {
		return scanAccount(withColumn{s, &version})
	}, `SELECT `+accountColumns+`, (SELECT data_version FROM pragma_data_version()) FROM accounts WHERE id = ?`, id)
	return a, version, err
}

// withColumn scans one more column, after the ones its caller asks for.
type withColumn struct {
	scanner
	last any
}

func (w withColumn) Scan(dest ...any) error { return w.scanner.Scan(append(dest, w.last)...) }

// LockAccount reads the account with a row lock on PostgreSQL, so that
// writers of one account queue and each reads what the previous committed.
// SQLite needs none: its write transaction holds the database's one write
// lock from BEGIN IMMEDIATE to COMMIT.
const lockAccount = `SELECT ` + accountColumns + ` FROM accounts WHERE id = ?{for_update}`

// lockAhead is an account's lock sent ahead (LockAhead), and its answers: the
// account's row, its first spendable lots at a time, and an id for its next
// ledger entry.
type lockAhead struct {
	id       string
	at       time.Time
	answered bool // its answers came back, with the statement they went out with
	found    bool
	account  credits.Account
	rowTaken bool          // LockAccount answered with account
	lots     []credits.Lot // up to lotsReadAhead, in burn-down order at at
	lotsRead bool          // lots came back and no lot of the account changed since
	entryID  int64         // 0: none, or used
	// pendingID is an id taken after the lock (entryIDWithLock): 0 until
	// its answer is back, then entryID's.
	pendingID *int64
	batch     bool // taken from the batch's read-ahead, to hand back (HandBack)
	// newID says an entry took an id of its own (not entryID): above every
	// id the batch took, so the account is not handed back to a later write
	// of the batch, whose id would come before this entry's.
	newID   bool
	pricing *aheadPricing // nil: not read, or changed since
}

// lotsReadAhead is how many spendable lots LockAhead reads: a draw's first batch
// (most draws need one lot; the first walk reads two).
const lotsReadAhead = 2

// LockAhead sends the account's lock with the transaction's next statement
// where the connection holds statements back (PostgreSQL), for a write that
// the store knows will lock the account (UpdateAccount's): a debit's
// idempotency lookup and its account's lock then take one round trip, not
// two, and LockAccount takes the row from the answer. With the lock go the
// account's first spendable lots at now and an id for its next ledger entry
// (read under the lock, so in the order the account's writers take it), so
// that a debit's draw and entry need no answer before the COMMIT they are
// sent with. A lock whose answer has not come back yet when LockAccount asks
// is taken again there (the same transaction, the same row). Elsewhere it
// does nothing: SQLite's one writer holds every lock already.
func (t *Tx) LockAhead(id string, now time.Time) {
	if _, ok := t.conn.(Deferrer); !ok || !t.write || t.d.NextEntryID == "" {
		return
	}
	if a := t.batchAhead(); a != nil {
		if ahead := a.takeAccount(id, now); ahead != nil {
			t.ahead = ahead // read with the batch: nothing to send
			return
		}
	}
	ahead := &lockAhead{id: id, at: now}
	t.ahead = ahead
	// Held back: later cannot fail here.
	_ = t.later(Write{Op: "lock account " + id, Args: []any{id}, Scan: func(rows Rows) error {
		ahead.answered = true
		if !rows.Next() {
			return nil
		}
		a, err := scanAccount(rows)
		ahead.account, ahead.found = a, err == nil
		return err
	}}, lockAccount)
	_ = t.later(Write{Op: "read the first spendable lots of account " + id, Args: []any{id, t.d.Time(now), lotsReadAhead}, Scan: func(rows Rows) error {
		for rows.Next() {
			lot, err := scanLot(rows)
			if err != nil {
				return err
			}
			ahead.lots = append(ahead.lots, lot)
		}
		ahead.lotsRead = true
		return nil
	}}, spendableLots)
	_ = t.later(Write{Op: "take an id for the next entry of account " + id, Scan: func(rows Rows) error {
		if !rows.Next() {
			return fmt.Errorf("no id")
		}
		return rows.Scan(&ahead.entryID)
	}}, t.d.NextEntryID)
	// A usage's pricing read needs no answer of its own.
	pricing := readPricingAhead(t.d, []string{id}, now, func(_ string, p *aheadPricing) { ahead.pricing = p })
	_ = t.later(pricing, pricing.Query)
}

// aheadFor returns what LockAhead read for the locked account, once its
// answers came back; nil otherwise.
func (l *lockedAccount) aheadFor() *lockAhead {
	if a := l.t.ahead; a != nil && a.id == l.id() && a.answered {
		return a
	}
	return nil
}

// lotsChanged forgets the lots LockAhead read, once a lot of the account
// may have changed.
func (l *lockedAccount) lotsChanged() {
	if a := l.aheadFor(); a != nil {
		a.lots, a.lotsRead = nil, false
	}
}

// aheadLots returns the first spendable lots at now that LockAhead read, while
// they are still the account's.
func (l *lockedAccount) aheadLots(now time.Time, limit int) ([]credits.Lot, bool) {
	a := l.aheadFor()
	if a == nil || !a.lotsRead || !a.at.Equal(now) || (limit > len(a.lots) && len(a.lots) == lotsReadAhead) {
		return nil, false // not read, changed since, or more asked for than read
	}
	return a.lots[:min(limit, len(a.lots))], true
}

func (t *Tx) LockAccount(id string) (credits.LockedAccount, error) {
	if !t.write {
		return nil, fmt.Errorf("lock account %s: a read transaction cannot lock", id)
	}
	if ahead := t.ahead; ahead != nil && ahead.id == id && ahead.answered && !ahead.rowTaken {
		ahead.rowTaken = true // a second lock of the account reads the row as it is then
		if !ahead.found {
			return nil, fmt.Errorf("lock account %s: %w", id, credits.ErrNotFound)
		}
		return t.locked(ahead.account), nil
	}
	a, err := queryOne(t, "lock account "+id, scanAccount, lockAccount, id)
	if err != nil {
		return nil, err
	}
	if t.ahead == nil {
		// The id goes out with the next statement, after the lock: ids of
		// one account's entries follow the order its writers lock it (an id
		// taken before the lock, while another writer held it, would come
		// before that writer's). Once it is back, the account's next entry
		// needs no answer before the COMMIT.
		if pending := t.entryIDWithLock(); pending != nil {
			t.ahead = &lockAhead{id: id, answered: true, found: true, account: a, rowTaken: true, pendingID: pending}
		}
	} else if ahead := t.ahead; ahead.id != id && !ahead.batch {
		// Another account in the transaction (a transfer, a take-back
		// that reaches the accounts a payment's credits moved to): the
		// first account's id taken with its lock would come before the
		// entries the others write first, and a take-back's are read back
		// in the order of their ids (takenFrom). It goes unused; every
		// entry takes its id when it is written.
		ahead.pendingID, ahead.entryID = nil, 0
	}
	return t.locked(a), nil
}

// entryIDWithLock takes an id for a ledger entry with the statement that
// goes out next (the caller holds the account's lock), where the connection
// holds statements back and nothing was locked ahead (nil elsewhere); the
// id is 0 until that statement's answer is back.
func (t *Tx) entryIDWithLock() *int64 {
	if _, ok := t.conn.(Deferrer); !ok || t.ahead != nil || t.d.NextEntryID == "" {
		return nil
	}
	id := new(int64)
	_ = t.later(Write{Op: "take an id for an entry", Scan: func(rows Rows) error {
		if !rows.Next() {
			return fmt.Errorf("no id")
		}
		return rows.Scan(id)
	}}, t.d.NextEntryID)
	return id
}

// locked is the lock of an account whose row is a. The transaction counts
// the account's outbox events from the row its first lock read: every later
// count goes through it (NextEventSequence), whichever lock of the account
// makes it.
func (t *Tx) locked(a credits.Account) *lockedAccount {
	if _, ok := t.sequences[a.ID]; !ok {
		if t.sequences == nil {
			t.sequences = map[string]int64{}
		}
		t.sequences[a.ID] = a.EventSequence
	}
	return &lockedAccount{t: t, account: a}
}

// AccountsByEmail compares exactly: PostgreSQL's lower() folds by Unicode
// rules (U+212A KELVIN SIGN becomes k), and NormalizeEmail has written both.
func (t *Tx) AccountsByEmail(email string) ([]credits.Account, error) {
	return queryAll(t, "find accounts by email", scanAccount, `SELECT `+accountColumns+` FROM accounts WHERE email = ? ORDER BY id`, email)
}

// AccountsByFoldedEmail finds by email_key; strings.ToLower finds too the
// accounts created before email_key, whose emails were lower-cased by
// Unicode rules and whose key is that email.
func (t *Tx) AccountsByFoldedEmail(email string) ([]credits.Account, error) {
	return queryAll(t, "find accounts by folded email", scanAccount, `SELECT `+accountColumns+` FROM accounts WHERE email_key = ? OR email_key = ? ORDER BY id`,
		foldEmail(email), strings.ToLower(email))
}

// emailLockClass is the first key of the advisory locks LockFoldedEmail
// takes (two-key form), so that they meet no other advisory lock.
const emailLockClass = 0x656d6c // "eml"

// LockFoldedEmail holds, until the write transaction ends, a lock on
// email's folded form: creations of look-alike emails (which fold alike)
// then read and insert one after the other. On PostgreSQL a transaction-level
// advisory lock on a hash of the folded email (a collision only makes two
// creations queue); SQLite's one writer already serialises them.
func (t *Tx) LockFoldedEmail(email string) error {
	if !t.write || t.d != Postgres {
		return nil
	}
	_, err := t.exec("lock folded email", `SELECT pg_advisory_xact_lock(?, hashtext(?))`, emailLockClass, foldEmail(email))
	return err
}

// foldEmail is an email folded by Unicode compatibility and case (NFKC,
// case fold, NFKC again, as NFKC_Casefold does), so that look-alikes meet.
func foldEmail(email string) string {
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(email)))
}

func (t *Tx) Accounts(after string, limit int) ([]credits.Account, error) {
	return queryAll(t, "list accounts", scanAccount, `SELECT `+accountColumns+` FROM accounts WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

func (t *Tx) SearchAccounts(prefix string, limit int) ([]credits.Account, error) {
	pattern := likePrefix(prefix)
	return queryAll(t, "search accounts", scanAccount, `SELECT `+accountColumns+` FROM accounts
		WHERE lower(id) LIKE ? ESCAPE '\' OR email LIKE ? ESCAPE '\' ORDER BY id LIMIT ?`, pattern, pattern, limit)
}

// likePrefix makes a LIKE pattern that matches values starting with prefix.
func likePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
}

// Checkout sessions.

const sessionColumns = `id, account_id, pack_id, quantity, expected_amount, currency, status, url, created_at, updated_at`

func scanSession(s scanner) (credits.CheckoutSession, error) {
	var cs credits.CheckoutSession
	err := s.Scan(&cs.ID, &cs.AccountID, &cs.PackID, &cs.Quantity, &cs.ExpectedAmount, &cs.Currency,
		&cs.Status, &cs.URL, timeValue{&cs.CreatedAt}, timeValue{&cs.UpdatedAt})
	return cs, err
}

func (t *Tx) CreateCheckoutSession(cs credits.CheckoutSession) error {
	_, err := t.exec("record checkout session "+cs.ID, `INSERT INTO checkout_sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		cs.ID, cs.AccountID, cs.PackID, cs.Quantity, cs.ExpectedAmount, cs.Currency, cs.Status, cs.URL,
		t.d.Time(cs.CreatedAt), t.d.Time(cs.UpdatedAt))
	return err
}

func (t *Tx) CheckoutSession(id string) (credits.CheckoutSession, error) {
	return queryOne(t, "read checkout session "+id, scanSession, `SELECT `+sessionColumns+` FROM checkout_sessions WHERE id = ?`, id)
}

func (t *Tx) SetCheckoutSessionStatus(id, status string, now time.Time) error {
	return t.later(Write{Op: "set status of checkout session " + id, Args: []any{status, t.d.Time(now), id}, One: true},
		`UPDATE checkout_sessions SET status = ?, updated_at = ? WHERE id = ?`)
}

// Purchases.

const purchaseColumns = `id, account_id, pack_id, quantity, credits, amount_paid, currency, session_id, payment_intent, event_id, created_at`

func scanPurchase(s scanner) (credits.Purchase, error) {
	var p credits.Purchase
	err := s.Scan(&p.ID, &p.AccountID, &p.PackID, &p.Quantity, &p.Credits, &p.AmountPaid, &p.Currency,
		&p.SessionID, &p.PaymentIntent, &p.EventID, timeValue{&p.CreatedAt})
	return p, err
}

func (t *Tx) PurchaseBySession(sessionID string) (credits.Purchase, error) {
	return queryOne(t, "read purchase of session "+sessionID, scanPurchase, `SELECT `+purchaseColumns+` FROM purchases WHERE session_id = ?`, sessionID)
}

// Purchases reads an account's newest purchases along their chain (each
// names the account's purchase before it, the account its latest), a
// primary-key lookup each, as Entries reads the ledger.
func (t *Tx) Purchases(accountID string, limit int) ([]credits.Purchase, error) {
	if limit <= 0 {
		return nil, nil
	}
	return queryAll(t, "list purchases of account "+accountID, scanPurchase, `WITH RECURSIVE chain (id, prev, steps) AS (
			SELECT p.id, p.prev_purchase_id, 1 FROM accounts a JOIN purchases p ON p.id = a.last_purchase_id WHERE a.id = ?
			UNION ALL
			SELECT p.id, p.prev_purchase_id, c.steps + 1 FROM chain c JOIN purchases p ON p.id = c.prev WHERE c.steps < ?
		)
		SELECT `+purchaseColumns+` FROM purchases WHERE id IN (SELECT id FROM chain) ORDER BY id DESC`, accountID, limit)
}

// Entries and lots.

const entryColumns = `id, account_id, amount, kind, reference, description, balance_after, created_at, member_id, member_period_start`

func scanEntry(s scanner) (credits.Entry, error) {
	var e credits.Entry
	var member sql.NullString
	var period *time.Time
	err := s.Scan(&e.ID, &e.AccountID, &e.Amount, &e.Kind, &e.Reference, &e.Description, &e.BalanceAfter, timeValue{&e.CreatedAt},
		&member, nullTimeValue{&period})
	if member.Valid && period != nil {
		e.MemberID, e.MemberPeriodStart = member.String, *period
	}
	return e, err
}

// Entries walks the account's chain of entries (prev_entry_id) from its
// latest (accounts.last_entry_id), or from the one before the entry before
// names: each step is a primary-key lookup, so a page costs the same however
// long the ledger. A before that is not one of the account's entries walks
// from the latest, past the newer ones.
func (t *Tx) Entries(accountID string, before int64, limit int) ([]credits.Entry, error) {
	op := "list entries of account " + accountID
	start, err := queryOne(t, op, scanNullInt64, `SELECT prev_entry_id FROM entries WHERE id = ? AND account_id = ?`, before, accountID)
	walk := limit // steps to take
	switch {
	case err == nil:
	case errors.Is(err, credits.ErrNotFound):
		if start, err = queryOne(t, op, scanNullInt64, `SELECT last_entry_id FROM accounts WHERE id = ?`, accountID); err != nil {
			return nil, err
		}
		if before > 0 {
			walk = math.MaxInt32 // past the entries newer than before, then limit more
		}
	default:
		return nil, err
	}
	if !start.Valid || limit <= 0 {
		return nil, nil
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	return queryAll(t, op, scanEntry, `WITH RECURSIVE chain (id, prev, steps) AS (
			SELECT id, prev_entry_id, 1 FROM entries WHERE id = ?
			UNION ALL
			SELECT e.id, e.prev_entry_id, c.steps + 1 FROM chain c JOIN entries e ON e.id = c.prev WHERE c.steps < ?
		)
		SELECT `+entryColumns+` FROM entries WHERE id IN (SELECT id FROM chain WHERE id < ? ORDER BY id DESC LIMIT ?) ORDER BY id DESC`,
		start.Int64, walk, before, limit)
}

func scanNullInt64(s scanner) (sql.NullInt64, error) {
	var v sql.NullInt64
	return v, s.Scan(&v)
}

const lotColumns = `lots.id, lots.account_id, lots.amount, lots.remaining, lots.reserved, lots.priority, lots.expires_at, lots.source, lots.reference, lots.created_at`

// burnDownOrder is the order in which credits are spent: earliest expiry
// first (lots that never expire last), then lower priority, then oldest. It
// is written here only; every draw and every capture follows it.
const burnDownOrder = `lots.expires_at IS NULL, lots.expires_at, lots.priority, lots.id`

func scanLot(s scanner) (credits.Lot, error) {
	var l credits.Lot
	err := s.Scan(&l.ID, &l.AccountID, &l.Amount, &l.Remaining, &l.Reserved, &l.Priority, nullTimeValue{&l.ExpiresAt},
		&l.Source, &l.Reference, timeValue{&l.CreatedAt})
	return l, err
}

func (t *Tx) ExpiringLots(accountID string, until time.Time, limit int) ([]credits.Lot, error) {
	return queryAll(t, "list expiring lots of account "+accountID, scanLot, `SELECT `+lotColumns+` FROM lots
		WHERE account_id = ? AND expires_at IS NOT NULL AND spendable AND expires_at <= ?
		ORDER BY account_id, expires_at, id LIMIT ?`, accountID, t.d.Time(until), limit)
}

// Holds.

const holdColumns = `id, account_id, amount, captured, status, description, expires_at, created_at, updated_at`

func scanHold(s scanner) (credits.Hold, error) {
	var h credits.Hold
	err := s.Scan(&h.ID, &h.AccountID, &h.Amount, &h.Captured, &h.Status, &h.Description,
		timeValue{&h.ExpiresAt}, timeValue{&h.CreatedAt}, timeValue{&h.UpdatedAt})
	return h, err
}

func (t *Tx) Hold(id string) (credits.Hold, error) {
	return queryOne(t, "read hold "+id, scanHold, `SELECT `+holdColumns+` FROM holds WHERE id = ?`, id)
}

func (t *Tx) Holds(accountID, status string, limit int) ([]credits.Hold, error) {
	return queryAll(t, "list holds of account "+accountID, scanHold, `SELECT `+holdColumns+` FROM holds
		WHERE account_id = ? AND (status = ? OR CAST(? AS TEXT) = '')
		ORDER BY created_at DESC, id DESC LIMIT ?`, accountID, status, status, limit)
}

func (t *Tx) DueHolds(accountID string, now time.Time, limit int) ([]credits.Hold, error) {
	return queryAll(t, "list due holds of account "+accountID, scanHold, `SELECT `+holdColumns+` FROM holds
		WHERE account_id = ? AND status = 'held' AND expires_at <= ?
		ORDER BY expires_at, id LIMIT ?`, accountID, t.d.Time(now), limit)
}

// Expiry.

func (t *Tx) DueAccounts(now time.Time, limit int) ([]string, error) {
	return queryAll(t, "find accounts due for settling", scanString, `SELECT id FROM accounts WHERE due_at IS NOT NULL AND due_at <= ?
		ORDER BY due_at LIMIT ?`, t.d.Time(now), limit)
}

// dueAt is the earliest time something of the account with id ? (given
// twice) comes due: an active hold's expiry, or the expiry of a lot with
// unreserved credits; NULL when nothing will.
const dueAt = `(SELECT MIN(t) FROM (
	SELECT MIN(expires_at) AS t FROM holds WHERE account_id = ? AND status = 'held'
	UNION ALL
	SELECT MIN(expires_at) FROM lots WHERE account_id = ? AND expires_at IS NOT NULL AND spendable) AS due)`

// RefreshDueAt sets when the account next comes due, from its holds and lots.
func (l *lockedAccount) RefreshDueAt() error {
	due, err := queryOne(l.t, "refresh when account "+l.id()+" comes due", func(s scanner) (*time.Time, error) {
		var t *time.Time
		return t, s.Scan(nullTimeValue{&t})
	}, `UPDATE accounts SET due_at = `+dueAt+` WHERE id = ? RETURNING due_at`, l.id(), l.id(), l.id())
	if err != nil {
		return err
	}
	l.account.DueAt = due
	return l.changed(nil, func(a *credits.Account) { a.DueAt = due })
}

// lowerDueAt brings the account's due time forward to t, if t is earlier.
// It asks the row, not this lock's copy: another lock of the same account in
// the transaction may have moved it.
func (l *lockedAccount) lowerDueAt(t time.Time) error {
	if _, err := l.t.exec("set when account "+l.id()+" comes due", `UPDATE accounts SET due_at = ?
		WHERE id = ? AND (due_at IS NULL OR due_at > ?)`, l.t.d.Time(t), l.id(), l.t.d.Time(t)); err != nil {
		return err
	}
	if l.account.DueAt == nil || l.account.DueAt.After(t) {
		l.account.DueAt = &t
	}
	return l.changed(nil, func(a *credits.Account) { // as the UPDATE's condition did
		if a.DueAt == nil || a.DueAt.After(t) {
			a.DueAt = &t
		}
	})
}

// LateDueAccounts lists accounts whose due_at is later than what is due.
func (t *Tx) LateDueAccounts() ([]string, error) {
	return queryAll(t, "find accounts whose due time is late", scanString, `SELECT id FROM (
		SELECT a.id, a.due_at, (SELECT MIN(t) FROM (
			SELECT MIN(expires_at) AS t FROM holds WHERE holds.account_id = a.id AND status = 'held'
			UNION ALL
			SELECT MIN(expires_at) FROM lots WHERE lots.account_id = a.id AND expires_at IS NOT NULL AND remaining > reserved) AS due) AS earliest
		FROM accounts a) AS d
		WHERE earliest IS NOT NULL AND (due_at IS NULL OR due_at > earliest) ORDER BY id`)
}

func (t *Tx) MislabelledLots() ([]credits.Lot, error) {
	return queryAll(t, "check lots' spendable flags", scanLot, `SELECT `+lotColumns+` FROM lots
		WHERE spendable != (remaining > reserved) ORDER BY id`)
}

// expiringNotice selects the lots to tell of: unreserved credits that
// expire after now and at or before until, not told yet.
const expiringNotice = `expires_at IS NOT NULL AND expires_at > ? AND expires_at <= ? AND spendable AND NOT expiring_notified`

func (t *Tx) NoticeDueAccounts(now, until time.Time, limit int) ([]string, error) {
	return queryAll(t, "find accounts with credits expiring soon", scanString, `SELECT DISTINCT account_id FROM lots
		WHERE `+expiringNotice+` LIMIT ?`, t.d.Time(now), t.d.Time(until), limit)
}

// Idempotency keys.

const idempotencyColumns = `scope, key, request_hash, error_code, error_message, result, created_at`

func scanIdempotencyRecord(s scanner) (credits.IdempotencyRecord, error) {
	var r credits.IdempotencyRecord
	err := s.Scan(&r.Scope, &r.Key, &r.RequestHash, &r.ErrorCode, &r.ErrorMessage, &r.Result, timeValue{&r.CreatedAt})
	return r, err
}

func (t *Tx) IdempotencyRecord(scope, key string) (credits.IdempotencyRecord, error) {
	if a := t.batchAhead(); a != nil {
		r, found, ok := a.takeKey(scope, key)
		switch {
		case ok && found:
			return r, nil
		case ok && (t.ahead == nil || t.ahead.answered):
			return r, fmt.Errorf("read idempotency key: %w", credits.ErrNotFound)
		}
		// A lock sent ahead (LockAhead) and not answered yet goes out with
		// the lookup, as it would without the batch's read: its answer
		// then serves LockAccount, which would otherwise send it again.
	}
	return queryOne(t, "read idempotency key", scanIdempotencyRecord,
		`SELECT `+idempotencyColumns+` FROM idempotency_keys WHERE scope = ? AND key = ?`, scope, key)
}

func (t *Tx) CreateIdempotencyRecord(r credits.IdempotencyRecord) error {
	return t.later(Write{Op: "record idempotency key", MayConflict: true,
		Args: []any{r.Scope, r.Key, r.RequestHash, r.ErrorCode, r.ErrorMessage, r.Result, t.d.Time(r.CreatedAt)}},
		`INSERT INTO idempotency_keys (scope, key, request_hash, error_code, error_message, result, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
}

func (t *Tx) DeleteIdempotencyRecord(scope, key string) error {
	_, err := t.exec("forget idempotency key", `DELETE FROM idempotency_keys WHERE scope = ? AND key = ?`, scope, key)
	return err
}

func (t *Tx) DeleteIdempotencyRecordsBefore(before time.Time) (int64, error) {
	return t.exec("forget old idempotency keys", `DELETE FROM idempotency_keys WHERE created_at < ?`, t.d.Time(before))
}

// Health.

func (t *Tx) RecordHealthCheck(now time.Time) error {
	_, err := t.exec("record a health check", `INSERT INTO health (id, checked_at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, t.d.Time(now))
	return err
}

// Events.

const eventColumns = `id, type, livemode, session_id, status, error, attempts, received_at, processed_at, next_attempt_at, session, payload`

func scanEvent(s scanner) (credits.Event, error) {
	var e credits.Event
	var session []byte
	err := s.Scan(&e.ID, &e.Type, &e.Livemode, &e.SessionID, &e.Status, &e.Error, &e.Attempts,
		timeValue{&e.ReceivedAt}, nullTimeValue{&e.ProcessedAt}, timeValue{&e.NextAttempt}, &session, &e.Payload)
	if err != nil {
		return e, err
	}
	// Older rows hold no session as '' (SQLite) or NULL (PostgreSQL); newer ones as JSON null.
	if len(session) > 0 && string(session) != "null" {
		e.Session = new(credits.StripeSession)
		if err := json.Unmarshal(session, e.Session); err != nil {
			return e, fmt.Errorf("event %s: decode session: %w", e.ID, err)
		}
	}
	return e, nil
}

func (t *Tx) CreateEvent(e credits.Event) error {
	session, err := json.Marshal(e.Session)
	if err != nil {
		return fmt.Errorf("record event %s: encode session: %w", e.ID, err)
	}
	if e.Payload == nil {
		e.Payload = []byte{}
	}
	return t.later(Write{Op: "record event " + e.ID, MayConflict: true, Args: []any{e.ID, e.Type, e.Livemode, e.SessionID, e.Status,
		e.Error, e.Attempts, t.d.Time(e.ReceivedAt), t.d.nullTime(e.ProcessedAt), t.d.Time(e.NextAttempt), string(session), e.Payload}},
		`INSERT INTO events (`+eventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
}

func (t *Tx) Event(id string) (credits.Event, error) {
	return queryOne(t, "read event "+id, scanEvent, `SELECT `+eventColumns+` FROM events WHERE id = ?`, id)
}

func (t *Tx) UpdateEvent(e credits.Event) error {
	return t.execOne("update event "+e.ID, `UPDATE events SET status = ?, error = ?, attempts = ?, processed_at = ?, next_attempt_at = ?,
		locked_until = {never} WHERE id = ?`, e.Status, e.Error, e.Attempts, t.d.nullTime(e.ProcessedAt), t.d.Time(e.NextAttempt), e.ID)
}

func (t *Tx) Events(f credits.EventFilter) ([]credits.Event, error) {
	return queryAll(t, "list events", scanEvent, `SELECT `+eventColumns+` FROM events
		WHERE (status = ? OR CAST(? AS TEXT) = '') AND (type = ? OR CAST(? AS TEXT) = '')
		AND (CAST(? AS TEXT) = '' OR (received_at, id) < (SELECT received_at, id FROM events WHERE id = ?))
		ORDER BY received_at DESC, id DESC LIMIT ?`, f.Status, f.Status, f.Type, f.Type, f.StartingAfter, f.StartingAfter, f.Limit)
}

func (t *Tx) DropIgnoredPayloads(before time.Time) (int64, error) {
	return t.exec("drop payloads of old ignored events", `UPDATE events SET payload = ?
		WHERE status = 'ignored' AND received_at < ? AND length(payload) > 0`, []byte{}, t.d.Time(before))
}

// ClaimEvents skips events that another replica is claiming right now, and
// takes those whose earlier claim ran out (a replica died mid-job).
func (t *Tx) ClaimEvents(now time.Time, lease time.Duration, limit int) ([]credits.Event, error) {
	return queryAll(t, "claim pending events", scanEvent, `UPDATE events SET locked_until = ?
		WHERE id IN (SELECT id FROM events WHERE status = 'pending' AND next_attempt_at <= ? AND locked_until <= ?
			ORDER BY next_attempt_at LIMIT ?{skip_locked})
		RETURNING `+eventColumns, t.d.Time(now.Add(lease)), t.d.Time(now), t.d.Time(now), limit)
}

// Verification.

func (t *Tx) AccountTotals() ([]credits.AccountTotals, error) {
	return queryAll(t, "sum entries and lots", func(s scanner) (credits.AccountTotals, error) {
		var a credits.AccountTotals
		return a, s.Scan(&a.AccountID, &a.Balance, &a.Held, &a.Debt, &a.EntrySum, &a.LotSum)
	}, `SELECT a.id, a.balance, a.held, a.debt, CAST(COALESCE(e.total, 0) AS BIGINT),
		CAST(COALESCE((SELECT SUM(remaining) FROM lots l WHERE l.account_id = a.id), 0) AS BIGINT)
		FROM accounts a LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM entries GROUP BY account_id) AS e ON e.account_id = a.id
		ORDER BY a.id`)
}

func (t *Tx) BrokenEntryLinks() ([]string, error) {
	return t.brokenChain("entries", "prev_entry_id", "last_entry_id")
}

func (t *Tx) BrokenPurchaseLinks() ([]string, error) {
	return t.brokenChain("purchases", "prev_purchase_id", "last_purchase_id")
}

// brokenChain returns the accounts whose rows of table do not each name the
// account's row before them (column prev), or whose newest row is not the
// one the account names (column last): the chains that Entries and
// Purchases walk.
func (t *Tx) brokenChain(table, prev, last string) ([]string, error) {
	return queryAll(t, "check the links of "+table, scanString, `SELECT account_id FROM (
			SELECT account_id, `+prev+`, LAG(id) OVER (PARTITION BY account_id ORDER BY id) AS before FROM `+table+`
		) AS linked WHERE `+prev+` IS DISTINCT FROM before
		UNION
		SELECT a.id FROM accounts a LEFT JOIN (SELECT account_id, MAX(id) AS newest FROM `+table+` GROUP BY account_id) AS n
		ON n.account_id = a.id WHERE a.`+last+` IS DISTINCT FROM n.newest
		ORDER BY 1`)
}

func (t *Tx) EntryDraws(entryID int64) ([]credits.LotAmount, error) {
	return queryAll(t, fmt.Sprintf("list the draws of entry %d", entryID), func(s scanner) (credits.LotAmount, error) {
		var d credits.LotAmount
		return d, s.Scan(&d.LotID, &d.Amount)
	}, `SELECT lot_id, amount FROM entry_draws WHERE entry_id = ? ORDER BY lot_id`, entryID)
}

func (t *Tx) MisdrawnEntries() ([]credits.EntryDraw, error) {
	return queryAll(t, "check entries' lots", func(s scanner) (credits.EntryDraw, error) {
		var d credits.EntryDraw
		return d, s.Scan(&d.EntryID, &d.AccountID, &d.Amount, &d.LotID)
	}, `SELECT e.id, e.account_id, e.amount, e.lot_id FROM entries e LEFT JOIN lots l ON l.id = e.lot_id
		WHERE e.lot_id IS NOT NULL AND (l.account_id IS DISTINCT FROM e.account_id OR e.amount >= 0) ORDER BY e.id`)
}

func (t *Tx) EntriesOfNoAccount() ([]credits.Entry, error) {
	return queryAll(t, "check entries' accounts", func(s scanner) (credits.Entry, error) {
		var e credits.Entry
		return e, s.Scan(&e.ID, &e.AccountID, &e.Amount)
	}, `SELECT e.id, e.account_id, e.amount FROM entries e
		WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = e.account_id) ORDER BY e.id`)
}

func (t *Tx) BrokenEntryChains() ([]credits.Entry, error) {
	return queryAll(t, "check entry chains", scanEntry, `SELECT `+entryColumns+` FROM (
		SELECT *, SUM(amount) OVER (PARTITION BY account_id ORDER BY id) AS running FROM entries
	) AS chained WHERE running != balance_after ORDER BY id`)
}

func (t *Tx) HeldTotals() ([]credits.HeldTotals, error) {
	return queryAll(t, "sum holds and reservations", func(s scanner) (credits.HeldTotals, error) {
		var h credits.HeldTotals
		return h, s.Scan(&h.AccountID, &h.Held, &h.HoldSum, &h.Reserved, &h.Unbacked)
	}, `SELECT a.id, a.held,
		CAST(COALESCE((SELECT SUM(amount) FROM holds h WHERE h.account_id = a.id AND h.status = 'held'), 0) AS BIGINT),
		CAST(COALESCE((SELECT SUM(reserved) FROM lots l WHERE l.account_id = a.id), 0) AS BIGINT),
		CAST(COALESCE((SELECT SUM(h.amount - COALESCE((SELECT SUM(hl.amount) FROM hold_lots hl WHERE hl.hold_id = h.id), 0))
			FROM holds h WHERE h.account_id = a.id AND h.status = 'held'), 0) AS BIGINT)
		FROM accounts a ORDER BY a.id`)
}

func (t *Tx) DuplicatePurchaseReferences() ([]string, error) {
	return queryAll(t, "find sessions credited twice", scanString,
		`SELECT reference FROM entries WHERE kind = 'purchase' GROUP BY reference HAVING COUNT(*) > 1 ORDER BY reference`)
}

// lockedAccount is an account locked by its transaction; every statement
// names the account, so that it cannot touch another's rows.
type lockedAccount struct {
	t       *Tx
	account credits.Account
}

var _ credits.LockedAccount = (*lockedAccount)(nil)

func (l *lockedAccount) Account() credits.Account { return l.account }

// changed tells the row read ahead with the account's lock (PostgreSQL's
// batch read-ahead, which hands it to the account's next write: HandBack)
// what a statement that succeeded did to the account's row.
func (l *lockedAccount) changed(err error, change func(*credits.Account)) error {
	if err != nil {
		return err
	}
	if a := l.aheadFor(); a != nil {
		change(&a.account)
	}
	return nil
}

func (l *lockedAccount) id() string { return l.account.ID }

func (l *lockedAccount) SetBalance(balance int64, trial bool) error {
	err := l.t.later(Write{Op: "set balance of account " + l.id(), Args: []any{balance, trial, l.id()}, One: true},
		`UPDATE accounts SET balance = ?, trial = ? WHERE id = ?`)
	return l.changed(err, func(a *credits.Account) { a.Balance, a.Trial = balance, trial })
}

func (l *lockedAccount) SetHeld(held int64) error {
	err := l.t.later(Write{Op: "set held credits of account " + l.id(), Args: []any{held, l.id()}, One: true},
		`UPDATE accounts SET held = ? WHERE id = ?`)
	return l.changed(err, func(a *credits.Account) { a.Held = held })
}

func (l *lockedAccount) SetDebt(debt int64) error {
	err := l.t.later(Write{Op: "set debt of account " + l.id(), Args: []any{debt, l.id()}, One: true},
		`UPDATE accounts SET debt = ? WHERE id = ?`)
	return l.changed(err, func(a *credits.Account) { a.Debt = debt })
}

// AddEntry links the entry to the account's previous one, and makes it the
// account's latest with its balance, in the one UPDATE a balance needs. The
// previous one is read from the row, in the INSERT, not from this lock's
// copy: another lock of the same account in the transaction may have added
// one.
func (l *lockedAccount) AddEntry(e credits.Entry) (int64, error) {
	return l.addEntry(e, nil)
}

// addEntry is AddEntry with the lot the entry drew all of its credits from,
// if that is one lot and known now (nil: none, or in lot_draws).
func (l *lockedAccount) addEntry(e credits.Entry, lotID any) (int64, error) {
	op := "add " + e.Kind + " entry to account " + l.id()
	var id int64
	var err error
	var member, period any // NULL: spent as no member
	if e.MemberID != "" {
		member, period = e.MemberID, l.t.d.Time(e.MemberPeriodStart)
	}
	if a := l.aheadFor(); a != nil && a.entryID == 0 && a.pendingID != nil && *a.pendingID != 0 {
		a.entryID, a.pendingID = *a.pendingID, nil
	}
	if a := l.aheadFor(); a != nil && a.entryID != 0 {
		// Its id was taken with the lock: the INSERT needs no answer, and
		// goes out with the next statement or the COMMIT.
		id, a.entryID = a.entryID, 0
		err = l.t.later(Write{Op: op, One: true,
			Args: []any{id, l.id(), e.Amount, e.Kind, e.Reference, e.Description, e.BalanceAfter, l.t.d.Time(e.CreatedAt), lotID, member, period, l.id()}},
			`INSERT INTO entries (id, account_id, amount, kind, reference, description, balance_after, created_at, lot_id, member_id, member_period_start, prev_entry_id){overriding}
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT last_entry_id FROM accounts WHERE id = ?))`)
	} else {
		if a := l.aheadFor(); a != nil {
			a.pendingID = nil // its id, when it comes, is older than this entry's: unused
			a.newID = true
		}
		id, err = l.t.insert(op, `INSERT INTO entries (account_id, amount, kind, reference, description, balance_after, created_at, lot_id, member_id, member_period_start, prev_entry_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT last_entry_id FROM accounts WHERE id = ?))`,
			l.id(), e.Amount, e.Kind, e.Reference, e.Description, e.BalanceAfter, l.t.d.Time(e.CreatedAt), lotID, member, period, l.id())
	}
	if err != nil {
		return 0, err
	}
	err = l.t.later(Write{Op: op, Args: []any{e.BalanceAfter, id, l.id()}, One: true},
		`UPDATE accounts SET balance = ?, last_entry_id = ? WHERE id = ?`)
	return id, l.changed(err, func(a *credits.Account) { a.Balance = e.BalanceAfter })
}

// AddLot also brings the account's due time forward to the lot's expiry.
func (l *lockedAccount) AddLot(lot credits.Lot) (int64, error) {
	l.lotsChanged()
	id, err := l.t.insert("add lot to account "+l.id(), `INSERT INTO lots (account_id, amount, remaining, reserved, spendable, priority, expires_at, source, reference, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.id(), lot.Amount, lot.Remaining, lot.Reserved, lot.Spendable() > 0, lot.Priority, l.t.d.nullTime(lot.ExpiresAt), lot.Source, lot.Reference, l.t.d.Time(lot.CreatedAt))
	if err != nil || lot.ExpiresAt == nil || lot.Remaining <= lot.Reserved {
		return id, err
	}
	return id, l.lowerDueAt(*lot.ExpiresAt)
}

const spendableLots = `SELECT ` + lotColumns + ` FROM lots
	WHERE account_id = ? AND spendable AND (expires_at IS NULL OR expires_at > ?)
	ORDER BY account_id, ` + burnDownOrder + ` LIMIT ?`

func (l *lockedAccount) SpendableLots(now time.Time, limit int) ([]credits.Lot, error) {
	if lots, ok := l.aheadLots(now, limit); ok {
		return lots, nil
	}
	return queryAll(l.t, "list spendable lots of account "+l.id(), scanLot, spendableLots, l.id(), l.t.d.Time(now), limit)
}

// takeFromFirstLot is a draw's common case in one statement: it takes ?1
// from the first spendable lot of account ?2 at ?3 in burn-down order (as
// SpendableLots lists them) when that lot holds more than ?4 (= ?1)
// unreserved, and returns the lot's id. A lot it draws stays spendable, so
// the statement sets remaining alone: no index names it (the lot indexes'
// condition is the spendable column), and on PostgreSQL the update can be
// heap-only. A draw that would leave the lot with nothing unreserved
// changes nothing here, and the lots are walked (SetLot sets spendable).
const takeFromFirstLot = `UPDATE lots SET remaining = remaining - ?
	WHERE id = (SELECT lots.id FROM lots
		WHERE account_id = ? AND spendable AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY account_id, ` + burnDownOrder + ` LIMIT 1)
	AND remaining - reserved > ?
	RETURNING id`

// AddEntryTakingFromLots takes the spend from the first lot with the entry
// when that lot holds it and keeps something unreserved (the draw is then
// stored on the entry's row, not in lot_draws); otherwise it adds the entry
// and walks the lots (EachSpendableLot). Most spends fit in the first lot: on
// SQLite one statement finds the lot and draws from it (a debit's lot SELECT
// was 15 % of the writer); on PostgreSQL the lot was read with the lock sent
// ahead, and the draw and the entry wait for the COMMIT.
func (l *lockedAccount) AddEntryTakingFromLots(e credits.Entry) (int64, []credits.LotAmount, error) {
	amount := -e.Amount
	if amount <= 0 {
		return 0, nil, fmt.Errorf("add entry of account %s: a spend of %d credits", l.id(), amount)
	}
	entryID, lotID, err := l.addEntryTakingFromFirstLot(e, amount)
	if err != nil {
		return 0, nil, err
	}
	if lotID != 0 {
		return entryID, []credits.LotAmount{{LotID: lotID, Amount: amount}}, nil
	}
	var draws []credits.LotAmount
	err = credits.EachSpendableLot(l, e.CreatedAt, amount, func(lot credits.Lot, take int64) error {
		draws = append(draws, credits.LotAmount{LotID: lot.ID, Amount: take})
		return l.SetLot(lot.ID, lot.Remaining-take, lot.Reserved)
	})
	if err != nil {
		return 0, nil, err
	}
	return entryID, draws, l.AddLotDraws(entryID, draws)
}

// addEntryTakingFromFirstLot adds the entry, with amount taken from the
// first spendable lot when that lot alone holds it (lotID names it; 0: no
// lot changed). It decides from the lots LockAhead read, when it read them
// (PostgreSQL: the draw and the entry are then held back to the COMMIT);
// otherwise it runs takeFromFirstLot first (on PostgreSQL with whatever is
// held back). Either way the lot is known before the entry's INSERT, which
// names it.
func (l *lockedAccount) addEntryTakingFromFirstLot(e credits.Entry, amount int64) (entryID, lotID int64, err error) {
	if lots, read := l.aheadLots(e.CreatedAt, 1); read {
		// LockAhead read the first lot under the lock: the draw needs no
		// answer either (the same condition as takeFromFirstLot's).
		if len(lots) == 0 || lots[0].Spendable() <= amount {
			entryID, err = l.AddEntry(e)
			return entryID, 0, err // nothing taken; the walk reads the lots read ahead
		}
		// The lot keeps more than nothing unreserved, so it stays spendable
		// and first: the lots read ahead stay the account's, with this
		// one's remaining less.
		lots[0].Remaining -= amount
		lotID = lots[0].ID
		err = l.t.later(Write{Op: fmt.Sprintf("take from lot %d of account %s", lotID, l.id()), Args: []any{amount, lotID, l.id(), amount}, One: true},
			`UPDATE lots SET remaining = remaining - ? WHERE id = ? AND account_id = ? AND spendable AND remaining - reserved > ?`)
		if err != nil {
			return 0, 0, err
		}
		entryID, err = l.addEntry(e, lotID)
		return entryID, lotID, err
	}
	l.lotsChanged()
	taken, err := queryAll(l.t, "take from the first lot of account "+l.id(), scanInt64, takeFromFirstLot,
		amount, l.id(), l.t.d.Time(e.CreatedAt), amount)
	if err != nil {
		return 0, 0, err
	}
	if len(taken) == 0 {
		entryID, err = l.AddEntry(e) // the first lot does not hold it: nothing changed
		return entryID, 0, err
	}
	entryID, err = l.addEntry(e, taken[0])
	return entryID, taken[0], err
}

func (l *lockedAccount) ExpiringLots(until time.Time, limit int) ([]credits.Lot, error) {
	return l.t.ExpiringLots(l.id(), until, limit)
}

func (l *lockedAccount) LotsToNotice(now, until time.Time, limit int) ([]credits.Lot, error) {
	return queryAll(l.t, "list lots of account "+l.id()+" expiring soon", scanLot, `SELECT `+lotColumns+` FROM lots
		WHERE account_id = ? AND `+expiringNotice+` ORDER BY expires_at, id LIMIT ?`, l.id(), l.t.d.Time(now), l.t.d.Time(until), limit)
}

func (l *lockedAccount) MarkLotNoticed(id int64) error {
	l.lotsChanged()
	return l.t.later(Write{Op: fmt.Sprintf("mark lot %d as told", id), Args: []any{id, l.id()}, One: true},
		`UPDATE lots SET expiring_notified = TRUE WHERE id = ? AND account_id = ?`)
}

func (l *lockedAccount) LotByReference(source, reference string) (credits.Lot, error) {
	return queryOne(l.t, "read "+source+" lot of account "+l.id(), scanLot, `SELECT `+lotColumns+` FROM lots
		WHERE account_id = ? AND source = ? AND reference = ? ORDER BY id LIMIT 1`, l.id(), source, reference)
}

func (l *lockedAccount) Lot(id int64) (credits.Lot, error) {
	return queryOne(l.t, fmt.Sprintf("read lot %d of account %s", id, l.id()), scanLot, `SELECT `+lotColumns+` FROM lots
		WHERE id = ? AND account_id = ?`, id, l.id())
}

// SetLot sets whether the lot is spendable with its amounts (see
// takeFromFirstLot).
func (l *lockedAccount) SetLot(id, remaining, reserved int64) error {
	l.lotsChanged()
	return l.t.later(Write{Op: fmt.Sprintf("set lot %d of account %s", id, l.id()), Args: []any{remaining, reserved, remaining > reserved, id, l.id()}, One: true},
		`UPDATE lots SET remaining = ?, reserved = ?, spendable = ? WHERE id = ? AND account_id = ?`)
}

func (l *lockedAccount) AddLotDraws(entryID int64, draws []credits.LotAmount) error {
	for _, d := range draws {
		err := l.t.later(Write{Op: fmt.Sprintf("record draw of entry %d on lot %d", entryID, d.LotID), Args: []any{entryID, d.LotID, d.Amount}},
			`INSERT INTO lot_draws (entry_id, lot_id, amount) VALUES (?, ?, ?)`)
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *lockedAccount) CreateHold(h credits.Hold, lots []credits.LotAmount) error {
	if h.AccountID != l.id() {
		return fmt.Errorf("create hold %s: it belongs to account %s, not the locked %s", h.ID, h.AccountID, l.id())
	}
	_, err := l.t.exec("create hold "+h.ID, `INSERT INTO holds (`+holdColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		h.ID, l.id(), h.Amount, h.Captured, h.Status, h.Description, l.t.d.Time(h.ExpiresAt), l.t.d.Time(h.CreatedAt), l.t.d.Time(h.UpdatedAt))
	if err != nil {
		return err
	}
	if h.Status == credits.HoldHeld {
		if err := l.lowerDueAt(h.ExpiresAt); err != nil {
			return err
		}
	}
	for _, lot := range lots {
		_, err := l.t.exec(fmt.Sprintf("reserve credits of hold %s on lot %d", h.ID, lot.LotID),
			`INSERT INTO hold_lots (hold_id, lot_id, amount) VALUES (?, ?, ?)`, h.ID, lot.LotID, lot.Amount)
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *lockedAccount) HeldLots(holdID string) ([]credits.HeldLot, error) {
	return queryAll(l.t, "list lots of hold "+holdID, func(s scanner) (credits.HeldLot, error) {
		var h credits.HeldLot
		err := s.Scan(&h.ID, &h.AccountID, &h.Amount, &h.Remaining, &h.Reserved, &h.Priority, nullTimeValue{&h.ExpiresAt},
			&h.Source, &h.Reference, timeValue{&h.CreatedAt}, &h.Held)
		return h, err
	}, `SELECT `+lotColumns+`, hold_lots.amount FROM hold_lots JOIN lots ON lots.id = hold_lots.lot_id
		WHERE hold_lots.hold_id = ? AND lots.account_id = ? ORDER BY `+burnDownOrder, holdID, l.id())
}

func (l *lockedAccount) HeldLotsOf(holdIDs []string) (map[string][]credits.HeldLot, error) {
	out := make(map[string][]credits.HeldLot, len(holdIDs))
	_, err := queryAll(l.t, fmt.Sprintf("list lots of %d holds", len(holdIDs)), func(s scanner) (struct{}, error) {
		var h credits.HeldLot
		var holdID string
		err := s.Scan(&holdID, &h.ID, &h.AccountID, &h.Amount, &h.Remaining, &h.Reserved, &h.Priority, nullTimeValue{&h.ExpiresAt},
			&h.Source, &h.Reference, timeValue{&h.CreatedAt}, &h.Held)
		out[holdID] = append(out[holdID], h)
		return struct{}{}, err
	}, `SELECT hold_lots.hold_id, `+lotColumns+`, hold_lots.amount FROM hold_lots JOIN lots ON lots.id = hold_lots.lot_id
		WHERE hold_lots.hold_id{in_list} AND lots.account_id = ? ORDER BY hold_lots.hold_id, `+burnDownOrder, l.t.d.List(holdIDs), l.id())
	return out, err
}

const expireHolds = `UPDATE holds SET status = ?, updated_at = ? WHERE id{in_list} AND status = ? RETURNING account_id`

// ExpireHolds finds the holds by their ids alone and checks their account
// in Go: with the account's id in the WHERE, SQLite walked every held hold
// of the account (holds_account) instead. A hold of another account fails
// the write, which undoes it.
func (l *lockedAccount) ExpireHolds(holdIDs []string, now time.Time) error {
	op := fmt.Sprintf("expire %d holds of account %s", len(holdIDs), l.id())
	accounts, err := queryAll(l.t, op, scanString, expireHolds, credits.HoldExpired, l.t.d.Time(now), l.t.d.List(holdIDs), credits.HoldHeld)
	if err != nil {
		return err
	}
	if len(accounts) != len(holdIDs) {
		return fmt.Errorf("%s: %d of them were held: %w", op, len(accounts), credits.ErrNotFound)
	}
	for _, a := range accounts {
		if a != l.id() {
			return fmt.Errorf("%s: one is a hold of account %s", op, a)
		}
	}
	return nil
}

func (l *lockedAccount) LotHolds(lotID int64) ([]credits.HoldAmount, error) {
	return queryAll(l.t, fmt.Sprintf("list holds on lot %d", lotID), func(s scanner) (credits.HoldAmount, error) {
		var h credits.HoldAmount
		return h, s.Scan(&h.HoldID, &h.Amount)
	}, `SELECT hold_lots.hold_id, hold_lots.amount FROM hold_lots JOIN holds ON holds.id = hold_lots.hold_id
		WHERE hold_lots.lot_id = ? AND holds.account_id = ? AND holds.status = 'held' ORDER BY holds.expires_at DESC, holds.id DESC`, lotID, l.id())
}

func (l *lockedAccount) SetHoldLot(holdID string, lotID, amount int64) error {
	op := fmt.Sprintf("set what hold %s reserves on lot %d", holdID, lotID)
	if amount == 0 {
		return l.t.later(Write{Op: op, Args: []any{holdID, lotID, l.id()}, One: true},
			`DELETE FROM hold_lots WHERE hold_id = ? AND lot_id = ? AND lot_id IN (SELECT id FROM lots WHERE account_id = ?)`)
	}
	return l.t.later(Write{Op: op, Args: []any{amount, holdID, lotID, l.id()}, One: true},
		`UPDATE hold_lots SET amount = ? WHERE hold_id = ? AND lot_id = ? AND lot_id IN (SELECT id FROM lots WHERE account_id = ?)`)
}

// UpdateHold of a hold that closes refreshes the account's due time: the
// credits it freed on its lots (SetLot, before) may come due earlier. A hold
// that expires is closed by a settlement, which refreshes it once after all
// it closed: refreshed for each, its n holds read n² rows.
func (l *lockedAccount) UpdateHold(h credits.Hold) error {
	err := l.t.execOne("update hold "+h.ID, `UPDATE holds SET captured = ?, status = ?, updated_at = ? WHERE id = ? AND account_id = ?`,
		h.Captured, h.Status, l.t.d.Time(h.UpdatedAt), h.ID, l.id())
	if err != nil || h.Status == credits.HoldHeld || h.Status == credits.HoldExpired {
		return err
	}
	return l.RefreshDueAt()
}

// CreatePurchase links the purchase to the account's previous one (read from
// the row, as AddEntry reads the latest entry) and makes it the account's
// latest.
func (l *lockedAccount) CreatePurchase(p credits.Purchase) (int64, error) {
	op := "create purchase of session " + p.SessionID
	id, err := l.t.insert(op, `INSERT INTO purchases
		(account_id, pack_id, quantity, credits, amount_paid, currency, session_id, payment_intent, event_id, created_at, prev_purchase_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT last_purchase_id FROM accounts WHERE id = ?))`,
		l.id(), p.PackID, p.Quantity, p.Credits, p.AmountPaid, p.Currency, p.SessionID, p.PaymentIntent, p.EventID, l.t.d.Time(p.CreatedAt), l.id())
	if err != nil {
		return 0, err
	}
	err = l.t.later(Write{Op: op, Args: []any{id, l.id()}, One: true}, `UPDATE accounts SET last_purchase_id = ? WHERE id = ?`)
	return id, l.changed(err, func(*credits.Account) {}) // a column no copy of the row holds
}

// Settings and web sessions.

func (t *Tx) Setting(key string) (string, error) {
	return queryOne(t, "read setting "+key, scanString, `SELECT value FROM settings WHERE key = ?`, key)
}

func (t *Tx) CreateSetting(key, value string) error {
	_, err := t.exec("create setting "+key, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING`, key, value)
	return err
}

func (t *Tx) AddToSetting(key string, n int64) (int64, error) {
	if err := t.CreateSetting(key, "0"); err != nil {
		return 0, err
	}
	// One UPDATE, not a read and then a write: on PostgreSQL it waits for a
	// concurrent add to the row and adds to what that one committed.
	if err := t.execOne("add to setting "+key, `UPDATE settings SET value = CAST(CAST(value AS BIGINT) + ? AS TEXT) WHERE key = ?`, n, key); err != nil {
		return 0, err
	}
	value, err := t.Setting(key)
	if err != nil {
		return 0, err
	}
	sum, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("setting %s: %w", key, err)
	}
	return sum, nil
}

const webSessionColumns = `id, kind, account_id, key_id, capabilities, used, flash, expires_at, revoked, created_at, member_id`

func scanWebSession(s scanner) (credits.WebSession, error) {
	var ws credits.WebSession
	var can string
	err := s.Scan(&ws.ID, &ws.Kind, &ws.AccountID, &ws.KeyID, &can, &ws.Used, &ws.Flash, timeValue{&ws.ExpiresAt}, &ws.Revoked, timeValue{&ws.CreatedAt}, &ws.MemberID)
	ws.Can = strings.Fields(can)
	return ws, err
}

func (t *Tx) CreateWebSession(ws credits.WebSession) error {
	_, err := t.exec("create "+ws.Kind+" session", `INSERT INTO web_sessions (`+webSessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ws.ID, ws.Kind, ws.AccountID, ws.KeyID, strings.Join(ws.Can, " "), ws.Used, ws.Flash, t.d.Time(ws.ExpiresAt), ws.Revoked, t.d.Time(ws.CreatedAt), ws.MemberID)
	return err
}

func (t *Tx) WebSession(id string) (credits.WebSession, error) {
	return queryOne(t, "read session", scanWebSession, `SELECT `+webSessionColumns+` FROM web_sessions WHERE id = ?`, id)
}

func (t *Tx) RevokeWebSession(id string) error {
	_, err := t.exec("revoke a session", `UPDATE web_sessions SET revoked = ? WHERE id = ?`, true, id)
	return err
}

func (t *Tx) UseWebSession(id string) (bool, error) {
	n, err := t.exec("use a link", `UPDATE web_sessions SET used = ? WHERE id = ? AND NOT used AND NOT revoked`, true, id)
	return n == 1, err
}

func (t *Tx) SetWebSessionFlash(id, flash string) error {
	_, err := t.exec("keep a notice", `UPDATE web_sessions SET flash = ? WHERE id = ?`, flash, id)
	return err
}

func (t *Tx) LiveWebSessions(kind string, now time.Time) ([]credits.WebSession, error) {
	return queryAll(t, "list "+kind+" sessions", scanWebSession, `SELECT `+webSessionColumns+` FROM web_sessions
		WHERE kind = ? AND NOT revoked AND expires_at > ? ORDER BY created_at DESC, id`, kind, t.d.Time(now))
}

func (t *Tx) RevokeAccountWebSessions(accountID string) (int64, error) {
	return t.exec("revoke the sessions of account "+accountID, `UPDATE web_sessions SET revoked = ?
		WHERE account_id = ? AND NOT revoked`, true, accountID)
}

func (t *Tx) RevokeKeyWebSessions(keyID string) (int64, error) {
	return t.exec("revoke the sessions of API key "+keyID, `UPDATE web_sessions SET revoked = ?
		WHERE key_id = ? AND NOT revoked`, true, keyID)
}

func (t *Tx) DeleteWebSessionsBefore(before time.Time) (int64, error) {
	return t.exec("forget expired sessions", `DELETE FROM web_sessions WHERE expires_at < ?`, t.d.Time(before))
}

// API keys.

const apiKeyColumns = `id, name, scope, account_id, secret_hash, created_at, last_used_at, revoked_at, member_id`

func scanAPIKey(s scanner) (credits.APIKey, error) {
	var k credits.APIKey
	err := s.Scan(&k.ID, &k.Name, &k.Scope, &k.AccountID, &k.SecretHash, timeValue{&k.CreatedAt},
		nullTimeValue{&k.LastUsedAt}, nullTimeValue{&k.RevokedAt}, &k.MemberID)
	return k, err
}

func (t *Tx) CreateAPIKey(k credits.APIKey) error {
	_, err := t.exec("create API key "+k.ID, `INSERT INTO api_keys (id, name, scope, account_id, secret_hash, created_at, member_id)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, k.ID, k.Name, k.Scope, k.AccountID, k.SecretHash, t.d.Time(k.CreatedAt), k.MemberID)
	return err
}

func (t *Tx) APIKey(id string) (credits.APIKey, error) {
	return queryOne(t, "read API key "+id, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`, id)
}

func (t *Tx) APIKeyByHash(secretHash string) (credits.APIKey, error) {
	return queryOne(t, "find an API key", scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE secret_hash = ?`, secretHash)
}

func (t *Tx) APIKeys() ([]credits.APIKey, error) {
	return queryAll(t, "list API keys", scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at DESC, id DESC`)
}

func (t *Tx) RevokeAPIKey(id string, now time.Time) error {
	return t.execOne("revoke API key "+id, `UPDATE api_keys SET revoked_at = ? WHERE id = ?`, t.d.Time(now), id)
}

func (t *Tx) TouchAPIKey(id string, now time.Time) error {
	_, err := t.exec("note the use of API key "+id, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, t.d.Time(now), id)
	return err
}

func (l *lockedAccount) SetBalanceState(state string) error {
	if err := l.t.later(Write{Op: "set the balance state of account " + l.id(), Args: []any{state, l.id()}, One: true},
		`UPDATE accounts SET balance_state = ? WHERE id = ?`); err != nil {
		return err
	}
	l.account.BalanceState = state
	return l.changed(nil, func(a *credits.Account) { a.BalanceState = state })
}

func (l *lockedAccount) SetLowBalanceThreshold(threshold int64) error {
	err := l.t.later(Write{Op: "set the low-balance threshold of account " + l.id(), Args: []any{threshold, l.id()}, One: true},
		`UPDATE accounts SET low_balance_threshold = ? WHERE id = ?`)
	return l.changed(err, func(a *credits.Account) { a.LowBalanceThreshold = threshold })
}
