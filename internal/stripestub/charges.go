package stripestub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// Charge is Stripe's charge object, the fields the stub keeps: one per
// confirmation of a PaymentIntent.
type Charge struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	Amount         int64             `json:"amount"`
	AmountCaptured int64             `json:"amount_captured"`
	AmountRefunded int64             `json:"amount_refunded"`
	Captured       bool              `json:"captured"`
	Created        int64             `json:"created"`
	Currency       string            `json:"currency"`
	Customer       NullString        `json:"customer"`
	Description    NullString        `json:"description"`
	Disputed       bool              `json:"disputed"`
	FailureCode    NullString        `json:"failure_code"`
	FailureMessage NullString        `json:"failure_message"`
	Livemode       bool              `json:"livemode"`
	Metadata       map[string]string `json:"metadata"`
	Paid           bool              `json:"paid"`
	PaymentIntent  string            `json:"payment_intent"`
	PaymentMethod  NullString        `json:"payment_method"`
	Refunded       bool              `json:"refunded"`
	Status         string            `json:"status"`
	seq            int
}

func (c *Charge) stripeID() string { return c.ID }
func (c *Charge) createdAt() int64 { return c.Created }
func (c *Charge) order() int       { return c.seq }

func (c *Charge) copy() Charge {
	out := *c
	out.Metadata = cloneMap(c.Metadata)
	return out
}

func (s *Stub) handleRetrieveCharge(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.charges[req.PathValue("id")]
	if !ok {
		return notFound("charge", req.PathValue("id"))
	}
	return jsonResponse(http.StatusOK, ch.copy())
}

func (s *Stub) handleListCharges(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	customer, paymentIntent := req.form.Get("customer"), req.form.Get("payment_intent")
	var items []*Charge
	for _, ch := range s.charges {
		if (customer == "" || string(ch.Customer) == customer) && (paymentIntent == "" || ch.PaymentIntent == paymentIntent) {
			items = append(items, ch)
		}
	}
	return listPage(req.form, "/v1/charges", items, func(ch *Charge) any { return ch.copy() })
}

// confirmable and cancelable are the statuses Stripe lets a PaymentIntent
// be confirmed or canceled from (https://docs.stripe.com/api/payment_intents/cancel).
var (
	confirmable = []string{"requires_payment_method", "requires_confirmation", "requires_action"}
	cancelable  = []string{"requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing"}
)

func unexpectedState(pi *PaymentIntent, action string, allowed []string) response {
	return invalidRequest(http.StatusBadRequest, "payment_intent_unexpected_state", "",
		fmt.Sprintf("You cannot %s this PaymentIntent because it has a status of %s. Only a PaymentIntent with one of the following statuses may be %sed: %v.",
			action, pi.Status, action, allowed))
}

func (s *Stub) handleConfirmPaymentIntent(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ok := s.paymentIntents[req.PathValue("id")]
	if !ok {
		return notFound("payment_intent", req.PathValue("id"))
	}
	if !slices.Contains(confirmable, pi.Status) {
		return unexpectedState(pi, "confirm", confirmable)
	}
	if pm := req.form.Get("payment_method"); pm != "" {
		pi.PaymentMethod = NullString(pm)
	}
	if pi.PaymentMethod == "" {
		return invalidParams("payment_intent_unexpected_state", "payment_method",
			"You cannot confirm this PaymentIntent because it's missing a payment method.")
	}
	outcome := s.outcomeFor(string(pi.PaymentMethod), string(pi.Customer))
	if outcome.HTTPStatus != 0 {
		return invalidRequest(outcome.HTTPStatus, outcome.Code, outcome.Param, outcome.Message)
	}
	pi.OffSession = boolParam(req.form, "off_session")
	return s.confirm(pi, outcome)
}

func (s *Stub) handleCancelPaymentIntent(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ok := s.paymentIntents[req.PathValue("id")]
	if !ok {
		return notFound("payment_intent", req.PathValue("id"))
	}
	if !slices.Contains(cancelable, pi.Status) {
		return unexpectedState(pi, "cancel", cancelable)
	}
	s.cancel(pi)
	return jsonResponse(http.StatusOK, pi.copy())
}

// cancel ends a PaymentIntent; callers hold s.mu.
func (s *Stub) cancel(pi *PaymentIntent) {
	now := s.unixNow()
	pi.Status, pi.CanceledAt = "canceled", &now
	if ch, ok := s.charges[string(pi.LatestCharge)]; ok && ch.Status == "pending" {
		ch.Status = "failed"
		s.recordEvent("charge.failed", ch.copy())
	}
	s.recordEvent("payment_intent.canceled", pi.copy())
	s.sessionPaymentSettled(pi, false)
}

// expandPaymentIntent renders a PaymentIntent with the expansions asked
// for (payment_method, latest_charge, customer); callers hold s.mu.
func (s *Stub) expandPaymentIntent(pi *PaymentIntent, expand []string) any {
	if len(expand) == 0 {
		return pi.copy()
	}
	raw, _ := json.Marshal(pi.copy())
	var object map[string]any
	_ = json.Unmarshal(raw, &object)
	for _, field := range expand {
		switch {
		case field == "payment_method" && pi.PaymentMethod != "":
			object[field] = paymentMethodObject(string(pi.PaymentMethod), s.attachedTo[string(pi.PaymentMethod)])
		case field == "latest_charge" && pi.LatestCharge != "":
			object[field] = s.charges[string(pi.LatestCharge)].copy()
		case field == "customer" && pi.Customer != "":
			if c, ok := s.customers[string(pi.Customer)]; ok {
				object[field] = c.render()
			}
		}
	}
	return object
}

// paymentMethodObject is a test card as Stripe shows it.
func paymentMethodObject(id, customer string) map[string]any {
	return map[string]any{"id": id, "object": "payment_method", "type": "card", "livemode": false,
		"customer": NullString(customer), "created": 0, "metadata": map[string]string{},
		"card": map[string]any{"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034, "country": "US", "funding": "credit"}}
}

// PaymentIntents returns a copy of every PaymentIntent, oldest first.
func (s *Stub) PaymentIntents() []PaymentIntent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PaymentIntent, 0, len(s.paymentIntents))
	for _, pi := range s.paymentIntents {
		out = append(out, pi.copy())
	}
	slices.SortFunc(out, func(a, b PaymentIntent) int { return a.seq - b.seq })
	return out
}

// SucceededPaymentIntents returns the PaymentIntents that took money, oldest first.
func (s *Stub) SucceededPaymentIntents() []PaymentIntent {
	var out []PaymentIntent
	for _, pi := range s.PaymentIntents() {
		if pi.Status == "succeeded" {
			out = append(out, pi)
		}
	}
	return out
}

// Charges returns a copy of every charge, failed ones too, oldest first.
func (s *Stub) Charges() []Charge {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Charge, 0, len(s.charges))
	for _, ch := range s.charges {
		out = append(out, ch.copy())
	}
	slices.SortFunc(out, func(a, b Charge) int { return a.seq - b.seq })
	return out
}

// PaymentIntentParams describe a PaymentIntent made behind the service's back.
type PaymentIntentParams struct {
	Amount        int64
	Currency      string
	Customer      string
	PaymentMethod string
	Confirm       bool
	Description   string
	Metadata      map[string]string
}

// CreatePaymentIntent makes a PaymentIntent as a POST would (outcomes and
// events included), without a request: a second charge made elsewhere.
// A card error still returns the PaymentIntent; an invalid request panics.
func (s *Stub) CreatePaymentIntent(params PaymentIntentParams) PaymentIntent {
	form := url.Values{"amount": {strconv.FormatInt(params.Amount, 10)}, "currency": {params.Currency},
		"confirm": {strconv.FormatBool(params.Confirm)}}
	for name, value := range map[string]string{"customer": params.Customer, "payment_method": params.PaymentMethod, "description": params.Description} {
		if value != "" {
			form.Set(name, value)
		}
	}
	for k, v := range params.Metadata {
		form.Set("metadata["+k+"]", v)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, resp := s.createPaymentIntent(form, "")
	if pi == nil {
		panic(fmt.Sprintf("stripestub: CreatePaymentIntent: %s", resp.body))
	}
	return pi.copy()
}

// SetPaymentIntentStatus moves a PaymentIntent on, as Stripe does when a
// processing payment settles: succeeded (its charge succeeds),
// requires_payment_method (its charge fails, generic_decline), canceled or
// processing; each records its event.
func (s *Stub) SetPaymentIntentStatus(id, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ok := s.paymentIntents[id]
	if !ok {
		panic("stripestub: no PaymentIntent " + id)
	}
	switch status {
	case "succeeded", "processing":
		s.settle(pi, status)
	case "requires_payment_method":
		s.fail(pi, Declined("generic_decline"))
	case "canceled":
		s.cancel(pi)
	default:
		pi.Status = status
		s.recordEvent("payment_intent."+status, pi.copy())
	}
}
