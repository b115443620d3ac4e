package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/credits/credits"
)

// The demo's saved cards and off-session payments follow Stripe's test
// cards: 4242 4242 4242 4242 pays, 4000 0027 6000 3184 needs
// authentication, 4000 0000 0000 0002 is declined (9995: insufficient
// funds). A saved card's id carries its number, so that it outlives a
// restart of the demo.
const paymentMethodPrefix = "pm_demo_"

// CreateCustomer returns a new simulated customer.
func (s *Checkout) CreateCustomer(_ context.Context, account credits.Account) (string, error) {
	return randomID("cus_demo_"), nil
}

// CreateSetupSession records a simulated setup-mode session: its page saves
// a test card and charges nothing.
func (s *Checkout) CreateSetupSession(_ context.Context, req credits.SetupRequest) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= sessionLimit {
		return "", "", errors.New("the demo checkout holds too many sessions; restart the demo")
	}
	id := randomID("cs_test_demo_")
	s.sessions[id] = &simulatedSession{setup: &req}
	return id, s.PublicURL + "/demo/checkout/" + id, nil
}

// SavedCard answers the test card that a simulated session saved.
func (s *Checkout) SavedCard(_ context.Context, intentID string) (credits.SavedCard, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	number, ok := s.intents[intentID]
	if !ok {
		return credits.SavedCard{}, "", fmt.Errorf("demo checkout: no intent %s (intents live in memory until a restart)", intentID)
	}
	for _, ss := range s.sessions {
		switch {
		case ss.setup != nil && ss.setupIntent == intentID:
			return savedCard(number), ss.setup.CustomerID, nil
		case ss.setup == nil && ss.paymentIntent == intentID:
			return savedCard(number), ss.req.CustomerID, nil
		}
	}
	return savedCard(number), "", nil
}

func savedCard(number string) credits.SavedCard {
	return credits.SavedCard{PaymentMethodID: paymentMethodPrefix + number + "_" + randomID("")[:8], Brand: "visa", Last4: number[len(number)-4:]}
}

// DetachPaymentMethod forgets nothing: the demo keeps no cards.
func (s *Checkout) DetachPaymentMethod(context.Context, string) error { return nil }

// ChargeOffSession answers as Stripe's test mode does for the saved test
// card, once per idempotency key (a retry gets the first answer), and sends
// the payment intent's event to the webhook, as Stripe does.
func (s *Checkout) ChargeOffSession(ctx context.Context, charge credits.OffSessionCharge) (credits.ChargeResult, error) {
	s.mu.Lock()
	res, seen := s.charges[charge.IdempotencyKey]
	if !seen {
		res = offSessionAnswer(charge)
		if len(s.charges) < sessionLimit {
			s.charges[charge.IdempotencyKey] = res
		}
	}
	s.mu.Unlock()
	if seen {
		return res, nil
	}
	eventType := credits.EventPaymentIntentSucceeded
	object := map[string]any{"id": res.PaymentIntent, "object": "payment_intent", "status": res.Status, "amount": charge.Amount,
		"currency": charge.Currency, "customer": charge.CustomerID, "payment_method": charge.PaymentMethodID, "metadata": charge.Metadata}
	if res.Code != "" {
		eventType = credits.EventPaymentIntentFailed
		object["last_payment_error"] = map[string]any{"code": res.Code, "decline_code": res.DeclineCode, "message": res.Message}
	}
	event, err := eventPayload(eventType, object)
	if err != nil {
		return res, err
	}
	go s.deliverWithRetries(event)
	return res, nil
}

func offSessionAnswer(charge credits.OffSessionCharge) credits.ChargeResult {
	res := credits.ChargeResult{PaymentIntent: randomID("pi_demo_"), Amount: charge.Amount, Currency: charge.Currency}
	number, _, _ := strings.Cut(strings.TrimPrefix(charge.PaymentMethodID, paymentMethodPrefix), "_")
	switch number {
	case CardPays:
		res.Status = "succeeded"
	case CardAuthentication:
		res.Status, res.Code = "requires_payment_method", "authentication_required"
		res.Message = "Your card was declined. This transaction requires authentication."
	case CardInsufficientFunds:
		res.Status, res.Code, res.DeclineCode = "requires_payment_method", "card_declined", "insufficient_funds"
		res.Message = "Your card has insufficient funds."
	default:
		res.Status, res.Code, res.DeclineCode = "requires_payment_method", "card_declined", "generic_decline"
		res.Message = "Your card was declined."
	}
	return res
}
