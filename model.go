package credits

import "time"

// Account is a customer of the application, known by the application's own id.
type Account struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Balance   int64  `json:"balance"`
	Available int64  `json:"available"`
	Held      int64  `json:"held"`
	// Debt is what refunds and disputes took back beyond the credits left: it
	// blocks spending, and new credits pay it back first.
	Debt  int64 `json:"debt"`
	Trial bool  `json:"trial"`
	// LowBalanceThreshold is the account's own threshold for balance.low;
	// -1 uses the service's default, 0 turns it off.
	LowBalanceThreshold int64 `json:"low_balance_threshold"`
	// BalanceState is where available credits stand: ok, low or depleted.
	BalanceState string `json:"balance_state"`
	// RechargeThreshold mirrors an enabled auto-recharge's threshold (0:
	// off), so that a debit needs no other read to know whether to look.
	RechargeThreshold int64 `json:"-"`
	// DueAt is never later than when a hold or a lot of the account next
	// expires (nil: none will): before it, there is nothing to settle.
	DueAt *time.Time `json:"-"`
	// EventSequence is the number of the account's last outbox event.
	EventSequence int64     `json:"-"`
	CreatedAt     time.Time `json:"created_at"`
}

// Pack is a catalog item: Credits credits for UnitAmount minor units of Currency.
type Pack struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Credits       int64  `json:"credits"`
	UnitAmount    int64  `json:"unit_amount"`
	Currency      string `json:"currency"`
	StripePriceID string `json:"stripe_price_id,omitempty"`
	// ExpiresAfterDays, when set, makes the credits of each purchase expire
	// that many days after it.
	ExpiresAfterDays *int64    `json:"expires_after_days,omitempty"`
	Active           bool      `json:"active"`
	CreatedAt        time.Time `json:"created_at"`
}

// Checkout session statuses, as we track them.
const (
	SessionOpen            = "open"             // created, not yet paid
	SessionAwaitingPayment = "awaiting_payment" // completed with a delayed payment method
	SessionFulfilled       = "fulfilled"        // paid and credited (terminal)
	SessionPaymentFailed   = "payment_failed"   // the delayed payment failed (terminal unless paid later)
	SessionExpired         = "expired"          // expired unpaid
)

// CheckoutSession is a Stripe Checkout Session that we know the account and
// pack of: one we created, or a foreign one matched from its line items.
type CheckoutSession struct {
	ID             string    `json:"id"`
	AccountID      string    `json:"account_id"`
	PackID         string    `json:"pack_id"`
	Quantity       int64     `json:"quantity"`
	ExpectedAmount int64     `json:"expected_amount"`
	Currency       string    `json:"currency"`
	Status         string    `json:"status"`
	URL            string    `json:"url,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Purchase is the audit record of one paid Checkout Session.
type Purchase struct {
	ID            int64     `json:"id"`
	AccountID     string    `json:"account_id"`
	PackID        string    `json:"pack_id"`
	Quantity      int64     `json:"quantity"`
	Credits       int64     `json:"credits"`
	AmountPaid    int64     `json:"amount_paid"`
	Currency      string    `json:"currency"`
	SessionID     string    `json:"session_id"`
	PaymentIntent string    `json:"payment_intent,omitempty"`
	EventID       string    `json:"event_id"`
	CreatedAt     time.Time `json:"created_at"`
	// Recharge is set in answers for an auto-recharge's purchase.
	Recharge bool `json:"recharge,omitempty"`
}

// IsRecharge reports whether the purchase is an auto-recharge's (charged
// off-session; its session is the recharge's id).
func (p Purchase) IsRecharge() bool { return isRechargeReference(p.SessionID) }

// Entry kinds.
const (
	EntryPurchase   = "purchase"
	EntryDebit      = "debit"
	EntryCapture    = "capture"
	EntryGrant      = "grant"
	EntryExpiry     = "expiry"
	EntryRefund     = "refund"
	EntryDispute    = "dispute"
	EntryAdjustment = "adjustment"
)

// Entry is one line of the append-only ledger.
type Entry struct {
	ID           int64     `json:"id"`
	AccountID    string    `json:"account_id"`
	Amount       int64     `json:"amount"`
	Kind         string    `json:"kind"`
	Reference    string    `json:"reference"`
	Description  string    `json:"description"`
	BalanceAfter int64     `json:"balance_after"`
	CreatedAt    time.Time `json:"created_at"`
	// An entry that took a usage's credits names the usage, what was used
	// and the rate card version that priced it (read with the ledger).
	UsageID    string            `json:"usage_id,omitempty"`
	Feature    string            `json:"feature,omitempty"`
	Quantities map[string]int64  `json:"quantities,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
	RateCard   *RateCardRef      `json:"rate_card,omitempty"`
	// An entry spent as a member names it ("": none) and the start of the
	// period of its cap that the entry counts in, written with the entry.
	MemberID          string    `json:"member_id,omitempty"`
	MemberPeriodStart time.Time `json:"-"`
}

// spentAs names on the entry the member (of charge) it spends as.
func (e *Entry) spentAs(charge MemberCharge) {
	e.MemberID, e.MemberPeriodStart = charge.Spending.MemberID, charge.Spending.PeriodStart
}

// Lot is credits that arrived together, with what is left of them.
type Lot struct {
	ID        int64      `json:"id"`
	AccountID string     `json:"account_id"`
	Amount    int64      `json:"amount"`
	Remaining int64      `json:"remaining"`
	Reserved  int64      `json:"reserved"` // part of Remaining that active holds reserve
	Priority  int64      `json:"priority"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Source    string     `json:"source"`
	Reference string     `json:"reference"`
	CreatedAt time.Time  `json:"created_at"`
}

// Event statuses.
const (
	EventPending   = "pending"   // recorded, waiting for the worker (a foreign session's lookup)
	EventProcessed = "processed" // applied (or found to be a duplicate of what was applied)
	EventIgnored   = "ignored"   // a type we do not act on, or a livemode mismatch
	EventUnmatched = "unmatched" // account or pack not found; kept for operators
	EventFailed    = "failed"    // processing failed too many times; kept for operators
)

// Event is a Stripe event as received, with its processing status.
type Event struct {
	ID          string     `json:"id"`
	Type        string     `json:"type"`
	Livemode    bool       `json:"livemode"`
	SessionID   string     `json:"session_id,omitempty"`
	Status      string     `json:"status"`
	Error       string     `json:"error,omitempty"`
	Attempts    int64      `json:"attempts"`
	ReceivedAt  time.Time  `json:"received_at"`
	ProcessedAt *time.Time `json:"processed_at,omitempty"`
	NextAttempt time.Time  `json:"-"`
	// Session is the checkout session the event carried, kept so that the
	// worker can match a foreign session without parsing Stripe's JSON again.
	Session *StripeSession `json:"-"`
	Payload []byte         `json:"-"`
}

// Page is one page of a list, newest first.
type Page[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

// Spendable is what a debit or a new hold may take from the lot.
func (l Lot) Spendable() int64 { return l.Remaining - l.Reserved }

// LotAmount is an amount drawn from, or reserved on, one lot.
type LotAmount struct {
	LotID  int64 `json:"lot_id"`
	Amount int64 `json:"amount"`
}

// Hold statuses.
const (
	HoldHeld     = "held"
	HoldCaptured = "captured"
	HoldReleased = "released"
	HoldExpired  = "expired"
)

// Hold is credits reserved for a while, then captured, released or expired.
type Hold struct {
	ID          string    `json:"id"`
	AccountID   string    `json:"account_id"`
	Amount      int64     `json:"amount"`
	Captured    int64     `json:"captured"`
	Status      string    `json:"status"`
	Description string    `json:"description"`
	ExpiresAt   time.Time `json:"expires_at"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// captureEntryID is the entry its capture wrote, as closeHold returns it.
	captureEntryID int64
}

// IdempotencyRecord is the stored first answer to an idempotent request.
type IdempotencyRecord struct {
	Scope       string
	Key         string
	RequestHash string
	// ErrorCode and ErrorMessage are set when the first answer was an error;
	// otherwise Result holds the first answer as JSON.
	ErrorCode    string
	ErrorMessage string
	Result       []byte
	CreatedAt    time.Time
}
