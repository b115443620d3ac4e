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
	// UpdateAccount is Update for a write that locks no account but
	// w.AccountID (and may spend from it at w.Now, and look up w's
	// idempotency key). Its contract is Update's: fn may run more than once,
	// a write that fails leaves nothing, and nothing is answered before its
	// commit is durable. How the store runs it is its own: PostgreSQL runs
	// such writes together, one transaction with a savepoint each.
	UpdateAccount(ctx context.Context, w AccountWrite, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
	// ReadAccount reads one account's row: what a read transaction begun at
	// this moment would read (ErrNotFound when there is no such account),
	// for less than a read transaction costs where the store can.
	ReadAccount(ctx context.Context, id string) (Account, error)
	Ping(ctx context.Context) error
	Close() error
}

// AccountWrite names the one account a write locks, the time it spends at
// (zero: unknown), the idempotency key it looks up ("" Key: none) and the
// member it spends as ("": none), whose row and spending in the periods
// that hold at Now (MemberPeriodStarts) it reads.
type AccountWrite struct {
	AccountID  string
	Now        time.Time
	Scope, Key string
	MemberID   string
}

// Tx is one transaction: reads, and the writes that move no credits.
// Lookups return ErrNotFound (wrapped) when nothing matches; inserts return
// ErrConflict (wrapped) on a unique key. Every error names the operation
// that failed.
//
// Credits move only through LockedAccount, which LockAccount alone returns:
// code that changes a balance, a lot, a hold or the ledger without holding the
// account's lock does not compile.
type Tx interface {
	PricingTx
	MemberTx
	TransferTx
	CreatePack(p Pack) error
	Pack(id string) (Pack, error)
	PackByPriceID(priceID string) (Pack, error)
	Packs(activeOnly bool) ([]Pack, error)

	CreateAccount(a Account) error
	// Account reads an account without locking it.
	Account(id string) (Account, error)
	// LockAccount locks an account until the transaction ends (writers of one
	// account queue here) and returns it as read under the lock. It is an
	// error in a View transaction.
	LockAccount(id string) (LockedAccount, error)
	// AccountsByEmail lists the accounts whose email is exactly email (as
	// NormalizeEmail wrote both), by id.
	AccountsByEmail(email string) ([]Account, error)
	// AccountsByFoldedEmail lists the accounts whose email equals email after
	// Unicode compatibility and case folding (NFKC, case fold): the same
	// address and its look-alikes, by id.
	AccountsByFoldedEmail(email string) ([]Account, error)
	// Accounts lists accounts by id, after the given id, at most limit.
	Accounts(after string, limit int) ([]Account, error)
	// SearchAccounts lists accounts whose (lower-case) id or email starts
	// with prefix, by id, at most limit.
	SearchAccounts(prefix string, limit int) ([]Account, error)

	CreateCheckoutSession(cs CheckoutSession) error
	CheckoutSession(id string) (CheckoutSession, error)
	SetCheckoutSessionStatus(id, status string, now time.Time) error

	PurchaseBySession(sessionID string) (Purchase, error)
	// Purchases lists an account's purchases, newest first.
	Purchases(accountID string, limit int) ([]Purchase, error)

	// LockPayment returns a payment, created empty when it is new (created
	// says so: it has no facts yet), locked until the transaction ends: the
	// facts of one payment change one event at a time. Lock the payment
	// before its account.
	LockPayment(id string, now time.Time) (p Payment, created bool, err error)
	Payment(id string) (Payment, error)
	PaymentBySession(sessionID string) (Payment, error)
	// AllPayments lists every payment by id, after the given one, at most limit.
	AllPayments(after string, limit int) ([]Payment, error)
	// SavePayment writes a payment's facts (not what it posted).
	SavePayment(p Payment) error
	PaymentRefund(id string) (PaymentRefund, error)
	PaymentRefunds(paymentID string) ([]PaymentRefund, error)
	SavePaymentRefund(r PaymentRefund) error
	PaymentDispute(id string) (PaymentDispute, error)
	PaymentDisputes(paymentID string) ([]PaymentDispute, error)
	SavePaymentDispute(d PaymentDispute) error
	// PaymentEntries lists the ledger entries a payment posted, oldest first.
	PaymentEntries(paymentID string) ([]Entry, error)
	// PaymentEntrySums returns, for every payment, what it says it posted,
	// what its entries but expiry entries sum to, and what its expiry
	// entries took.
	PaymentEntrySums() ([]PaymentEntrySum, error)

	// Entries lists an account's entries, newest first, with ids below
	// before (0: from the newest), at most limit.
	Entries(accountID string, before int64, limit int) ([]Entry, error)
	// EntryDraws lists the lots an entry drew its credits from, with how
	// many, by lot id (a draw from one lot is stored with its entry; the
	// view entry_draws shows them with those in lot_draws).
	EntryDraws(entryID int64) ([]LotAmount, error)
	// ExpiringLots lists up to limit of an account's lots whose unreserved
	// credits expire at or before until, earliest first (expired ones too).
	ExpiringLots(accountID string, until time.Time, limit int) ([]Lot, error)

	Hold(id string) (Hold, error)
	// Holds lists an account's holds, newest first, with the given status ("" for any).
	Holds(accountID, status string, limit int) ([]Hold, error)
	// DueHolds lists up to limit of an account's held holds that expire at
	// or before now, the earliest expiry first.
	DueHolds(accountID string, now time.Time, limit int) ([]Hold, error)

	// DueAccounts lists up to limit accounts that have a hold or a lot that
	// expired at or before now and is not yet settled (by their due_at).
	DueAccounts(now time.Time, limit int) ([]string, error)
	// NoticeDueAccounts lists up to limit accounts with a lot whose
	// unreserved credits expire after now and at or before until, and whose
	// credits.expiring was not written yet.
	NoticeDueAccounts(now, until time.Time, limit int) ([]string, error)
	// LateDueAccounts lists the accounts whose due_at is later than the
	// earliest hold or lot expiry that is due (verify).
	LateDueAccounts() ([]string, error)
	// MislabelledLots lists the lots whose spendable flag is not whether
	// they hold unreserved credits (verify): a draw finds lots by the flag.
	MislabelledLots() ([]Lot, error)

	IdempotencyRecord(scope, key string) (IdempotencyRecord, error)
	// CreateIdempotencyRecord returns ErrConflict when the key is taken.
	CreateIdempotencyRecord(r IdempotencyRecord) error
	DeleteIdempotencyRecord(scope, key string) error
	// DeleteIdempotencyRecordsBefore removes records created before t.
	DeleteIdempotencyRecordsBefore(t time.Time) (int64, error)

	// Setting reads a setting the service made for itself; CreateSetting
	// makes one unless it exists (the first writer's value stays).
	Setting(key string) (string, error)
	CreateSetting(key, value string) error
	// AddToSetting adds n to a setting that holds a whole number (made "0"
	// first when missing) and returns the sum; of two concurrent adds, the
	// second adds to what the first committed.
	AddToSetting(key string, n int64) (int64, error)
	// Web sessions are named by the hash of their secret (WebSession.ID).
	CreateWebSession(ws WebSession) error
	WebSession(id string) (WebSession, error)
	RevokeWebSession(id string) error
	// UseWebSession marks a link used and reports whether this call did
	// (false: it was used before, or by a concurrent call).
	UseWebSession(id string) (bool, error)
	SetWebSessionFlash(id, flash string) error
	// LiveWebSessions lists the sessions of kind neither revoked nor expired
	// at now, newest first.
	LiveWebSessions(kind string, now time.Time) ([]WebSession, error)
	// RevokeAccountWebSessions revokes every link and session of an account.
	RevokeAccountWebSessions(accountID string) (int64, error)
	// RevokeKeyWebSessions revokes every link and session an API key made.
	RevokeKeyWebSessions(keyID string) (int64, error)
	// DeleteWebSessionsBefore forgets links and sessions that expired before t.
	DeleteWebSessionsBefore(t time.Time) (int64, error)

	CreateAPIKey(k APIKey) error
	APIKey(id string) (APIKey, error)
	APIKeyByHash(secretHash string) (APIKey, error)
	// APIKeys lists every key, newest first.
	APIKeys() ([]APIKey, error)
	RevokeAPIKey(id string, now time.Time) error
	TouchAPIKey(id string, now time.Time) error

	LastOutboxSeq() (int64, error)
	// OutboxEventsAfter lists up to limit events after seq, in order.
	OutboxEventsAfter(seq int64, limit int) ([]OutboxEvent, error)
	// OutboxEvent reads one event for the application by its id.
	OutboxEvent(id string) (OutboxEvent, error)
	CreateWebhookEndpoint(e WebhookEndpoint) error
	WebhookEndpoint(id string) (WebhookEndpoint, error)
	WebhookEndpoints() ([]WebhookEndpoint, error)
	DeleteWebhookEndpoint(id string) error
	// RotateWebhookSecret sets a new secret; the previous one signs too until previousUntil.
	RotateWebhookSecret(id, secret, previous string, previousUntil, now time.Time) error
	// SetWebhookSecrets writes an endpoint's secrets as they are kept (sealed
	// again with another key), nothing else.
	SetWebhookSecrets(id, secret, previous string) error
	// UpdateWebhookEndpoint writes an endpoint's delivery state, its claim
	// (locked_until) included: the epoch releases it.
	UpdateWebhookEndpoint(e WebhookEndpoint) error
	// AdvanceWebhookEndpoint is UpdateWebhookEndpoint for a delivery: it
	// writes only an endpoint that is still enabled, and answers ErrNotFound
	// for one removed or disabled meanwhile (its delivery then stops and
	// marks nothing delivered).
	AdvanceWebhookEndpoint(e WebhookEndpoint) error
	// ClaimWebhookEndpoints takes up to limit enabled endpoints due at now
	// and claimed by nobody else, until now+lease.
	ClaimWebhookEndpoints(now time.Time, lease time.Duration, limit int) ([]WebhookEndpoint, error)
	AddWebhookAttempt(a WebhookAttempt) error
	// WebhookAttempts lists an endpoint's latest attempts, newest first.
	WebhookAttempts(endpointID string, limit int) ([]WebhookAttempt, error)

	// AutoRecharge reads an account's saved card and auto-recharge settings.
	AutoRecharge(accountID string) (AutoRecharge, error)
	AutoRechargeByCustomer(customerID string) (AutoRecharge, error)
	AutoRechargeByPaymentMethod(paymentMethodID string) (AutoRecharge, error)
	// CardsToRead lists up to limit accounts whose saved card is still to be read.
	CardsToRead(limit int) ([]AutoRecharge, error)
	Recharge(id string) (Recharge, error)
	// Recharges lists an account's recharges, newest first, at most limit.
	Recharges(accountID string, limit int) ([]Recharge, error)
	// RechargesSince lists an account's recharges created at or after since.
	RechargesSince(accountID string, since time.Time) ([]Recharge, error)
	// ClaimRecharges takes up to limit recharges due at now (pending ones,
	// and those waiting for the customer that have no Checkout link yet),
	// claimed by nobody else, until now+lease.
	ClaimRecharges(now time.Time, lease time.Duration, limit int) ([]Recharge, error)

	// RecordHealthCheck writes the time of a health check: a write that
	// touches the disk, so that a failing disk shows.
	RecordHealthCheck(now time.Time) error

	// CreateEvent returns ErrConflict when the event is recorded already.
	CreateEvent(e Event) error
	Event(id string) (Event, error)
	// UpdateEvent writes the status, error, attempts, processed and next
	// attempt times of an event, and releases its claim.
	UpdateEvent(e Event) error
	// Events lists events, newest first, as the filter says.
	Events(f EventFilter) ([]Event, error)
	// DropIgnoredPayloads empties the payloads of events ignored before t
	// (they credited nothing) and returns how many it emptied.
	DropIgnoredPayloads(before time.Time) (int64, error)
	// ClaimEvents takes up to limit pending events due at now and not claimed
	// by anyone else, and claims them until now+lease.
	ClaimEvents(now time.Time, lease time.Duration, limit int) ([]Event, error)

	// CreateReconcileRun records a run; UpdateReconcileRun writes its
	// status, error, progress and times.
	CreateReconcileRun(r ReconcileRun) error
	UpdateReconcileRun(r ReconcileRun) error
	// LatestReconcileRun reads the latest run with the given status ("" for
	// any), with its items counted by kind.
	LatestReconcileRun(status string) (ReconcileRun, error)
	// LatestFixReconcileRun reads the latest run with Fix, whatever its
	// status, without its items counted.
	LatestFixReconcileRun() (ReconcileRun, error)
	// UnsettledRefunds lists up to limit refunds still pending or
	// requires_action, and UnsettledDisputes up to limit disputes not
	// closed (won, lost, prevented, warning_closed, charge_refunded);
	// least recently changed first.
	UnsettledRefunds(limit int) ([]PaymentRefund, error)
	UnsettledDisputes(limit int) ([]PaymentDispute, error)
	// SaveReconcileItem records an item, or replaces the run's item of the
	// same kind and object.
	SaveReconcileItem(it ReconcileItem) error
	// ReconcileItems lists a run's items in the order they were found, at most limit.
	ReconcileItems(runID string, limit int) ([]ReconcileItem, error)
	// StuckRecharges lists up to limit recharges last changed before before
	// that wait on Stripe or the customer: processing, pending with a
	// payment intent, or action_required; oldest first.
	StuckRecharges(before time.Time, limit int) ([]Recharge, error)

	// AccountTotals returns, for every account, its balance and the sums of its
	// entries and of its lots' remaining amounts.
	AccountTotals() ([]AccountTotals, error)
	// BrokenEntryChains returns the entries whose balance_after is not the
	// running sum of the account's entries up to them.
	BrokenEntryChains() ([]Entry, error)
	// BrokenEntryLinks returns the accounts whose entries do not each name
	// the account's entry before them, or whose latest entry is not the one
	// the account names (Entries walks that chain).
	BrokenEntryLinks() ([]string, error)
	// MisdrawnEntries returns the entries that name the one lot they drew
	// from when that is not a lot of their account, or they took nothing.
	MisdrawnEntries() ([]EntryDraw, error)
	// BrokenPurchaseLinks returns the accounts whose purchases do not each
	// name the account's purchase before them, or whose latest purchase is
	// not the one the account names (Purchases walks that chain).
	BrokenPurchaseLinks() ([]string, error)
	// EntriesOfNoAccount returns the entries whose account does not exist
	// (PostgreSQL has no foreign key there: the check was a query per entry
	// in the group-commit batch's serial part; every entry is written under
	// its account's lock), which no balance counts.
	EntriesOfNoAccount() ([]Entry, error)
	// DuplicatePurchaseReferences returns the session ids credited by more than
	// one purchase entry.
	DuplicatePurchaseReferences() ([]string, error)
	// HeldTotals returns, for every account, its held amount, the sum of its
	// active holds and the sum of its lots' reserved amounts.
	HeldTotals() ([]HeldTotals, error)
}

// LockedAccount is one account locked by its transaction: the only way to
// change its balance, debt, held amount, lots, holds, purchases, what its
// payments posted and its ledger entries. Every call acts on this account alone; a lot, hold or
// purchase of another account is not found.
type LockedAccount interface {
	UsageWriter
	MemberLocked
	// Account is the account as read when it was locked.
	Account() Account
	// SetBalance sets the balance and the trial flag without an entry (AddEntry
	// sets the balance with one).
	SetBalance(balance int64, trial bool) error
	SetHeld(held int64) error
	SetDebt(debt int64) error

	// AddEntry appends to the ledger, sets the account's balance to the
	// entry's BalanceAfter, and returns the entry's id.
	AddEntry(e Entry) (int64, error)
	AddLot(l Lot) (int64, error)
	// SpendableLots lists up to limit lots that have unreserved credits and
	// have not expired at now, in burn-down order.
	SpendableLots(now time.Time, limit int) ([]Lot, error)
	// AddEntryTakingFromLots is AddEntry(e) for a spend (e.Amount < 0): it
	// takes -e.Amount from the lots SpendableLots(e.CreatedAt) lists, in
	// that order, and records each draw against the entry (EntryDraws). The
	// caller has checked that the account has the credits available.
	AddEntryTakingFromLots(e Entry) (entryID int64, draws []LotAmount, err error)
	// ExpiringLots lists up to limit lots whose unreserved credits expire at
	// or before until, earliest first.
	ExpiringLots(until time.Time, limit int) ([]Lot, error)
	// LotByReference returns a lot from its source and reference (a
	// purchase's lot: source purchase, reference its session id).
	LotByReference(source, reference string) (Lot, error)
	SetLot(id, remaining, reserved int64) error
	// Lot returns one of the account's lots by its id, spent or not.
	Lot(id int64) (Lot, error)
	// LotsToNotice lists up to limit lots whose unreserved credits expire
	// after now and at or before until, not yet told (credits.expiring).
	LotsToNotice(now, until time.Time, limit int) ([]Lot, error)
	// MarkLotNoticed records that credits.expiring was written for a lot.
	MarkLotNoticed(id int64) error
	// AddLotDraws records which lots an entry drew from.
	AddLotDraws(entryID int64, draws []LotAmount) error

	CreateHold(h Hold, lots []LotAmount) error
	// HeldLots lists the lots a hold reserved credits on, with how many, in
	// burn-down order.
	HeldLots(holdID string) ([]HeldLot, error)
	// HeldLotsOf is HeldLots of many holds in one read, by hold id.
	HeldLotsOf(holdIDs []string) (map[string][]HeldLot, error)
	// LotHolds lists what active holds reserve on a lot, the hold that
	// expires last first; SetHoldLot sets what a hold reserves on a lot
	// (0: nothing), without changing the lot (SetLot does).
	LotHolds(lotID int64) ([]HoldAmount, error)
	SetHoldLot(holdID string, lotID, amount int64) error
	UpdateHold(h Hold) error
	// ExpireHolds marks the account's held holds expired at now, in one
	// write; ErrNotFound when one of them is not held.
	ExpireHolds(holdIDs []string, now time.Time) error

	CreatePurchase(p Purchase) (int64, error)
	// SetPaymentPosted records what the ledger holds for one of the
	// account's payments; LinkPaymentEntry names an entry it posted.
	SetPaymentPosted(paymentID string, posted int64) error
	// RecordPurchase writes what a payment bought, for this account, and what
	// it posted, in one statement.
	RecordPurchase(p Payment) error
	LinkPaymentEntry(entryID int64, paymentID string) error
	// LinkPurchaseLotEntry names an entry that drew on a purchase's lot (its
	// expiry) as one of the payment that bought the lot, found by the lot's
	// session, in whichever account the lot is (a transfer moved it); it
	// links nothing when no payment bought it.
	LinkPurchaseLotEntry(entryID int64, sessionID string) error

	// NextEventSequences counts n more events of the account, in one
	// write, and returns the number of the first; AddOutboxEvent writes an
	// event.
	NextEventSequences(n int64) (int64, error)
	AddOutboxEvent(e OutboxEvent) error
	// SetBalanceState records where available credits stand (ok, low,
	// depleted); Account() answers it from then on.
	SetBalanceState(state string) error
	SetLowBalanceThreshold(threshold int64) error
	// RefreshDueAt sets when the account next comes due (Account().DueAt)
	// from its holds and lots. AddLot, CreateHold and the UpdateHold that
	// closes a hold keep it from being late; settling refreshes it.
	RefreshDueAt() error

	// AutoRecharge reads the account's saved card and settings (ErrNotFound
	// when it has none); SaveAutoRecharge writes them, and mirrors the
	// threshold of an enabled auto-recharge on the account's row.
	AutoRecharge() (AutoRecharge, error)
	SaveAutoRecharge(a AutoRecharge) error
	// InFlightRecharge returns the account's recharge that is pending,
	// processing or waiting for the customer (ErrNotFound when none).
	InFlightRecharge() (Recharge, error)
	RechargesSince(since time.Time) ([]Recharge, error)
	// CreateRecharge writes a recharge (ErrConflict when one is in flight).
	CreateRecharge(r Recharge) error
	// UpdateRecharge writes a recharge's status, payment intent, link,
	// error, next attempt and claim.
	UpdateRecharge(r Recharge) error
}

// PaymentEntrySum is what verify compares of a payment's entries.
type PaymentEntrySum struct {
	PaymentID string
	Posted    int64
	EntrySum  int64 // its purchase, take-backs and give-backs
	Expired   int64 // what its expiry entries took of its lot
	Lot       int64 // what its lot holds now (0 when it has none)
}

// HoldAmount is what one hold reserves on a lot.
type HoldAmount struct {
	HoldID string
	Amount int64
}

// HeldLot is a lot and what one hold reserves on it.
type HeldLot struct {
	Lot
	Held int64
}

// EntryDraw is an entry and the one lot it says it drew from.
type EntryDraw struct {
	EntryID   int64
	AccountID string
	Amount    int64
	LotID     int64
}

// HeldTotals is what verify compares of an account's holds.
type HeldTotals struct {
	AccountID string
	Held      int64
	HoldSum   int64
	Reserved  int64
	// Unbacked is what active holds hold beyond what they reserve on lots:
	// credits of a refunded or disputed purchase that a take-back took
	// from under a hold (takeBack).
	Unbacked int64
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
