package credits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Service is the credits service: every method is one store transaction, with
// its time taken once at the start from Now.
type Service struct {
	Store Store
	// versions caches rate card versions by RateCardRef (they never change).
	versions sync.Map
	// Payments is nil when no Stripe key is configured: checkout then answers
	// unavailable, and foreign sessions wait in the queue.
	Payments Payments
	// ExpiringNotice is how long before a lot expires credits.expiring is
	// written for it (0: never).
	ExpiringNotice time.Duration
	// LowBalanceThreshold is the default threshold of balance.low (0: off).
	LowBalanceThreshold int64
	// Webhooks delivers events to the application's endpoints; nil sends none.
	Webhooks WebhookSender
	// Secrets seals webhook endpoints' secrets in the store; nil keeps them
	// as they are (tests, and a command run without a signing secret).
	Secrets *SecretBox
	// CheckWebhookURL, when set, may refuse an endpoint's URL at creation
	// (in production: hosts on private networks); nil accepts any.
	CheckWebhookURL func(ctx context.Context, url string) error
	// PaymentsMissing says what to configure when Payments is nil.
	PaymentsMissing string
	// Livemode is the mode of the configured Stripe key: events of the other
	// mode are recorded and add nothing.
	Livemode bool
	// Now is the service's clock: everything in the domain reads time
	// through it (s.now). In development it may be a TestClock.
	Now    func() time.Time
	Logger *slog.Logger
	// TestClock, in development only, is the clock that Now reads and that
	// AdvanceTestClock moves forward; nil in production.
	TestClock TestClock
	// IgnoredPayloadRetention is how long the payload of an ignored event is
	// kept (0: forever); events that credited anything keep theirs.
	IgnoredPayloadRetention time.Duration
	// CheckoutExpiresIn, when set, is how long a Checkout Session stays
	// open (Stripe allows 30 minutes to 24 hours, its default).
	CheckoutExpiresIn time.Duration
	// TrialCredits are granted to each new account, expiring after TrialDays
	// (never when 0).
	TrialCredits int64
	TrialDays    int64

	// RechargeLease is how long a replica's claim on a recharge lasts.
	RechargeLease time.Duration
	// RechargeCheckAfter is how long a recharge Stripe is processing waits
	// for its event before it is read back (0: DefaultRechargeCheckAfter).
	RechargeCheckAfter time.Duration
	// RechargeReturnURLs are the return pages of the Checkout links made for
	// recharges that wait for the customer.
	RechargeReturnURLs ReturnURLs

	// wake, sweepWake and dispatchWake wake the event and recharge worker,
	// the sweeper and the webhook dispatcher before their next tick.
	wake         chan struct{}
	sweepWake    chan struct{}
	dispatchWake chan struct{}
	confirms     confirmLimiter
	// diskFull is when the last write failed for lack of space, nil once a
	// write went through since: the health check's own small row may fit
	// where a debit does not.
	diskFull atomic.Pointer[time.Time]
	// deliveries are the webhook deliveries this process runs.
	deliveries deliveries
}

// DefaultIgnoredPayloadRetention keeps ignored events' payloads 30 days.
const DefaultIgnoredPayloadRetention = 30 * 24 * time.Hour

// NewService returns a service with a real clock and a discarding logger.
func NewService(store Store) *Service {
	return &Service{
		Store:                   store,
		PaymentsMissing:         "no payment provider is configured",
		IgnoredPayloadRetention: DefaultIgnoredPayloadRetention,
		RechargeLease:           DefaultRechargeLease,
		Now:                     func() time.Time { return time.Now().UTC() },
		Logger:                  slog.New(slog.DiscardHandler),
		wake:                    make(chan struct{}, 1),
		sweepWake:               make(chan struct{}, 1),
		dispatchWake:            make(chan struct{}, 1),
	}
}

// wakeWorkers wakes every worker (events and recharges, the sweeper, the
// webhook dispatcher), as after the test clock moved: what came due runs now.
func (s *Service) wakeWorkers() {
	for _, c := range []chan struct{}{s.wake, s.sweepWake, s.dispatchWake} {
		wake(c)
	}
}

// wake wakes the worker that waits on c, unless it is already woken (or c
// is nil: a service made without NewService).
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// errRetry asks update to run a transaction again: fn met a row that another
// transaction wrote meanwhile, and reads it on its next run.
var errRetry = errors.New("run the transaction again")

const maxTransactionRetries = 5

// update runs fn in a write transaction, again when fn asks for a retry.
func (s *Service) update(ctx context.Context, fn func(Tx) error) error {
	return s.logAfter(func(fn func(Tx) error) error { return s.Store.Update(ctx, fn) }, fn)
}

// updateAccount runs fn, a write confined to one account, with the writes
// of other accounts where the store groups them, and again when fn asks for
// a retry.
func (s *Service) updateAccount(ctx context.Context, w AccountWrite, fn func(Tx) error) error {
	if lookupID("account", w.AccountID) != nil {
		return s.update(ctx, fn)
	}
	if w.MemberID != "" && lookupID("member", w.MemberID) != nil {
		// Refused before it is read (memberNow): a batch that read it ahead
		// would send it as text, and one PostgreSQL refuses (a NUL) would
		// fail every write of the batch.
		w.MemberID = ""
	}
	return s.logAfter(func(fn func(Tx) error) error { return s.Store.UpdateAccount(ctx, w, fn) }, fn)
}

// logAfter runs fn through run, again when fn asks for a retry, and logs
// what fn's last run had to say once run says it committed.
func (s *Service) logAfter(run func(func(Tx) error) error, fn func(Tx) error) error {
	var logs []logLine
	err := retryTransaction(func() error {
		return run(func(tx Tx) error {
			logs = logs[:0]
			return fn(loggingTx{tx, &logs})
		})
	})
	s.noteWrite(err)
	if err == nil {
		for _, l := range logs {
			s.Logger.Info(l.msg, l.args...)
		}
	}
	return err
}

// loggingTx keeps what a transaction has to log until it has committed:
// logged in the transaction, a line would tell of a write that may still
// roll back, and on SQLite it would be written by the one writer that every
// write waits for (a slow log pipe would hold them all).
type loggingTx struct {
	Tx
	logs *[]logLine
}

type logLine struct {
	msg  string
	args []any
}

// logAfterCommit logs msg once tx's transaction has committed (at once
// where tx is not one that update made).
func (s *Service) logAfterCommit(tx Tx, msg string, args ...any) {
	if l, ok := tx.(loggingTx); ok {
		*l.logs = append(*l.logs, logLine{msg, args})
		return
	}
	s.Logger.Info(msg, args...)
}

func retryTransaction(run func() error) error {
	var err error
	for range maxTransactionRetries {
		if err = run(); !errors.Is(err, errRetry) {
			return err
		}
	}
	return fmt.Errorf("transaction still conflicting after %d tries: %w", maxTransactionRetries, err)
}

// Health reports whether the store answers reads and takes writes, each on
// its own: a full disk or a read-only file fails only writes. Writes fail
// too while the last real write failed for lack of space, whatever the
// health check's own row did.
func (s *Service) Health(ctx context.Context) (reads, writes error) {
	reads = s.Store.View(ctx, func(tx Tx) error {
		_, err := tx.Accounts("", 1)
		return err
	})
	writes = s.Store.Update(ctx, func(tx Tx) error { return tx.RecordHealthCheck(s.now()) })
	if at := s.diskFull.Load(); writes == nil && at != nil {
		writes = &Error{Code: EUNAVAILABLE, Message: "the last write failed: the database's disk is full (at " + at.Format(time.RFC3339) + ")",
			Cause: ErrDiskFull}
	}
	return reads, writes
}

// noteWrite remembers whether the last write failed for lack of space.
func (s *Service) noteWrite(err error) {
	switch {
	case errors.Is(err, ErrDiskFull):
		now := time.Now().UTC()
		s.diskFull.Store(&now)
	case err == nil && s.diskFull.Load() != nil: // a read, not a write to a shared word, on every write
		s.diskFull.Store(nil)
	}
}

// NewID returns a random id with the given prefix.
func NewID(prefix string) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return prefix + hex.EncodeToString(b[:])
}

// NewOrderedID returns an id with the given prefix that sorts by the time it
// was made: the milliseconds since 1970 in 6 bytes, then 6 random bytes
// (the same 24 hex digits as NewID). An index of such ids takes each new one
// at its end, where the last few went: a random id lands on a page of its
// own, which each commit then writes (a SQLite webhook batch wrote 37 pages
// of the outbox's id index for 31 events). For ids of rows written often
// and never guessed: events, holds. Not for secrets.
func NewOrderedID(prefix string) string {
	var b [12]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return prefix + hex.EncodeToString(b[:])
}

// CreatePack adds a pack to the catalog.
func (s *Service) CreatePack(ctx context.Context, p Pack) (Pack, error) {
	p, err := ValidatePack(p)
	if err != nil {
		return p, err
	}
	if p.ID == "" {
		p.ID = NewID("pack_")
	}
	p.CreatedAt = s.now()
	err = s.Store.Update(ctx, func(tx Tx) error {
		if p.StripePriceID != "" {
			if other, err := tx.PackByPriceID(p.StripePriceID); err == nil {
				return Errorf(ECONFLICT, "pack %s already uses stripe_price_id %s", other.ID, p.StripePriceID)
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		err := tx.CreatePack(p)
		if errors.Is(err, ErrConflict) {
			return Errorf(ECONFLICT, "pack %s already exists", p.ID)
		}
		return err
	})
	return p, err
}

// ListPacks lists the catalog.
func (s *Service) ListPacks(ctx context.Context, activeOnly bool) ([]Pack, error) {
	var packs []Pack
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		packs, err = tx.Packs(activeOnly)
		return err
	})
	return packs, err
}

// CreateAccount adds an account; it starts as a trial account.
func (s *Service) CreateAccount(ctx context.Context, id, email string) (Account, error) {
	if err := ValidateID("id", id); err != nil {
		return Account{}, err
	}
	email, err := ValidateEmail("email", email)
	if err != nil {
		return Account{}, err
	}
	now := s.now()
	a := Account{ID: id, Email: email, Trial: true, CreatedAt: now}
	err = s.update(ctx, func(tx Tx) error {
		if err := lockFoldedEmail(tx, email); err != nil {
			return err
		}
		if err := refuseLookAlike(tx, email); err != nil {
			return err
		}
		err := tx.CreateAccount(a)
		if errors.Is(err, ErrConflict) {
			return Errorf(ECONFLICT, "account %s already exists", id)
		}
		if err != nil || s.TrialCredits <= 0 {
			return err
		}
		lot := Lot{AccountID: id, Amount: s.TrialCredits, Source: EntryGrant, Reference: "trial", CreatedAt: now}
		if s.TrialDays > 0 {
			expires := now.Add(time.Duration(s.TrialDays) * 24 * time.Hour)
			lot.ExpiresAt = &expires
		}
		entry := Entry{AccountID: id, Amount: s.TrialCredits, Kind: EntryGrant, Description: "trial credits", CreatedAt: now}
		locked, err := tx.LockAccount(id)
		if err != nil {
			return err
		}
		a, _, _, err = addLot(locked, a, entry, lot)
		return err
	})
	a.Available = a.Balance
	return a, err
}

// emailLocker is a store transaction whose concurrent writers do not queue
// (PostgreSQL): LockFoldedEmail makes refuseLookAlike's read and the insert
// that follows one step among creations of emails that fold alike.
type emailLocker interface {
	LockFoldedEmail(email string) error
}

// lockFoldedEmail takes the store's lock on email's folded form, where it
// has one (emailLocker).
func lockFoldedEmail(tx Tx, email string) error {
	if l, ok := tx.(loggingTx); ok {
		tx = l.Tx
	}
	if locker, ok := tx.(emailLocker); ok {
		return locker.LockFoldedEmail(email)
	}
	return nil
}

// refuseLookAlike refuses an email that differs from an account's only by
// Unicode case or compatibility forms (U+212A KELVIN SIGN for k, fullwidth
// letters): mail to one never reaches the other, and an operator could not
// tell them apart. The same address (several accounts may share one) is
// not refused.
func refuseLookAlike(tx Tx, email string) error {
	alike, err := tx.AccountsByFoldedEmail(email)
	if err != nil {
		return err
	}
	for _, other := range alike {
		if other.Email != email {
			return Errorf(ECONFLICT, "email %s differs from account %s's email only by Unicode case or compatibility forms; use the address exactly as its owner receives mail", showEmail(email), other.ID)
		}
	}
	return nil
}

// GetAccount returns one account.
// GetAccount reads an account in one read transaction; only when
// something of it came due (a hold or a lot expired) is it settled first.
func (s *Service) GetAccount(ctx context.Context, id string) (Account, error) {
	a, err := s.readAccount(ctx, id)
	if err != nil || !a.due(s.now()) {
		return a, err
	}
	if err := s.settleIfDue(ctx, id); err != nil {
		return Account{}, err
	}
	return s.readAccount(ctx, id)
}

// readAccount reads one account, as a read transaction begun now would.
func (s *Service) readAccount(ctx context.Context, id string) (a Account, err error) {
	if err := lookupID("account", id); err != nil {
		return Account{}, err
	}
	a, err = s.Store.ReadAccount(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return a, Errorf(ENOTFOUND, "account %s not found", id)
	}
	a.Available = a.Balance - a.Held
	return a, err
}

func getAccount(tx Tx, id string) (Account, error) {
	if err := lookupID("account", id); err != nil {
		return Account{}, err
	}
	a, err := tx.Account(id)
	if errors.Is(err, ErrNotFound) {
		return a, Errorf(ENOTFOUND, "account %s not found", id)
	}
	a.Available = a.Balance - a.Held
	return a, err
}

// ListAccounts lists accounts by id, after the given one.
func (s *Service) ListAccounts(ctx context.Context, after string, limit int) (Page[Account], error) {
	limit, err := PageSize(limit)
	if err != nil {
		return Page[Account]{}, err
	}
	if err := checkText("starting_after", after); err != nil {
		return Page[Account]{}, err
	}
	var accounts []Account
	err = s.Store.View(ctx, func(tx Tx) (err error) {
		accounts, err = tx.Accounts(after, limit+1)
		return err
	})
	for i := range accounts {
		accounts[i].Available = accounts[i].Balance - accounts[i].Held
	}
	return page(accounts, limit), err
}

func page[T any](items []T, limit int) Page[T] {
	if items == nil {
		items = []T{}
	}
	if len(items) > limit {
		return Page[T]{Data: items[:limit], HasMore: true}
	}
	return Page[T]{Data: items}
}

// ListEntries lists an account's ledger, newest first, with ids below before.
func (s *Service) ListEntries(ctx context.Context, accountID string, before int64, limit int) (Page[Entry], error) {
	limit, err := PageSize(limit)
	if err != nil {
		return Page[Entry]{}, err
	}
	if before < 0 {
		return Page[Entry]{}, Errorf(EINVALID, "starting_after must be an entry id")
	}
	if err := s.settleIfDue(ctx, accountID); err != nil {
		return Page[Entry]{}, err
	}
	var entries []Entry
	err = s.Store.View(ctx, func(tx Tx) error {
		if _, err := getAccount(tx, accountID); err != nil {
			return err
		}
		var err error
		if entries, err = tx.Entries(accountID, before, limit+1); err != nil {
			return err
		}
		return attachUsages(tx, entries)
	})
	return page(entries, limit), err
}

// ListPurchases lists an account's purchases, newest first.
func (s *Service) ListPurchases(ctx context.Context, accountID string, limit int) ([]Purchase, error) {
	limit, err := PageSize(limit)
	if err != nil {
		return nil, err
	}
	var purchases []Purchase
	err = s.Store.View(ctx, func(tx Tx) error {
		if _, err := getAccount(tx, accountID); err != nil {
			return err
		}
		var err error
		purchases, err = tx.Purchases(accountID, limit)
		return err
	})
	return purchases, err
}

// GetEvent returns one recorded Stripe event.
func (s *Service) GetEvent(ctx context.Context, id string) (Event, error) {
	return viewOne(ctx, s, "event", id, Tx.Event)
}

// ListEvents lists Stripe events, newest first, optionally of one status.
func (s *Service) ListEvents(ctx context.Context, status string, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = DefaultPageSize
	}
	page, err := s.PageEvents(ctx, EventFilter{Status: status, Limit: limit})
	return page.Data, err
}

// EventFilter selects events: of a status and a type ("" for any), older
// than the event StartingAfter (a cursor: the last id of the page before),
// at most Limit.
type EventFilter struct {
	Status, Type, StartingAfter string
	Limit                       int
}

// PageEvents lists Stripe events, newest first, one page at a time.
func (s *Service) PageEvents(ctx context.Context, f EventFilter) (Page[Event], error) {
	switch f.Status {
	case "", EventPending, EventProcessed, EventIgnored, EventUnmatched, EventFailed:
	default:
		return Page[Event]{}, Errorf(EINVALID, "status must be one of pending, processed, ignored, unmatched, failed")
	}
	if err := checkText("type", f.Type); err != nil {
		return Page[Event]{}, err
	}
	if f.StartingAfter != "" {
		if err := lookupID("event", f.StartingAfter); err != nil {
			return Page[Event]{}, Errorf(EINVALID, "starting_after must be the id of an event")
		}
	}
	limit, err := PageSize(f.Limit)
	if err != nil {
		return Page[Event]{}, err
	}
	f.Limit = limit + 1
	var events []Event
	err = s.Store.View(ctx, func(tx Tx) (err error) {
		events, err = tx.Events(f)
		return err
	})
	return page(events, limit), err
}

// ReturnURLs are where the payment page sends the customer afterwards; the
// success URL may hold {CHECKOUT_SESSION_ID}, which Stripe fills in.
type ReturnURLs struct{ Success, Cancel string }

// CreateCheckout creates a Stripe Checkout Session for quantity packs and
// records it before returning its URL, so that the webhook finds it. With an
// idempotency key, a repeated request (a double click) answers the session
// the first one created (replayed = true).
//
// With saveCard, the payment also saves its card for auto-recharge (the
// account's Stripe customer is created first, once).
func (s *Service) CreateCheckout(ctx context.Context, accountID, packID string, quantity int64, saveCard bool, back ReturnURLs, idem *Idempotency) (CheckoutSession, bool, error) {
	if err := ValidateQuantity(quantity); err != nil {
		return CheckoutSession{}, false, err
	}
	if packID == "" {
		return CheckoutSession{}, false, Errorf(EINVALID, "pack_id is required")
	}
	if err := lookupID("pack", packID); err != nil {
		return CheckoutSession{}, false, err
	}
	if cs, replayed, err := s.checkoutReplay(ctx, idem); replayed || err != nil {
		return cs, replayed, err
	}
	var account Account
	var pack Pack
	err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		if account, err = getAccount(tx, accountID); err != nil {
			return err
		}
		pack, err = tx.Pack(packID)
		if errors.Is(err, ErrNotFound) || (err == nil && !pack.Active) {
			return Errorf(ENOTFOUND, "pack %s not found or not active", packID)
		}
		return err
	})
	if err != nil {
		return CheckoutSession{}, false, err
	}
	if s.Payments == nil {
		return CheckoutSession{}, false, Errorf(EUNAVAILABLE, "checkout is not configured: %s", s.PaymentsMissing)
	}
	amount, err := MulCredits(pack.UnitAmount, quantity)
	if err != nil {
		return CheckoutSession{}, false, err
	}
	now := s.now()
	req := CheckoutRequest{Account: account, Pack: pack, Quantity: quantity, SuccessURL: back.Success, CancelURL: back.Cancel,
		Reference: NewID("chk_")}
	if idem != nil {
		// Stripe answers a repeated key with the first session only if the
		// request is the same: derive what would differ from the key.
		digest := HashRequest(idem.Scope, idem.Key)
		req.Reference, req.IdempotencyKey = "chk_"+digest[:24], "credits-checkout-"+digest[:48]
		now = now.Truncate(time.Minute)
	}
	if s.CheckoutExpiresIn > 0 {
		req.ExpiresAt = s.stripeTime(now).Add(s.CheckoutExpiresIn)
	}
	if saveCard {
		if req.CustomerID, err = s.ensureCustomer(ctx, account); err != nil {
			return CheckoutSession{}, false, err
		}
		req.SaveCard = true
	}
	id, url, err := s.Payments.CreateCheckoutSession(ctx, req)
	if err != nil {
		return CheckoutSession{}, false, fmt.Errorf("create checkout session: %w", err)
	}
	cs := CheckoutSession{
		ID: id, AccountID: account.ID, PackID: pack.ID, Quantity: quantity,
		ExpectedAmount: amount, Currency: pack.Currency, Status: SessionOpen,
		URL: url, CreatedAt: s.now(), UpdatedAt: s.now(),
	}
	return s.recordCheckout(ctx, cs, idem)
}

// checkoutReplay answers a checkout request whose idempotency key was used.
func (s *Service) checkoutReplay(ctx context.Context, idem *Idempotency) (CheckoutSession, bool, error) {
	if idem == nil {
		return CheckoutSession{}, false, nil
	}
	var cs CheckoutSession
	var replayed bool
	err := s.Store.View(ctx, func(tx Tx) error {
		rec, err := tx.IdempotencyRecord(idem.Scope, idem.Key)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return err
		case rec.CreatedAt.Before(s.now().Add(-IdempotencyKeyRetention)):
			return nil
		case rec.RequestHash != idem.RequestHash:
			return Errorf(EIDEMPOTENCY, "Idempotency-Key %q was already used with another request", idem.Key)
		}
		replayed = true
		return json.Unmarshal(rec.Result, &cs)
	})
	return cs, replayed, err
}

// recordCheckout records a created session, with its idempotency key. A
// concurrent request with the same key got the same session from Stripe and
// may have recorded it first: its answer is the answer.
func (s *Service) recordCheckout(ctx context.Context, cs CheckoutSession, idem *Idempotency) (CheckoutSession, bool, error) {
	err := s.Store.Update(ctx, func(tx Tx) error {
		if err := tx.CreateCheckoutSession(cs); err != nil && (idem == nil || !errors.Is(err, ErrConflict)) {
			return err
		}
		if idem == nil {
			return nil
		}
		result, err := json.Marshal(cs)
		if err != nil {
			return err
		}
		rec := IdempotencyRecord{Scope: idem.Scope, Key: idem.Key, RequestHash: idem.RequestHash, Result: result, CreatedAt: s.now()}
		return tx.CreateIdempotencyRecord(rec)
	})
	if errors.Is(err, ErrConflict) {
		cs, replayed, err := s.checkoutReplay(ctx, idem)
		if err == nil && !replayed { // a record past its retention, not yet swept
			err = Errorf(ECONFLICT, "Idempotency-Key %q is still held by an expired request; try again in a minute", idem.Key)
		}
		return cs, replayed, err
	}
	if err != nil {
		return CheckoutSession{}, false, fmt.Errorf("record checkout session %s: %w", cs.ID, err)
	}
	return cs, false, nil
}

// viewOne reads one thing by its id in a read transaction: an impossible
// id or a missing row answers ENOTFOUND naming kind.
func viewOne[T any](ctx context.Context, s *Service, kind, id string, read func(tx Tx, id string) (T, error)) (T, error) {
	var v T
	if err := lookupID(kind, id); err != nil {
		return v, err
	}
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		v, err = read(tx, id)
		if errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "%s %s not found", kind, id)
		}
		return err
	})
	return v, err
}
