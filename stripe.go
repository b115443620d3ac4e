package credits

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Stripe event types that the service acts on.
const (
	EventCheckoutCompleted      = "checkout.session.completed"
	EventCheckoutAsyncSucceeded = "checkout.session.async_payment_succeeded"
	EventCheckoutAsyncFailed    = "checkout.session.async_payment_failed"
	EventCheckoutExpired        = "checkout.session.expired"
	EventChargeRefunded         = "charge.refunded"
	EventChargeRefundUpdated    = "charge.refund.updated"
	EventRefundCreated          = "refund.created"
	EventRefundUpdated          = "refund.updated"
	EventRefundFailed           = "refund.failed"
	EventDisputeCreated         = "charge.dispute.created"
	EventDisputeUpdated         = "charge.dispute.updated"
	EventDisputeFundsWithdrawn  = "charge.dispute.funds_withdrawn"
	EventDisputeFundsReinstated = "charge.dispute.funds_reinstated"
	EventDisputeClosed          = "charge.dispute.closed"
	EventPaymentIntentCanceled  = "payment_intent.canceled"
)

// HandledEventTypes are the event types the service acts on: the ones to
// select for the webhook endpoint in Stripe's Dashboard, and to replay.
var HandledEventTypes = []string{
	EventCheckoutCompleted, EventCheckoutAsyncSucceeded, EventCheckoutAsyncFailed, EventCheckoutExpired,
	EventChargeRefunded, EventChargeRefundUpdated, EventRefundCreated, EventRefundUpdated, EventRefundFailed,
	EventDisputeCreated, EventDisputeUpdated, EventDisputeFundsWithdrawn, EventDisputeFundsReinstated, EventDisputeClosed,
	EventPaymentIntentSucceeded, EventPaymentIntentFailed, EventPaymentIntentCanceled, EventPaymentMethodDetached, EventCustomerDeleted,
}

// StripeEvent is a verified Stripe event, mapped to what the service needs:
// the one object it carries, of the kind its type names.
type StripeEvent struct {
	ID       string
	Type     string
	Livemode bool
	Created  time.Time
	Session  *StripeSession // checkout.session.*
	Charge   *StripeCharge  // charge.refunded
	Refund   *StripeRefund  // refund.*, charge.refund.updated
	Dispute  *StripeDispute // charge.dispute.*
	// PaymentIntent is set for payment_intent.succeeded and payment_failed.
	PaymentIntent *StripePaymentIntent
	// PaymentMethodID is the card of payment_method.detached; CustomerID
	// the customer of customer.deleted.
	PaymentMethodID string
	CustomerID      string
	Payload         []byte
	// Unusable says why a signed event cannot be used (a field we read has
	// another shape, the object is missing): it is recorded as failed.
	Unusable string
	// Ignore says why an event is recorded and not acted on (an event of a
	// connected account, a thin event).
	Ignore string
}

// StripeCharge is what the service reads of a charge.
type StripeCharge struct {
	ID             string
	PaymentIntent  string
	Amount         int64
	AmountRefunded int64 // in total so far, over every refund of the charge
	Currency       string
}

// StripeRefund is what the service reads of a refund.
type StripeRefund struct {
	ID            string
	Charge        string
	PaymentIntent string
	Amount        int64
	Currency      string
	Status        string // pending, requires_action, succeeded, failed, canceled
}

// StripeDispute is what the service reads of a dispute.
type StripeDispute struct {
	ID            string
	Charge        string
	PaymentIntent string
	Amount        int64
	Currency      string
	Status        string // warning_needs_response, needs_response, under_review, won, lost, …
}

// StripeSession is what the service reads of a Stripe Checkout Session.
type StripeSession struct {
	ID                string            `json:"id"`
	Status            string            `json:"status,omitempty"`
	PaymentStatus     string            `json:"payment_status,omitempty"`
	ClientReferenceID string            `json:"client_reference_id,omitempty"`
	Email             string            `json:"email,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	Mode              string            `json:"mode,omitempty"`
	AmountTotal       int64             `json:"amount_total,omitempty"`
	AmountSubtotal    int64             `json:"amount_subtotal,omitempty"`
	AmountDiscount    int64             `json:"amount_discount,omitempty"`
	Currency          string            `json:"currency,omitempty"`
	// Under Adaptive Pricing the customer pays in another currency; these
	// are the session's amounts in the currency it was created in.
	SourceAmountSubtotal int64      `json:"source_amount_subtotal,omitempty"`
	SourceCurrency       string     `json:"source_currency,omitempty"`
	PaymentIntent        string     `json:"payment_intent,omitempty"`
	SetupIntent          string     `json:"setup_intent,omitempty"` // of a setup-mode session
	Customer             string     `json:"customer,omitempty"`
	Livemode             bool       `json:"livemode,omitempty"`
	LineItems            []LineItem `json:"line_items,omitempty"`
}

// LineItem is one line of a Checkout Session.
type LineItem struct {
	PriceID  string `json:"price_id"`
	Quantity int64  `json:"quantity"`
}

// CheckoutRequest is what the service asks the payment provider for.
type CheckoutRequest struct {
	Account    Account
	Pack       Pack
	Quantity   int64
	SuccessURL string
	CancelURL  string
	// Reference is our own id of the request, kept in the session's and the
	// payment intent's metadata, so that a charge, refund or dispute can be
	// traced to its account even when the session's event is missing.
	Reference string
	// ExpiresAt, when set, is when the session expires (Stripe: 30 minutes
	// to 24 hours; its default is 24 hours).
	ExpiresAt time.Time
	// IdempotencyKey, when set, makes Stripe answer a repeated request with
	// the session it created the first time.
	IdempotencyKey string
	// CustomerID, when set, is the account's Stripe customer; with SaveCard
	// the payment also saves its card for off-session payments.
	CustomerID string
	SaveCard   bool
	// CardOnly limits the session to cards: a recharge's link, which must
	// be paid at once, not by a delayed method.
	CardOnly bool
}

// Payments is the payment provider (Stripe, through the stripe package).
type Payments interface {
	// CreateCheckoutSession creates a session and returns its id and URL.
	CreateCheckoutSession(ctx context.Context, req CheckoutRequest) (id, url string, err error)
	// RetrieveSession reads a session, with its line items when asked (an
	// extra call to Stripe).
	RetrieveSession(ctx context.Context, id string, withLineItems bool) (StripeSession, error)
	// CreateCustomer creates the account's customer, once however often it
	// is asked (an idempotency key derived from the account and from how
	// many customers it had before: generation).
	CreateCustomer(ctx context.Context, account Account, generation int64) (customerID string, err error)
	// CreateSetupSession creates a Checkout session in setup mode that
	// saves a card for the customer.
	CreateSetupSession(ctx context.Context, req SetupRequest) (id, url string, err error)
	// SavedCard reads the card a setup or payment intent saved, and its customer.
	SavedCard(ctx context.Context, intentID string) (card SavedCard, customerID string, err error)
	// DetachPaymentMethod removes a saved card from its customer.
	DetachPaymentMethod(ctx context.Context, paymentMethodID string) error
	// ChargeOffSession creates and confirms an off-session payment intent.
	// A card error is an answer (ChargeResult.Code), not an error; an error
	// is a *PaymentFailure whose Treatment says what to do next (any other
	// error is treated as TreatLookUp).
	ChargeOffSession(ctx context.Context, charge OffSessionCharge) (ChargeResult, error)
	// RechargePayments lists the payment intents made for a customer at or
	// after since whose metadata names the recharge: what Stripe holds of
	// it, whatever the idempotency keys it was sent with.
	RechargePayments(ctx context.Context, customerID, rechargeID string, since time.Time) ([]StripePaymentIntent, error)
	// RetrievePaymentIntent reads a payment intent.
	RetrievePaymentIntent(ctx context.Context, id string) (StripePaymentIntent, error)
	// ExpireCheckoutSession ends an open Checkout session so that it can no
	// longer be paid (an error when it is not open: read it then).
	ExpireCheckoutSession(ctx context.Context, id string) error
}

// Treatments of a call to Stripe that got no usable answer (docs/stripe.md
// has the table).
const (
	// TreatRetry: nothing was done or Stripe is still doing it (a 409
	// idempotency_key_in_use, a 429, a request refused before it ran):
	// send the same key later.
	TreatRetry = "retry"
	// TreatLookUp: whether money moved is unknown (a lost connection, a
	// timeout): look the payment up, then send the same key.
	TreatLookUp = "look_up"
	// TreatLookUpNewKey: the key can only replay an error (a saved 500, an
	// idempotency_error): look the payment up, and send under a new key
	// only when Stripe has none.
	TreatLookUpNewKey = "look_up_new_key"
	// TreatFail: Stripe refused the request (another 4xx): the attempt
	// fails with Stripe's message.
	TreatFail = "fail"
)

// PaymentFailure is a call to the payment provider that got no usable
// answer, with what to do about it.
type PaymentFailure struct {
	Treatment  string
	HTTPStatus int    // 0 when no answer came
	Code       string // Stripe's error code or type
	Message    string // Stripe's message, safe to show
	Err        error
}

func (e *PaymentFailure) Error() string {
	switch {
	case e.HTTPStatus != 0 && e.Code != "":
		return fmt.Sprintf("stripe answered %d %s: %s", e.HTTPStatus, e.Code, e.Message)
	case e.HTTPStatus != 0:
		return fmt.Sprintf("stripe answered %d: %s", e.HTTPStatus, e.Message)
	case e.Err != nil:
		return "no answer from stripe: " + e.Err.Error()
	}
	return "no answer from stripe"
}

func (e *PaymentFailure) Unwrap() error { return e.Err }

// permanent reports whether Stripe refused a request for good (a 4xx other
// than those worth sending again): the same request would be refused again.
func permanent(err error) bool {
	var failure *PaymentFailure
	return errors.As(err, &failure) && failure.Treatment == TreatFail
}

// treatmentOf says how to treat an error of a call to Stripe.
func treatmentOf(err error) *PaymentFailure {
	var failure *PaymentFailure
	if errors.As(err, &failure) {
		return failure
	}
	return &PaymentFailure{Treatment: TreatLookUp, Err: err}
}

// IsPaid reports whether a session's payment status lets us credit it.
func (s StripeSession) IsPaid() bool {
	return s.PaymentStatus == "paid" || s.PaymentStatus == "no_payment_required"
}
