package stripestub

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Dispute is Stripe's dispute object, the fields the stub keeps.
type Dispute struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	Amount             int64             `json:"amount"`
	Charge             string            `json:"charge"`
	Created            int64             `json:"created"`
	Currency           string            `json:"currency"`
	IsChargeRefundable bool              `json:"is_charge_refundable"`
	Livemode           bool              `json:"livemode"`
	Metadata           map[string]string `json:"metadata"`
	PaymentIntent      string            `json:"payment_intent"`
	Reason             string            `json:"reason"`
	Status             string            `json:"status"`
	// FundsWithdrawn: Stripe took the amount from the balance (a
	// chargeback, not an inquiry) and has not given it back.
	FundsWithdrawn bool `json:"-"`
	seq            int
}

func (d *Dispute) stripeID() string { return d.ID }
func (d *Dispute) createdAt() int64 { return d.Created }
func (d *Dispute) order() int       { return d.seq }

func (d *Dispute) copy() Dispute {
	out := *d
	out.Metadata = cloneMap(d.Metadata)
	return out
}

// closedDisputeStatuses end a dispute (https://docs.stripe.com/api/disputes/object#dispute_object-status).
var closedDisputeStatuses = []string{"won", "lost", "warning_closed"}

// Dispute opens a dispute on a charge (or a PaymentIntent's charge) with
// status (warning_needs_response for an inquiry, needs_response for a
// chargeback, ...), recording charge.dispute.created and, for a
// chargeback, charge.dispute.funds_withdrawn.
func (s *Stub) Dispute(chargeOrPaymentIntent, status string) Dispute {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, resp := s.succeededCharge(chargeOrPaymentIntent)
	if ch == nil {
		panic(fmt.Sprintf("stripestub: Dispute: %s", resp.body))
	}
	d := &Dispute{ID: newID("dp_"), Object: "dispute", Amount: ch.Amount, Charge: ch.ID, Created: s.unixNow(),
		Currency: ch.Currency, Metadata: map[string]string{}, PaymentIntent: ch.PaymentIntent, Reason: "fraudulent",
		Status: status, seq: s.nextSeq()}
	s.disputes[d.ID] = d
	ch.Disputed = true
	s.recordEvent("charge.dispute.created", d.copy())
	s.moveDispute(d, status)
	return d.copy()
}

// SetDisputeStatus moves a dispute on, recording what Stripe sends:
// charge.dispute.updated, funds_withdrawn when an inquiry becomes a
// chargeback, closed (and funds_reinstated when a withdrawn dispute is won).
func (s *Stub) SetDisputeStatus(id, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.disputes[id]
	if !ok {
		panic("stripestub: no dispute " + id)
	}
	d.Status = status
	if !slices.Contains(closedDisputeStatuses, status) {
		s.recordEvent("charge.dispute.updated", d.copy())
	}
	s.moveDispute(d, status)
}

// moveDispute records the money side of a status; callers hold s.mu.
func (s *Stub) moveDispute(d *Dispute, status string) {
	inquiry := strings.HasPrefix(status, "warning_")
	if !inquiry && !d.FundsWithdrawn && status != "won" {
		d.FundsWithdrawn = true
		s.recordEvent("charge.dispute.funds_withdrawn", d.copy())
	}
	if !slices.Contains(closedDisputeStatuses, status) {
		return
	}
	if status == "won" && d.FundsWithdrawn {
		d.FundsWithdrawn = false
		s.recordEvent("charge.dispute.funds_reinstated", d.copy())
	}
	s.recordEvent("charge.dispute.closed", d.copy())
}

// Disputes returns a copy of every dispute, oldest first.
func (s *Stub) Disputes() []Dispute {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Dispute, 0, len(s.disputes))
	for _, d := range s.disputes {
		out = append(out, d.copy())
	}
	slices.SortFunc(out, func(a, b Dispute) int { return a.seq - b.seq })
	return out
}

func (s *Stub) handleListDisputes(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	charge, paymentIntent := req.form.Get("charge"), req.form.Get("payment_intent")
	var items []*Dispute
	for _, d := range s.disputes {
		if (charge == "" || d.Charge == charge) && (paymentIntent == "" || d.PaymentIntent == paymentIntent) {
			items = append(items, d)
		}
	}
	return listPage(req.form, "/v1/disputes", items, func(d *Dispute) any { return d.copy() })
}

func (s *Stub) handleRetrieveDispute(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.disputes[req.PathValue("id")]
	if !ok {
		return notFound("dispute", req.PathValue("id"))
	}
	return jsonResponse(http.StatusOK, d.copy())
}
