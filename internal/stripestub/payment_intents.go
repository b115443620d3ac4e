package stripestub

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// minimumAmount is Stripe's smallest charge in the smallest unit of the
// usual currencies (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
const minimumAmount = 50

// NullString marshals "" as JSON null, as Stripe sends an unset id.
type NullString string

// MarshalJSON writes null for "".
func (n NullString) MarshalJSON() ([]byte, error) {
	if n == "" {
		return []byte("null"), nil
	}
	return []byte(fmt.Sprintf("%q", string(n))), nil
}

// PaymentError is a PaymentIntent's last_payment_error.
type PaymentError struct {
	Type        string `json:"type"`
	Code        string `json:"code,omitempty"`
	DeclineCode string `json:"decline_code,omitempty"`
	Message     string `json:"message"`
}

// PaymentIntent is Stripe's payment_intent object, the fields the stub keeps.
type PaymentIntent struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	Amount             int64             `json:"amount"`
	AmountReceived     int64             `json:"amount_received"`
	CanceledAt         *int64            `json:"canceled_at"`
	CaptureMethod      string            `json:"capture_method"`
	ClientSecret       string            `json:"client_secret"`
	ConfirmationMethod string            `json:"confirmation_method"`
	Created            int64             `json:"created"`
	Currency           string            `json:"currency"`
	Customer           NullString        `json:"customer"`
	Description        NullString        `json:"description"`
	LastPaymentError   *PaymentError     `json:"last_payment_error"`
	LatestCharge       NullString        `json:"latest_charge"`
	Livemode           bool              `json:"livemode"`
	Metadata           map[string]string `json:"metadata"`
	PaymentMethod      NullString        `json:"payment_method"`
	PaymentMethodTypes []string          `json:"payment_method_types"`
	SetupFutureUsage   NullString        `json:"setup_future_usage"`
	Status             string            `json:"status"`
	// IdempotencyKey is the key of the request that created it (not a
	// Stripe field: Stripe shows it in the Dashboard's request log).
	IdempotencyKey string `json:"-"`
	// OffSession records the confirm's off_session parameter.
	OffSession bool `json:"-"`
	seq        int
}

func (p *PaymentIntent) stripeID() string { return p.ID }
func (p *PaymentIntent) createdAt() int64 { return p.Created }
func (p *PaymentIntent) order() int       { return p.seq }

// copy returns a value safe to hand out.
func (p *PaymentIntent) copy() PaymentIntent {
	out := *p
	out.Metadata = cloneMap(p.Metadata)
	out.PaymentMethodTypes = append([]string{}, p.PaymentMethodTypes...)
	if p.LastPaymentError != nil {
		e := *p.LastPaymentError
		out.LastPaymentError = &e
	}
	return out
}

func (s *Stub) routePaymentIntents() {
	s.route("POST /v1/payment_intents", s.handleCreatePaymentIntent)
	s.route("GET /v1/payment_intents", s.handleListPaymentIntents)
	s.route("GET /v1/payment_intents/search", s.handleSearchPaymentIntents)
	s.route("GET /v1/payment_intents/{id}", s.handleRetrievePaymentIntent)
	s.route("POST /v1/payment_intents/{id}/confirm", s.handleConfirmPaymentIntent)
	s.route("POST /v1/payment_intents/{id}/cancel", s.handleCancelPaymentIntent)
	s.route("GET /v1/charges", s.handleListCharges)
	s.route("GET /v1/charges/{id}", s.handleRetrieveCharge)
}

func (s *Stub) handleCreatePaymentIntent(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, resp := s.createPaymentIntent(req.form, req.key)
	return resp
}

// createPaymentIntent validates, creates and (with confirm) confirms a
// PaymentIntent; callers hold s.mu.
func (s *Stub) createPaymentIntent(form url.Values, key string) (*PaymentIntent, response) {
	amount, present, bad := intParam(form, "amount")
	switch {
	case bad.status != 0:
		return nil, bad
	case !present:
		return nil, missingParam("amount")
	case amount < minimumAmount:
		return nil, invalidParams("amount_too_small", "amount", fmt.Sprintf("Amount must be at least %d in the smallest currency unit.", minimumAmount))
	case form.Get("currency") == "":
		return nil, missingParam("currency")
	}
	customer := form.Get("customer")
	if c, ok := s.customers[customer]; ok && c.Deleted {
		return nil, noSuch("customer", "customer", customer)
	}
	pi := &PaymentIntent{
		ID: newID("pi_"), Object: "payment_intent", Amount: amount, CaptureMethod: "automatic", ConfirmationMethod: "automatic",
		Created: s.unixNow(), Currency: strings.ToLower(form.Get("currency")), Customer: NullString(customer),
		Description: NullString(form.Get("description")), Metadata: mapParam(form, "metadata"),
		PaymentMethod: NullString(form.Get("payment_method")), PaymentMethodTypes: listParam(form, "payment_method_types"),
		SetupFutureUsage: NullString(form.Get("setup_future_usage")), Status: "requires_payment_method",
		IdempotencyKey: key, seq: s.nextSeq(),
	}
	pi.ClientSecret = pi.ID + "_secret_" + newID("")
	if len(pi.PaymentMethodTypes) == 0 {
		pi.PaymentMethodTypes = []string{"card"}
	}
	if pi.PaymentMethod != "" {
		pi.Status = "requires_confirmation"
	}
	if !boolParam(form, "confirm") {
		s.paymentIntents[pi.ID] = pi
		s.recordEvent("payment_intent.created", pi.copy())
		return pi, jsonResponse(http.StatusOK, pi.copy())
	}
	if pi.PaymentMethod == "" {
		return nil, invalidParams("payment_intent_unexpected_state", "payment_method",
			"You cannot confirm this PaymentIntent because it's missing a payment method.")
	}
	if bad := s.redirectsAllowed(form); bad.status != 0 {
		return nil, bad
	}
	outcome := s.outcomeFor(string(pi.PaymentMethod), customer)
	if outcome.HTTPStatus != 0 {
		return nil, invalidRequest(outcome.HTTPStatus, outcome.Code, outcome.Param, outcome.Message)
	}
	s.paymentIntents[pi.ID] = pi
	s.recordEvent("payment_intent.created", pi.copy())
	pi.OffSession = boolParam(form, "off_session")
	return pi, s.confirm(pi, outcome)
}

// RequireReturnURL makes the stub refuse, as Stripe does on API versions
// where automatic payment methods are on by default, a confirmed create
// that names no payment_method_types[], no return_url and not
// automatic_payment_methods[allow_redirects]=never
// (https://docs.stripe.com/payments/payment-methods/integration-options#automatic-payment-methods).
func (s *Stub) RequireReturnURL(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requireReturnURL = on
}

// redirectsAllowed checks RequireReturnURL's rule; callers hold s.mu.
func (s *Stub) redirectsAllowed(form url.Values) response {
	if !s.requireReturnURL || len(listParam(form, "payment_method_types")) > 0 || form.Get("return_url") != "" ||
		form.Get("automatic_payment_methods[allow_redirects]") == "never" || form.Get("automatic_payment_methods[enabled]") == "false" {
		return response{}
	}
	return invalidParams("", "return_url", "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. "+
		"Because some of these payment methods might redirect your customer off of your page, you must provide a `return_url`. "+
		"If you don't want to accept redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and "+
		"`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and Payment Intents.")
}

// confirm applies outcome to a PaymentIntent that has a payment method,
// making its charge; callers hold s.mu.
func (s *Stub) confirm(pi *PaymentIntent, outcome Outcome) response {
	if outcome.Status == "requires_action" && pi.OffSession {
		// Off session nobody can authenticate: Stripe declines instead.
		outcome = AuthenticationRequired()
	}
	switch outcome.Status {
	case "", "succeeded":
		s.settle(pi, "succeeded")
	case "processing":
		s.settle(pi, "processing")
	case "requires_action":
		pi.Status = "requires_action"
		s.recordEvent("payment_intent.requires_action", pi.copy())
	default:
		s.fail(pi, outcome)
		return errorResponse(http.StatusPaymentRequired, stripeError{Type: "card_error", Code: outcome.Code,
			DeclineCode: outcome.DeclineCode, Message: outcome.Message, Charge: string(pi.LatestCharge), PaymentIntent: ptr(pi.copy())})
	}
	return jsonResponse(http.StatusOK, pi.copy())
}

func ptr[T any](v T) *T { return &v }

// settle moves a PaymentIntent to succeeded or processing with its charge
// (made now, or the pending one moved on); callers hold s.mu.
func (s *Stub) settle(pi *PaymentIntent, status string) {
	ch := s.chargeOf(pi)
	pi.Status, pi.LastPaymentError = status, nil
	if status == "processing" {
		ch.Status, ch.Paid = "pending", false
		s.recordEvent("charge.pending", ch.copy())
		s.recordEvent("payment_intent.processing", pi.copy())
		return
	}
	pi.AmountReceived = pi.Amount
	ch.Status, ch.Paid, ch.Captured, ch.AmountCaptured = "succeeded", true, true, pi.Amount
	s.recordEvent("charge.succeeded", ch.copy())
	s.recordEvent("payment_intent.succeeded", pi.copy())
	s.sessionPaymentSettled(pi, true)
}

// fail records a card error on a PaymentIntent and its charge; callers hold s.mu.
func (s *Stub) fail(pi *PaymentIntent, outcome Outcome) {
	ch := s.chargeOf(pi)
	ch.Status, ch.Paid, ch.FailureCode, ch.FailureMessage = "failed", false, NullString(outcome.Code), NullString(outcome.Message)
	pi.Status = "requires_payment_method"
	pi.LastPaymentError = &PaymentError{Type: "card_error", Code: outcome.Code, DeclineCode: outcome.DeclineCode, Message: outcome.Message}
	s.recordEvent("charge.failed", ch.copy())
	s.recordEvent("payment_intent.payment_failed", pi.copy())
	s.sessionPaymentSettled(pi, false)
}

// chargeOf returns the PaymentIntent's pending charge, or makes a new
// one; callers hold s.mu.
func (s *Stub) chargeOf(pi *PaymentIntent) *Charge {
	if ch, ok := s.charges[string(pi.LatestCharge)]; ok && ch.Status == "pending" {
		return ch
	}
	ch := &Charge{ID: newID("ch_"), Object: "charge", Amount: pi.Amount, Created: s.unixNow(), Currency: pi.Currency,
		Customer: pi.Customer, Metadata: cloneMap(pi.Metadata), PaymentIntent: pi.ID, PaymentMethod: pi.PaymentMethod,
		Description: pi.Description, seq: s.nextSeq()}
	s.charges[ch.ID] = ch
	pi.LatestCharge = NullString(ch.ID)
	return ch
}

func (s *Stub) handleRetrievePaymentIntent(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ok := s.paymentIntents[req.PathValue("id")]
	if !ok {
		return notFound("payment_intent", req.PathValue("id"))
	}
	return jsonResponse(http.StatusOK, s.expandPaymentIntent(pi, listParam(req.form, "expand")))
}

func (s *Stub) handleListPaymentIntents(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	customer := req.form.Get("customer")
	var items []*PaymentIntent
	for _, pi := range s.paymentIntents {
		if customer == "" || string(pi.Customer) == customer {
			items = append(items, pi)
		}
	}
	return listPage(req.form, "/v1/payment_intents", items, func(pi *PaymentIntent) any { return pi.copy() })
}

// paymentIntentSearchFields are the fields a PaymentIntent search may name
// besides metadata (https://docs.stripe.com/search#query-fields-for-payment-intents).
var paymentIntentSearchFields = []string{"customer", "status", "currency"}

func paymentIntentField(pi *PaymentIntent, field string) string {
	switch field {
	case "customer":
		return string(pi.Customer)
	case "status":
		return pi.Status
	case "currency":
		return pi.Currency
	}
	return pi.Metadata[strings.TrimSuffix(strings.TrimPrefix(field, "metadata["), "]")]
}

func (s *Stub) handleSearchPaymentIntents(req *stripeRequest) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := make([]*PaymentIntent, 0, len(s.paymentIntents))
	for _, pi := range s.paymentIntents {
		items = append(items, pi)
	}
	return searchPage(req.form, "/v1/payment_intents/search", searchable(s, items), paymentIntentSearchFields, paymentIntentField, func(pi *PaymentIntent) any { return pi.copy() })
}
