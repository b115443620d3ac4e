package credits

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Auto-recharge: when a debit, a capture or an expiry takes an account's
// available credits below its threshold, the same transaction records one
// recharge; a worker charges the saved card off-session with the recharge's
// id as Stripe's idempotency key, and the credits arrive by the payment path,
// keyed by the payment intent (the confirm answer and payment_intent.succeeded
// meet on it).

// Recharge statuses. pending, processing and action_required are in flight:
// an account has at most one of those.
const (
	RechargePending        = "pending"         // waiting for the worker (or for its retry)
	RechargeProcessing     = "processing"      // Stripe is processing the payment; an event ends it
	RechargeActionRequired = "action_required" // the bank asks the customer to authenticate: a Checkout link waits
	RechargeSucceeded      = "succeeded"
	RechargeFailed         = "failed"
	RechargeCanceled       = "canceled"      // the customer's Checkout link expired, or auto-recharge was turned off
	RechargeLimitReached   = "limit_reached" // not charged: the month's limit would be passed
)

// Events for the application about recharges.
const (
	OutRechargeSucceeded      = "recharge.succeeded"
	OutRechargeFailed         = "recharge.failed"
	OutRechargeActionRequired = "recharge.action_required"
	OutRechargeLimitReached   = "recharge.limit_reached"
	OutAutoRechargeDisabled   = "auto_recharge.disabled"
)

// Limits of auto-recharge.
const (
	// MaxRechargeAttempts: a declined recharge is tried once more after
	// RechargeRetryDelay; a second decline turns auto-recharge off.
	MaxRechargeAttempts = 2
	RechargeRetryDelay  = time.Hour
	// rechargeTransientDelay is the wait after Stripe gave no answer (a
	// network error, a 5xx): the same idempotency key is used again.
	rechargeTransientDelay = 30 * time.Second
	// rechargeSoftRetryDelay is the wait before the one sooner retry after
	// a transient decline (processing_error, try_again_later, …).
	rechargeSoftRetryDelay = 10 * time.Minute
	// rechargeGiveUpAfter: a recharge that Stripe gave no usable answer
	// for this long, and that a look-up shows took no money, fails rather
	// than charge the customer long after the debit that called for it.
	rechargeGiveUpAfter = 24 * time.Hour
	// rechargeLookUpMargin widens a look-up's window before the recharge's
	// creation, for a host clock that runs ahead of Stripe's.
	rechargeLookUpMargin = time.Hour
	// rechargeAfterServerError is how long a recharge that Stripe answered
	// with a 5xx waits before it is looked up and sent under a new key:
	// Stripe cannot vouch for the outcome of a 5xx, and may make the
	// payment afterwards; its event usually arrives meanwhile.
	rechargeAfterServerError = 3 * time.Hour
	// rechargeLinkGiveUp: a Checkout link that cannot be made this long
	// after the customer was to be asked ends its recharge.
	rechargeLinkGiveUp = time.Hour
	// rechargeMaxRetryDelay bounds the back-off of a recharge that gets no
	// usable answer.
	rechargeMaxRetryDelay = 30 * time.Minute
	// rechargeLinkCheckMargin: a link still waiting this long after its
	// expiry is read back from Stripe (its event may never come).
	rechargeLinkCheckMargin = 15 * time.Minute
	rechargeClaimBatch      = 10
	// DefaultRechargeLease is how long a replica's claim on a recharge lasts
	// before another may take it over. Every Stripe call made under a claim
	// ends within three quarters of it (stripe-go retries a call for up to
	// minutes; the deadline cuts it short, and the recharge is looked up
	// before it is sent again).
	DefaultRechargeLease = 5 * time.Minute
	// DefaultRechargeCheckAfter is how long a payment Stripe is processing
	// waits for its event before the worker reads it back.
	DefaultRechargeCheckAfter = time.Hour
	// RechargeReferencePrefix begins a recharge's id, which is also the
	// reference of its purchase, lot and ledger entry.
	RechargeReferencePrefix = "rch_"
)

// SavedCard is the card an account saved for off-session payments.
type SavedCard struct {
	PaymentMethodID string `json:"payment_method_id"`
	Brand           string `json:"brand"`
	Last4           string `json:"last4"`
}

// AutoRecharge is an account's Stripe customer, saved card and auto-recharge
// settings.
type AutoRecharge struct {
	AccountID  string     `json:"account_id"`
	CustomerID string     `json:"customer_id,omitempty"`
	Card       *SavedCard `json:"card"`
	// CardPending is a setup or payment intent whose card is still to be read.
	CardPending    string    `json:"-"`
	Enabled        bool      `json:"enabled"`
	Threshold      int64     `json:"threshold"`
	PackID         string    `json:"pack_id"`
	Quantity       int64     `json:"quantity"`
	MonthlyLimit   int64     `json:"monthly_limit"` // in the pack's minor units
	DisabledReason string    `json:"disabled_reason,omitempty"`
	SettingsAt     time.Time `json:"-"`
	UpdatedAt      time.Time `json:"updated_at"`
	// CustomerGeneration counts the Stripe customers the account had before
	// this one: a customer made after customer.deleted needs a new
	// idempotency key, or Stripe would answer with the deleted one.
	CustomerGeneration int64 `json:"-"`
}

// Recharge is one attempt to top an account up from its saved card.
type Recharge struct {
	ID                string    `json:"id"` // Stripe's Idempotency-Key
	AccountID         string    `json:"account_id"`
	PackID            string    `json:"pack_id"`
	Quantity          int64     `json:"quantity"`
	Credits           int64     `json:"credits"`
	Amount            int64     `json:"amount"`
	Currency          string    `json:"currency"`
	Attempt           int64     `json:"attempt"`
	Status            string    `json:"status"`
	PaymentIntent     string    `json:"payment_intent,omitempty"`
	CheckoutSessionID string    `json:"checkout_session_id,omitempty"`
	ActionURL         string    `json:"action_url,omitempty"` // where the customer authenticates
	Error             string    `json:"error,omitempty"`
	NextAttemptAt     time.Time `json:"next_attempt_at"`
	LockedUntil       time.Time `json:"-"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	// SentAt is when the charge first went to Stripe (nil: never), and
	// CustomerID the customer it was sent for: a recharge sent before
	// without a recorded answer is looked up in Stripe before it is sent
	// again (Stripe may have forgotten its idempotency key).
	SentAt     *time.Time `json:"sent_at,omitempty"`
	CustomerID string     `json:"-"`
	// KeyGeneration numbers the idempotency key in use: a new key only
	// after a look-up found no payment for the recharge and the old key
	// can only replay an error (a saved 500, an idempotency_error).
	KeyGeneration int64 `json:"-"`
	// KeySpent says the key can only replay an error (a saved 500, an
	// idempotency_error): a send after a look-up that found nothing takes
	// the next key.
	KeySpent bool `json:"-"`
	// SoftRetry marks the one sooner retry after a transient decline; its
	// failure counts as an ordinary one.
	SoftRetry bool `json:"-"`
	// LinkOpen says the recharge's Checkout link may still be paid.
	LinkOpen bool `json:"-"`
	// LinkExpiresAt is when the link asked for expires: fixed when the
	// customer is asked, so that every try of the request is the same.
	LinkExpiresAt *time.Time `json:"-"`
}

// IdempotencyKey is the key the recharge's charge is sent with.
func (r Recharge) IdempotencyKey() string {
	if r.KeyGeneration == 0 {
		return r.ID
	}
	return fmt.Sprintf("%s-%d", r.ID, r.KeyGeneration)
}

// InFlight reports whether a recharge may still take money or add credits.
func (r Recharge) InFlight() bool {
	return r.Status == RechargePending || r.Status == RechargeProcessing || r.Status == RechargeActionRequired
}

// countsToLimit reports whether a recharge counts toward the month's limit:
// every one that took or may take money.
func (r Recharge) countsToLimit() bool {
	return r.InFlight() || r.Status == RechargeSucceeded
}

// AutoRechargeSettings is what an application sets.
type AutoRechargeSettings struct {
	Enabled      bool
	Threshold    int64
	PackID       string
	Quantity     int64
	MonthlyLimit int64
}

// AutoRechargeView is an account's auto-recharge as it is shown: settings,
// card, this month's total and the latest attempts.
type AutoRechargeView struct {
	AutoRecharge
	// MonthTotal is the money recharges took this calendar month (UTC).
	MonthTotal int64     `json:"month_total"`
	Currency   string    `json:"currency,omitempty"`
	Last       *Recharge `json:"last_attempt"`
	// LastOutcome is the newest attempt that ended, or that waits for the
	// customer (paid, failed with its reason, needs authentication with
	// its link, …); NextAttemptAt is when the recharge in flight is tried
	// (again).
	LastOutcome   *Recharge  `json:"last_outcome"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	Recharges     []Recharge `json:"-"`
	month         []Recharge
}

// OffSessionCharge is what the worker asks the payment provider to charge.
type OffSessionCharge struct {
	IdempotencyKey  string // the recharge's id
	CustomerID      string
	PaymentMethodID string
	Amount          int64
	Currency        string
	Description     string
	Metadata        map[string]string
}

// ChargeResult is the payment provider's answer to an off-session charge.
// A card error is an answer (Code set), not an error.
type ChargeResult struct {
	PaymentIntent string
	Status        string // succeeded, processing, requires_action, requires_payment_method, …
	Amount        int64
	Currency      string
	Code          string // authentication_required, card_declined, …
	DeclineCode   string // insufficient_funds, …
	Message       string
}

// needsAuthentication reports whether the bank asks the customer to
// authenticate the payment (SCA).
func (c ChargeResult) needsAuthentication() bool {
	// Stripe sends it as an error code, or as the decline code of a
	// card_declined (docs.stripe.com/declines/codes).
	return c.Code == "authentication_required" || c.DeclineCode == "authentication_required" || c.Status == "requires_action"
}

// reason says what a failed charge's answer was, for people.
func (c ChargeResult) reason() string {
	code := c.Code
	if c.DeclineCode != "" {
		code = c.DeclineCode
	}
	switch {
	case code != "" && c.Message != "":
		return code + ": " + c.Message
	case code != "":
		return code
	case c.Message != "":
		return c.Message
	}
	return "payment intent " + c.PaymentIntent + " is " + c.Status
}

// SetupRequest asks the payment provider for a page that saves a card.
type SetupRequest struct {
	Account    Account
	CustomerID string
	SuccessURL string
	CancelURL  string
}

// StripePaymentIntent is what the service reads of a payment intent.
type StripePaymentIntent struct {
	ID          string
	Status      string
	Amount      int64
	Currency    string
	Customer    string
	Metadata    map[string]string
	Code        string // of its last payment error
	DeclineCode string
	Message     string
}

// RechargeMetadataKey names, in a payment intent's metadata, the recharge it pays.
const RechargeMetadataKey = "credits_recharge"

// monthStart is the first instant of now's calendar month, in UTC.
func monthStart(now time.Time) time.Time {
	now = now.UTC()
	return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// maybeRecharge records a recharge when available credits are below the
// account's auto-recharge threshold and none is in flight: in the
// transaction that took them there, under the account's lock, so that
// concurrent debits crossing together record one.
func (s *Service) maybeRecharge(tx Tx, locked LockedAccount, available int64, now time.Time) error {
	threshold := locked.Account().RechargeThreshold
	if threshold <= 0 || available >= threshold {
		return nil
	}
	if _, err := locked.InFlightRecharge(); err == nil {
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	ar, err := locked.AutoRecharge()
	if errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if !ar.Enabled || ar.Card == nil {
		return nil
	}
	pack, err := tx.Pack(ar.PackID)
	if err != nil {
		return fmt.Errorf("read the pack of account %s's auto-recharge: %w", ar.AccountID, err)
	}
	_, err = s.recordRecharge(locked, ar, pack, rechargeTry{attempt: 1, due: now}, now)
	return err
}

// rechargeTry says which try a new recharge is: its attempt number, when it
// is due, and whether it is the one sooner retry after a transient decline.
type rechargeTry struct {
	attempt int64
	due     time.Time
	soft    bool
}

// recordRecharge writes a pending recharge, due at try.due, unless it would
// pass the month's limit: then it writes one limit_reached (once per month
// and settings) and charges nothing. Every recharge of the month that took
// or may take money counts, whatever its currency (a change of pack to
// another currency is refused mid-month, so there is one).
func (s *Service) recordRecharge(locked LockedAccount, ar AutoRecharge, pack Pack, try rechargeTry, now time.Time) (Recharge, error) {
	credits, err := MulCredits(pack.Credits, ar.Quantity)
	if err != nil {
		return Recharge{}, err
	}
	amount, err := MulCredits(pack.UnitAmount, ar.Quantity)
	if err != nil {
		return Recharge{}, err
	}
	r := Recharge{
		ID: NewID(RechargeReferencePrefix), AccountID: ar.AccountID, PackID: pack.ID, Quantity: ar.Quantity, Credits: credits,
		Amount: amount, Currency: pack.Currency, Attempt: try.attempt, Status: RechargePending, SoftRetry: try.soft,
		NextAttemptAt: try.due, CreatedAt: now, UpdatedAt: now,
	}
	month, err := locked.RechargesSince(monthStart(now))
	if err != nil {
		return Recharge{}, err
	}
	var total int64
	told := false
	for _, m := range month {
		if m.countsToLimit() {
			total = satAdd(total, m.Amount)
		}
		if m.Status == RechargeLimitReached && !m.CreatedAt.Before(ar.SettingsAt) {
			told = true
		}
	}
	if satAdd(total, amount) > ar.MonthlyLimit {
		if told {
			return Recharge{}, nil
		}
		r.Status = RechargeLimitReached
		r.Error = fmt.Sprintf("this month's recharges (%s) and this one (%s) would pass the monthly limit (%s)",
			FormatMoney(total, r.Currency), FormatMoney(amount, r.Currency), FormatMoney(ar.MonthlyLimit, r.Currency))
		if err := locked.CreateRecharge(r); err != nil {
			return Recharge{}, err
		}
		return r, emit(locked, OutRechargeLimitReached, r, now)
	}
	return r, locked.CreateRecharge(r)
}

// ValidateAutoRecharge checks settings before they are stored.
func ValidateAutoRecharge(in AutoRechargeSettings) error {
	switch {
	case in.PackID == "":
		return Errorf(EINVALID, "pack_id is required")
	case in.Threshold < 1 || in.Threshold > MaxAmount:
		return Errorf(EINVALID, "threshold must be from 1 to %d credits", int64(MaxAmount))
	case in.MonthlyLimit < 1 || in.MonthlyLimit > MaxAmount:
		return Errorf(EINVALID, "monthly_limit is required: from 1 to %d, in the pack's minor units", int64(MaxAmount))
	}
	if err := lookupID("pack", in.PackID); err != nil {
		return err
	}
	return ValidateQuantity(in.Quantity)
}

// SetAutoRecharge stores an account's auto-recharge settings and answers
// them as shown. Turning it on needs a saved card; the pack's price ×
// quantity must fit in the monthly limit. Turning it off cancels a recharge
// that waits for its first charge.
func (s *Service) SetAutoRecharge(ctx context.Context, accountID string, in AutoRechargeSettings) (AutoRechargeView, error) {
	if err := ValidateAutoRecharge(in); err != nil {
		return AutoRechargeView{}, err
	}
	err := s.update(ctx, func(tx Tx) error {
		now := s.now()
		locked, account, err := s.settle(tx, accountID, now)
		if err != nil {
			return err
		}
		pack, err := tx.Pack(in.PackID)
		if errors.Is(err, ErrNotFound) || (err == nil && !pack.Active) {
			return Errorf(ENOTFOUND, "pack %s not found or not active", in.PackID)
		} else if err != nil {
			return err
		}
		if amount, err := MulCredits(pack.UnitAmount, in.Quantity); err != nil {
			return err
		} else if amount > in.MonthlyLimit {
			return Errorf(EINVALID, "monthly_limit %s is less than one recharge (%s)", FormatMoney(in.MonthlyLimit, pack.Currency), FormatMoney(amount, pack.Currency))
		}
		if err := sameCurrencyThisMonth(locked, pack, now); err != nil {
			return err
		}
		ar, err := autoRechargeOf(locked, now)
		if err != nil {
			return err
		}
		if in.Enabled && ar.Card == nil {
			return Errorf(ECONFLICT, "account %s has no saved card: save one first (a setup session, or a purchase that saves its card)", accountID)
		}
		ar.Enabled, ar.Threshold, ar.PackID, ar.Quantity, ar.MonthlyLimit = in.Enabled, in.Threshold, in.PackID, in.Quantity, in.MonthlyLimit
		ar.DisabledReason, ar.SettingsAt, ar.UpdatedAt = "", now, now
		if err := locked.SaveAutoRecharge(ar); err != nil {
			return err
		}
		if !in.Enabled {
			return cancelWaitingRecharge(locked, now, "auto-recharge was turned off")
		}
		relocked, err := tx.LockAccount(accountID) // reads the new threshold
		if err != nil {
			return err
		}
		return s.maybeRecharge(tx, relocked, account.Balance-account.Held, now)
	})
	if err != nil {
		return AutoRechargeView{}, err
	}
	return s.GetAutoRecharge(ctx, accountID)
}

// sameCurrencyThisMonth refuses a pack in another currency than the
// recharges that took or may take money this month: the monthly limit is
// one amount in one currency, and converting would guess at a rate.
func sameCurrencyThisMonth(locked LockedAccount, pack Pack, now time.Time) error {
	month, err := locked.RechargesSince(monthStart(now))
	if err != nil {
		return err
	}
	for _, m := range month {
		if m.countsToLimit() && m.Currency != pack.Currency {
			next := monthStart(now).AddDate(0, 1, 0)
			return Errorf(ECONFLICT, "this month's recharges were charged in %s and the monthly limit counts one currency: a pack in %s can be chosen from %s",
				strings.ToUpper(m.Currency), strings.ToUpper(pack.Currency), next.Format("2006-01-02"))
		}
	}
	return nil
}

// autoRechargeOf reads an account's auto-recharge row, or a new one.
func autoRechargeOf(locked LockedAccount, now time.Time) (AutoRecharge, error) {
	ar, err := locked.AutoRecharge()
	if errors.Is(err, ErrNotFound) {
		return AutoRecharge{AccountID: locked.Account().ID, Quantity: 1, UpdatedAt: now}, nil
	}
	return ar, err
}

// cancelWaitingRecharge cancels the account's recharge in flight if no
// charge was sent yet (a pending one), or one waiting for the customer.
func cancelWaitingRecharge(locked LockedAccount, now time.Time, reason string) error {
	r, err := locked.InFlightRecharge()
	if errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if r.Status == RechargeProcessing || (r.Status == RechargePending && (r.PaymentIntent != "" || r.SentAt != nil)) {
		// Stripe may have charged it, or be charging it: its answer (or a
		// look-up, which cancels it when Stripe has nothing) decides.
		return nil
	}
	r.Status, r.Error, r.LockedUntil, r.UpdatedAt = RechargeCanceled, reason, time.Time{}, now
	if r.LinkOpen {
		r.NextAttemptAt = now // the worker expires the link at once
	}
	return locked.UpdateRecharge(r)
}

// GetAutoRecharge returns an account's auto-recharge, this month's total and
// its latest attempts.
func (s *Service) GetAutoRecharge(ctx context.Context, accountID string) (AutoRechargeView, error) {
	var v AutoRechargeView
	if err := lookupID("account", accountID); err != nil {
		return v, err
	}
	err := s.Store.View(ctx, func(tx Tx) error {
		if _, err := getAccount(tx, accountID); err != nil {
			return err
		}
		ar, err := tx.AutoRecharge(accountID)
		if errors.Is(err, ErrNotFound) {
			ar = AutoRecharge{AccountID: accountID, Quantity: 1}
		} else if err != nil {
			return err
		}
		v.AutoRecharge = ar
		if v.Recharges, err = tx.Recharges(accountID, MaxRechargesShown); err != nil {
			return err
		}
		if v.month, err = tx.RechargesSince(accountID, monthStart(s.now())); err != nil {
			return err
		}
		if ar.PackID != "" {
			if pack, err := tx.Pack(ar.PackID); err == nil {
				v.Currency = pack.Currency
			}
		}
		return nil
	})
	if err != nil {
		return v, err
	}
	if len(v.Recharges) > 0 {
		v.Last = &v.Recharges[0]
	}
	for i, r := range v.Recharges {
		if r.Status == RechargePending && v.NextAttemptAt == nil {
			v.NextAttemptAt = &v.Recharges[i].NextAttemptAt
		}
		if (!r.InFlight() || r.Status == RechargeActionRequired) && v.LastOutcome == nil {
			v.LastOutcome = &v.Recharges[i]
		}
	}
	for _, r := range v.month {
		if r.Status == RechargeSucceeded {
			v.MonthTotal = satAdd(v.MonthTotal, r.Amount)
		}
	}
	return v, nil
}

// MaxRechargesShown bounds the attempts an account's view lists.
const MaxRechargesShown = 20

// isRechargeReference reports whether a purchase's reference (its session
// id) names a recharge.
func isRechargeReference(reference string) bool {
	return strings.HasPrefix(reference, RechargeReferencePrefix)
}
