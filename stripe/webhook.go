package stripe

import (
	"fmt"
	"log/slog"

	"github.com/credits/credits"
)

// Webhook verifies and parses webhook requests.
type Webhook struct {
	Verifier Verifier
	// AllowUnsigned accepts events without a Stripe-Signature header; only
	// development without a configured secret sets it, as the original app
	// did, with a warning per event. A signed event is always verified.
	AllowUnsigned bool
	Logger        *slog.Logger
}

// ParseWebhook verifies the signature of payload, then parses it. Any error
// means the request is refused.
func (w *Webhook) ParseWebhook(payload []byte, signature string) (credits.StripeEvent, error) {
	if signature == "" && w.AllowUnsigned {
		if w.Logger != nil {
			w.Logger.Warn("STRIPE_WEBHOOK_SECRET is not set: accepting an UNVERIFIED webhook event (development only); set it to the whsec_ secret from `stripe listen` or the Dashboard")
		}
	} else if err := w.Verifier.Verify(payload, signature); err != nil {
		return credits.StripeEvent{}, err
	}
	ev, err := ParseEvent(payload)
	if err != nil {
		return ev, fmt.Errorf("invalid event: %w", err)
	}
	return ev, nil
}
