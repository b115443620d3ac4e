package credits

import (
	"context"
	"time"
)

// Store keeps the state of the service. Each service method runs in one
// transaction: Update for writes, View for reads. A store may run fn more than
// once when its database asks for a retry, so fn must have no effects outside
// the transaction.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
	Ping(ctx context.Context) error
	Close() error
}

// Tx is one transaction. Lookups return ErrNotFound (wrapped) when nothing
// matches; inserts return ErrConflict (wrapped) on a unique key. In an Update
// transaction, Account locks the row until the end of the transaction.
type Tx interface {
	CreatePack(p Pack) error
	Pack(id string) (Pack, error)
	PackByPriceID(priceID string) (Pack, error)
	Packs(activeOnly bool) ([]Pack, error)

	CreateAccount(a Account) error
	Account(id string) (Account, error)
	AccountsByEmail(email string) ([]Account, error)
	// Accounts lists accounts by id, after the given id, at most limit.
	Accounts(after string, limit int) ([]Account, error)
	SetAccountBalance(id string, balance int64, trial bool) error
	// SearchAccounts lists accounts whose id or (lower-case) email starts
	// with prefix, by id, at most limit.
	SearchAccounts(prefix string, limit int) ([]Account, error)

	CreateCheckoutSession(cs CheckoutSession) error
	CheckoutSession(id string) (CheckoutSession, error)
	SetCheckoutSessionStatus(id, status string, now time.Time) error

	CreatePurchase(p Purchase) (int64, error)
	PurchaseBySession(sessionID string) (Purchase, error)
	PurchaseByPaymentIntent(paymentIntent string) (Purchase, error)
	SetPurchaseRefunded(id, refundedCredits int64) error
	SetAccountDebt(id string, debt int64) error

	Dispute(id string) (Dispute, error)
	CreateDispute(d Dispute) error
	UpdateDispute(d Dispute) error
	// Purchases lists an account's purchases, newest first.
	Purchases(accountID string, limit int) ([]Purchase, error)

	AddEntry(e Entry) (int64, error)
	// Entries lists an account's entries, newest first, with ids below
	// before (0: from the newest), at most limit.
	Entries(accountID string, before int64, limit int) ([]Entry, error)
	AddLot(l Lot) (int64, error)
	// SpendableLots lists up to limit of an account's lots that have
	// unreserved credits and have not expired at now, in burn-down order:
	// earliest expiry first (none last), then lower priority, then oldest.
	SpendableLots(accountID string, now time.Time, limit int) ([]Lot, error)
	// ExpiringLots lists up to limit of an account's lots whose unreserved
	// credits expire at or before until, earliest first (expired ones too).
	ExpiringLots(accountID string, until time.Time, limit int) ([]Lot, error)
	Lot(id int64) (Lot, error)
	// LotByReference returns an account's lot from a source and reference
	// (a purchase's lot: source purchase, reference its session id).
	LotByReference(accountID, source, reference string) (Lot, error)
	SetLot(id, remaining, reserved int64) error
	// AddLotDraws records which lots an entry drew from.
	AddLotDraws(entryID int64, draws []LotAmount) error
	LotDraws(entryID int64) ([]LotAmount, error)
	SetAccountHeld(id string, held int64) error

	CreateHold(h Hold, lots []LotAmount) error
	Hold(id string) (Hold, error)
	// HoldLots lists what a hold reserved on each lot.
	HoldLots(holdID string) ([]LotAmount, error)
	UpdateHold(h Hold) error
	// Holds lists an account's holds, newest first, with the given status ("" for any).
	Holds(accountID, status string, limit int) ([]Hold, error)

	// DueAccounts lists up to limit accounts that have a hold or a lot that
	// expired at or before now and is not yet settled.
	DueAccounts(now time.Time, limit int) ([]string, error)
	// AccountDue reports whether one account has something to settle.
	AccountDue(accountID string, now time.Time) (bool, error)

	IdempotencyRecord(scope, key string) (IdempotencyRecord, error)
	CreateIdempotencyRecord(r IdempotencyRecord) error
	DeleteIdempotencyRecord(scope, key string) error
	// DeleteIdempotencyRecordsBefore removes records created before t.
	DeleteIdempotencyRecordsBefore(t time.Time) (int64, error)

	CreateEvent(e Event) error
	Event(id string) (Event, error)
	// UpdateEvent writes the status, error, attempts, processed and next
	// attempt times of an event, and releases its claim.
	UpdateEvent(e Event) error
	// Events lists events, newest first, with the given status ("" for any).
	Events(status string, limit int) ([]Event, error)
	// ClaimEvents takes up to limit pending events due at now and not claimed
	// by anyone else, and claims them until now+lease.
	ClaimEvents(now time.Time, lease time.Duration, limit int) ([]Event, error)

	// AccountTotals returns, for every account, its balance and the sums of its
	// entries and of its lots' remaining amounts.
	AccountTotals() ([]AccountTotals, error)
	// BrokenEntryChains returns the entries whose balance_after is not the
	// running sum of the account's entries up to them.
	BrokenEntryChains() ([]Entry, error)
	// DuplicatePurchaseReferences returns the session ids credited by more than
	// one purchase entry.
	DuplicatePurchaseReferences() ([]string, error)
	// HeldTotals returns, for every account, its held amount, the sum of its
	// active holds and the sum of its lots' reserved amounts.
	HeldTotals() ([]HeldTotals, error)
}

// HeldTotals is what verify compares of an account's holds.
type HeldTotals struct {
	AccountID string
	Held      int64
	HoldSum   int64
	Reserved  int64
}

// AccountTotals is what verify compares for one account.
type AccountTotals struct {
	AccountID string
	Balance   int64
	Held      int64
	Debt      int64
	EntrySum  int64
	LotSum    int64
}
