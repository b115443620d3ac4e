package stripestub

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Refund is Stripe's refund object, the fields the stub keeps.
type Refund struct {
	ID            string            `json:"id"`
	Object        string            `json:"object"`
	Amount        int64             `json:"amount"`
	Charge        string            `json:"charge"`
	Created       int64             `json:"created"`
	Currency      string            `json:"currency"`
	Metadata      map[string]string `json:"metadata"`
	PaymentIntent string            `json:"payment_intent"`
	Reason        NullString        `json:"reason"`
	Status        string            `json:"status"`
	seq           int
}

func (r *Refund) stripeID() string { return r.ID }
func (r *Refund) createdAt() int64 { return r.Created }
func (r *Refund) order() int       { return r.seq }

func (r *Refund) copy() Refund {
	out := *r
	out.Metadata = cloneMap(r.Metadata)
	return out
}

func (s *Stub) routeRefunds() {
	s.route("POST /v1/refunds", s.handleCreateRefund)
	s.route("GET /v1/refunds", s.handleListRefunds)
	s.route("GET /v1/refunds/{id}", s.handleRetrieveRefund)
	s.route("GET /v1/disputes", s.handleListDisputes)
	s.route("GET /v1/disputes/{id}", s.handleRetrieveDispute)
}

func (s *Stub) handleCreateRefund(req *stripeRequest) response {
	target := req.form.Get("charge")
	if target == "" {
		target = req.form.Get("payment_intent")
	}
	if target == "" {
		return invalidParams("parameter_missing", "charge", "One of `charge` or `payment_intent` is required.")
	}
	amount, present, bad := intParam(req.form, "amount")
	if bad.status != 0 {
		return bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	refund, resp := s.refund(target, amount, present)
	if refund != nil {
		refund.Reason, refund.Metadata = NullString(req.form.Get("reason")), mapParam(req.form, "metadata")
		return jsonResponse(http.StatusOK, refund.copy())
	}
	return resp
}

// succeededCharge finds the charge a refund or dispute is about, by its
// id or its PaymentIntent's; callers hold s.mu.
func (s *Stub) succeededCharge(target string) (*Charge, response) {
	param, id := "charge", target
	if strings.HasPrefix(target, "pi_") {
		pi, ok := s.paymentIntents[target]
		if !ok {
			return nil, noSuch("payment_intent", "payment_intent", target)
		}
		param, id = "payment_intent", string(pi.LatestCharge)
	}
	ch, ok := s.charges[id]
	if !ok && param == "charge" {
		return nil, noSuch("charge", "charge", target)
	}
	if !ok || ch.Status != "succeeded" {
		return nil, invalidRequest(http.StatusBadRequest, "", param, fmt.Sprintf("%s does not have a successful charge to refund.", target))
	}
	return ch, response{}
}

// refund refunds amount (the rest of the charge when not given); callers hold s.mu.
func (s *Stub) refund(target string, amount int64, present bool) (*Refund, response) {
	ch, resp := s.succeededCharge(target)
	if ch == nil {
		return nil, resp
	}
	left := ch.Amount - ch.AmountRefunded
	switch {
	case left == 0:
		return nil, invalidRequest(http.StatusBadRequest, "charge_already_refunded", "", fmt.Sprintf("Charge %s has already been refunded.", ch.ID))
	case !present:
		amount = left
	case amount < 1:
		return nil, invalidParams("", "amount", "Invalid positive integer")
	case amount > left:
		return nil, invalidRequest(http.StatusBadRequest, "amount_too_large", "amount",
			fmt.Sprintf("Refund amount (%d) is greater than unrefunded amount on charge (%d)", amount, left))
	}
	refund := &Refund{ID: newID("re_"), Object: "refund", Amount: amount, Charge: ch.ID, Created: s.unixNow(),
		Currency: ch.Currency, Metadata: map[string]string{}, PaymentIntent: ch.PaymentIntent, Status: "succeeded", seq: s.nextSeq()}
	s.refunds[refund.ID] = refund
	ch.AmountRefunded += amount
	ch.Refunded = ch.AmountRefunded == ch.Amount
	s.recordEvent("refund.created", refund.copy())
	s.recordEvent("charge.refunded", ch.copy())
	return refund, response{}
}

// CreateRefund refunds a charge or PaymentIntent without a request (as
// from the Dashboard); amount 0 refunds what is left.
func (s *Stub) CreateRefund(chargeOrPaymentIntent string, amount int64) Refund {
	s.mu.Lock()
	defer s.mu.Unlock()
	refund, resp := s.refund(chargeOrPaymentIntent, amount, amount != 0)
	if refund == nil {
		panic(fmt.Sprintf("stripestub: CreateRefund: %s", resp.body))
	}
	return refund.copy()
}

// Refunds returns a copy of every refund, oldest first.
func (s *Stub) Refunds() []Refund {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Refund, 0, len(s.refunds))
	for _, r := range s.refunds {
		out = append(out, r.copy())
	}
	slices.SortFunc(out, func(a, b Refund) int { return a.seq - b.seq })
	return out
}

func (s *Stub) handleListRefunds(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	charge, paymentIntent := req.form.Get("charge"), req.form.Get("payment_intent")
	var items []*Refund
	for _, r := range s.refunds {
		if (charge == "" || r.Charge == charge) && (paymentIntent == "" || r.PaymentIntent == paymentIntent) {
			items = append(items, r)
		}
	}
	return listPage(req.form, "/v1/refunds", items, func(r *Refund) any { return r.copy() })
}

func (s *Stub) handleRetrieveRefund(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refunds[req.PathValue("id")]
	if !ok {
		return notFound("refund", req.PathValue("id"))
	}
	return jsonResponse(http.StatusOK, r.copy())
}
