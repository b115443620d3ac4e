package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/credits/credits"
)

// The demo's saved cards and off-session payments follow Stripe's test
// cards: 4242 4242 4242 4242 pays, 4000 0027 6000 3184 needs
// authentication, 4000 0000 0000 0002 is declined (9995: insufficient
// funds). A saved card's id carries its number, so that it outlives a
// restart of the demo.
const paymentMethodPrefix = "pm_demo_"

// CreateCustomer returns a new simulated customer.
func (s *Checkout) CreateCustomer(_ context.Context, account credits.Account, _ int64) (string, error) {
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
	s.deliverWithRetries(event)
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

// RechargePayments finds the simulated payment intents of a recharge among
// the charges this demo answered since it started.
func (s *Checkout) RechargePayments(_ context.Context, customerID, rechargeID string, _ time.Time) ([]credits.StripePaymentIntent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []credits.StripePaymentIntent
	for key, res := range s.charges {
		if key == rechargeID || strings.HasPrefix(key, rechargeID+"-") {
			found = append(found, paymentIntentOf(res, customerID, rechargeID))
		}
	}
	return found, nil
}

// RetrievePaymentIntent answers a simulated payment intent this demo made.
func (s *Checkout) RetrievePaymentIntent(_ context.Context, id string) (credits.StripePaymentIntent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, res := range s.charges {
		if res.PaymentIntent == id {
			rechargeID, _, _ := strings.Cut(key, "-")
			return paymentIntentOf(res, "", rechargeID), nil
		}
	}
	return credits.StripePaymentIntent{}, fmt.Errorf("demo checkout: no payment intent %s (they live in memory until a restart)", id)
}

func paymentIntentOf(res credits.ChargeResult, customerID, rechargeID string) credits.StripePaymentIntent {
	return credits.StripePaymentIntent{ID: res.PaymentIntent, Status: res.Status, Amount: res.Amount, Currency: res.Currency,
		Customer: customerID, Metadata: map[string]string{credits.RechargeMetadataKey: rechargeID},
		Code: res.Code, DeclineCode: res.DeclineCode, Message: res.Message}
}

// ExpireCheckoutSession expires an open simulated session: it can no
// longer be paid.
func (s *Checkout) ExpireCheckoutSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	session, ok := s.sessions[id]
	switch {
	case !ok:
		return noSession(id)
	case session.paid:
		return fmt.Errorf("demo checkout: session %s is complete, not open", id)
	}
	session.expired = true
	return nil
}
