package credits

import (
	"context"
	"errors"
	"math/bits"
	"time"
)

// Payment is one Stripe payment intent (a charge where there is none) and
// the facts Stripe told us about it, each keyed by its Stripe id: what it
// bought, its charge, and (apart) each refund and each dispute. Facts only
// move forward, whatever order the events come in; the credits the payment
// owes its account are a pure function of them (Owed), and the ledger posts
// the difference whenever they change.
type Payment struct {
	ID string `json:"id"`
	// What it bought: set when the purchase is known (its account is "" until then).
	AccountID  string `json:"account_id"`
	SessionID  string `json:"session_id"`
	PackID     string `json:"pack_id"`
	Quantity   int64  `json:"quantity"`
	Credits    int64  `json:"credits"`
	SoldAmount int64  `json:"sold_amount"` // the packs' price × quantity
	PaidAmount int64  `json:"paid_amount"` // the session's total
	Discount   int64  `json:"discount"`
	Currency   string `json:"currency"`
	// The charge, as its newest snapshot says.
	ChargeID       string    `json:"charge_id,omitempty"`
	ChargeAmount   int64     `json:"charge_amount"`
	ChargeCurrency string    `json:"charge_currency,omitempty"`
	ChargeRefunded int64     `json:"charge_refunded"` // the charge's amount_refunded
	ChargeSeenAt   time.Time `json:"-"`               // the time of the event that said so
	// Posted is what the ledger holds for this payment.
	Posted    int64     `json:"posted"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PaymentRefund is one refund of a payment, as its newest status says.
type PaymentRefund struct {
	ID        string    `json:"id"`
	PaymentID string    `json:"payment_id"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	Status    string    `json:"status"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PaymentDispute is one dispute of a payment, as its newest status says.
type PaymentDispute struct {
	ID         string    `json:"id"`
	PaymentID  string    `json:"payment_id"`
	Amount     int64     `json:"amount"`
	Currency   string    `json:"currency"`
	Status     string    `json:"status"`
	Withdrawn  bool      `json:"withdrawn"`  // Stripe said the funds were withdrawn
	Reinstated bool      `json:"reinstated"` // Stripe said they were given back
	UpdatedAt  time.Time `json:"updated_at"`
}

// refundRank orders a refund's statuses: a refund moves pending → succeeded
// → failed or canceled, never back.
func refundRank(status string) int {
	switch status {
	case "pending", "requires_action":
		return 1
	case "succeeded":
		return 2
	case "failed", "canceled":
		return 3
	}
	return 0
}

// refundCounts reports whether a refund takes money back: pending (money is
// leaving) or succeeded.
func refundCounts(status string) bool {
	return status == "pending" || status == "requires_action" || status == "succeeded"
}

// disputeRank orders a dispute's statuses on two tracks. An inquiry
// (warning_*) may escalate to a chargeback on the same dispute id, never the
// other way: any chargeback status ranks above any inquiry status, so that an
// inquiry's event that arrives late cannot hide the chargeback. Within each
// track a status moves forward only: open, under review, closed.
func disputeRank(status string) int {
	switch status {
	case "warning_needs_response":
		return 1
	case "warning_under_review":
		return 2
	case "warning_closed", "charge_refunded":
		return 3
	case "needs_response":
		return 11
	case "under_review":
		return 12
	case "won", "lost", "prevented":
		return 13
	}
	return 0
}

// disputeWithdraws reports whether a dispute holds the payment's money. A
// lost chargeback keeps it and a won one gives it back; an open chargeback
// holds it unless Stripe said it was reinstated. Otherwise (an inquiry, or a
// status not known) what Stripe said of the funds decides: withdrawn and
// not reinstated holds them, whatever the inquiry said before, since a
// funds_withdrawn may arrive before the escalation's own event.
func disputeWithdraws(d PaymentDispute) bool {
	switch d.Status {
	case "lost":
		return true
	case "won":
		return false
	case "needs_response", "under_review":
		return !d.Reinstated
	}
	return d.Withdrawn && !d.Reinstated
}

// Owed is the credits a payment owes its account, from its facts alone:
//
//	owed = bought − floor(bought × min(refunded + withdrawn, charge) / charge)
//
// refunded counts the refunds that are pending or succeeded, and what the
// newest charge snapshot says was refunded beyond the refunds seen one by
// one; withdrawn counts the disputes that hold the money. Both are in the
// charge's own currency (the session's total stands in for the charge until
// the charge is known); a fact in another currency waits for the charge.
//
// Owed is what the facts owe; the payment's entries may hold more, by what
// expired of its lot, since expired credits are not taken twice (toPost):
// invariant 6 is owed ≤ posted ≤ max(owed, expired).
func Owed(p Payment, refunds []PaymentRefund, disputes []PaymentDispute) int64 {
	if p.Credits <= 0 {
		return 0
	}
	base, currency := p.ChargeAmount, p.ChargeCurrency
	if base <= 0 {
		base, currency = p.PaidAmount, p.Currency
	}
	if base <= 0 {
		return p.Credits // nothing was paid, so nothing can be refunded
	}
	var refunded, seen, withdrawn int64
	for _, r := range refunds {
		if r.Currency != currency {
			continue
		}
		seen = satAdd(seen, r.Amount)
		if refundCounts(r.Status) {
			refunded = satAdd(refunded, r.Amount)
		}
	}
	if p.ChargeCurrency == currency {
		refunded = satAdd(refunded, max(0, p.ChargeRefunded-seen))
	}
	for _, d := range disputes {
		if d.Currency == currency && disputeWithdraws(d) {
			withdrawn = satAdd(withdrawn, d.Amount)
		}
	}
	taken := min(satAdd(refunded, withdrawn), base)
	hi, lo := bits.Mul64(uint64(p.Credits), uint64(taken))
	q, _ := bits.Div64(hi, lo, uint64(base)) // hi < base because taken ≤ base
	return p.Credits - int64(q)
}

// toPost is what a payment's purchase, take-back and give-back entries sum
// to (its posted) once reconciled: what its facts owe, or more by at most
// what expired of its own lot (expired, the credits its linked expiry
// entries took). Expired credits have left the account already; taking the
// refunded share of them back again would take them twice, so a take-back
// stops at max(owed, expired), and a give-back brings posted up to owed.
// Between those bounds nothing moves. From the credits bought (never fewer
// than expired), any order of the same facts ends at max(owed, expired).
func toPost(owed, expired, posted int64) int64 {
	if posted < owed {
		return owed
	}
	return min(posted, max(owed, expired))
}

// expiredOf is how many credits of a payment's own lot expired: what its
// expiry entries, among the entries it posted, took.
func expiredOf(entries []Entry) int64 {
	var expired int64
	for _, e := range entries {
		if e.Kind == EntryExpiry {
			expired -= e.Amount
		}
	}
	return expired
}

// satAdd adds two non-negative amounts, saturating instead of overflowing.
func satAdd(a, b int64) int64 {
	if b > 0 && a > (1<<63-1)-b {
		return 1<<63 - 1
	}
	return a + max(b, 0)
}

// mergeRefund applies what an event says of a refund to what is known:
// the status only moves forward.
func mergeRefund(known PaymentRefund, exists bool, seen PaymentRefund) (PaymentRefund, bool) {
	if !exists {
		return seen, true
	}
	if refundRank(seen.Status) <= refundRank(known.Status) {
		return known, false
	}
	known.Status, known.UpdatedAt = seen.Status, seen.UpdatedAt
	return known, true
}

// mergeDispute applies what an event says of a dispute to what is known.
func mergeDispute(known PaymentDispute, exists bool, seen PaymentDispute) (PaymentDispute, bool) {
	if !exists {
		return seen, true
	}
	merged := known
	if disputeRank(seen.Status) > disputeRank(known.Status) {
		merged.Status = seen.Status
	}
	merged.Withdrawn = known.Withdrawn || seen.Withdrawn
	merged.Reinstated = known.Reinstated || seen.Reinstated
	merged.Amount = max(known.Amount, seen.Amount)
	if merged == known {
		return known, false
	}
	merged.UpdatedAt = seen.UpdatedAt
	return merged, true
}

// PaymentView is a payment with its facts, what they owe, and the ledger
// entries it posted: what an operator reads.
type PaymentView struct {
	Payment  Payment          `json:"payment"`
	Refunds  []PaymentRefund  `json:"refunds"`
	Disputes []PaymentDispute `json:"disputes"`
	Owed     int64            `json:"owed"`
	// Expired is what expired of the payment's lot: its entries may hold
	// more than owed by up to that much (toPost).
	Expired int64   `json:"expired"`
	Entries []Entry `json:"entries"`
}

// GetPayment returns a payment, found by its id (pi_…, ch_…) or by the id of
// the Checkout Session it paid.
func (s *Service) GetPayment(ctx context.Context, id string) (PaymentView, error) {
	var v PaymentView
	if err := lookupID("payment", id); err != nil {
		return v, err
	}
	err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		v.Payment, err = tx.Payment(id)
		if errors.Is(err, ErrNotFound) {
			v.Payment, err = tx.PaymentBySession(id)
		}
		if errors.Is(err, ErrNotFound) {
			return Errorf(ENOTFOUND, "payment %s not found", id)
		} else if err != nil {
			return err
		}
		if v.Refunds, err = tx.PaymentRefunds(v.Payment.ID); err != nil {
			return err
		}
		if v.Disputes, err = tx.PaymentDisputes(v.Payment.ID); err != nil {
			return err
		}
		v.Entries, err = tx.PaymentEntries(v.Payment.ID)
		return err
	})
	v.Owed, v.Expired = Owed(v.Payment, v.Refunds, v.Disputes), expiredOf(v.Entries)
	return v, err
}
