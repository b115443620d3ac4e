package credits

import "context"

// Checkout event types that the service acts on.
const (
	EventCheckoutCompleted      = "checkout.session.completed"
	EventCheckoutAsyncSucceeded = "checkout.session.async_payment_succeeded"
	EventCheckoutAsyncFailed    = "checkout.session.async_payment_failed"
	EventCheckoutExpired        = "checkout.session.expired"
	EventChargeRefunded         = "charge.refunded"
	EventDisputeCreated         = "charge.dispute.created"
	EventDisputeClosed          = "charge.dispute.closed"
)

// StripeEvent is a verified Stripe event, mapped to what the service needs.
// Session is set for checkout.session.* events.
type StripeEvent struct {
	ID       string
	Type     string
	Livemode bool
	Session  *StripeSession
	Charge   *StripeCharge  // charge.refunded
	Dispute  *StripeDispute // charge.dispute.*
	Payload  []byte
}

// StripeCharge is what the service reads of a refunded charge.
type StripeCharge struct {
	ID             string
	PaymentIntent  string
	Amount         int64
	AmountRefunded int64 // in total so far, over every refund of the charge
	Currency       string
}

// StripeDispute is what the service reads of a dispute.
type StripeDispute struct {
	ID            string
	PaymentIntent string
	Amount        int64
	Currency      string
	Status        string // won, lost, needs_response, …
}

// StripeSession is what the service reads of a Stripe Checkout Session.
type StripeSession struct {
	ID                string            `json:"id"`
	Status            string            `json:"status,omitempty"`
	PaymentStatus     string            `json:"payment_status,omitempty"`
	ClientReferenceID string            `json:"client_reference_id,omitempty"`
	Email             string            `json:"email,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	AmountTotal       int64             `json:"amount_total,omitempty"`
	Currency          string            `json:"currency,omitempty"`
	PaymentIntent     string            `json:"payment_intent,omitempty"`
	Livemode          bool              `json:"livemode,omitempty"`
	LineItems         []LineItem        `json:"line_items,omitempty"`
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
}

// Payments is the payment provider (Stripe, through the stripe package).
type Payments interface {
	// CreateCheckoutSession creates a session and returns its id and URL.
	CreateCheckoutSession(ctx context.Context, req CheckoutRequest) (id, url string, err error)
	// RetrieveSession reads a session with its line items.
	RetrieveSession(ctx context.Context, id string) (StripeSession, error)
}

// IsPaid reports whether a session's payment status lets us credit it.
func (s StripeSession) IsPaid() bool {
	return s.PaymentStatus == "paid" || s.PaymentStatus == "no_payment_required"
}
