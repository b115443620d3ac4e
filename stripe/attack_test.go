package stripe_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/stripestub"
	"github.com/credits/credits/stripe"
)

// TestAttackLookUpPastThreeHundred: a customer who paid many times since
// the recharge (Checkout purchases are made for the same customer, and the
// look-up may run a day later) has more payment intents in the look-up's
// window than it lists: past its bound the look-up searches by metadata,
// and still finds the recharge's payment.
func TestAttackLookUpPastThreeHundred(t *testing.T) {
	stub := stripestub.Start(t)
	client := stripe.NewClient("sk_test_123", stub.URL)
	ctx := context.Background()
	since := stub.Now().Add(-10 * time.Minute)
	target := charge("rch_target", "pm_a")
	target.Metadata = map[string]string{credits.RechargeMetadataKey: "rch_target"}
	if _, err := client.ChargeOffSession(ctx, target); err != nil {
		t.Fatal(err)
	}
	defer stripe.SetMaxRechargePayments(250)() // past it, the look-up searches
	for i := range 300 {
		other := charge(fmt.Sprint("rch_other_", i), "pm_a")
		other.Metadata = map[string]string{credits.RechargeMetadataKey: fmt.Sprint("rch_other_", i)}
		if _, err := client.ChargeOffSession(ctx, other); err != nil {
			t.Fatal(err)
		}
	}
	found, err := client.RechargePayments(ctx, "cus_t", "rch_target", since)
	if err != nil || len(found) != 1 {
		t.Errorf("the recharge's payment cannot be looked up: found %d (%v)", len(found), err)
	}
}

// TestLinkRetriedAfterALostAnswer: a recharge's Checkout link is asked for
// under the fixed key credits-recharge-checkout-<id> with an expiry fixed
// when the customer was to be asked (Recharge.LinkExpiresAt), so that after
// a lost answer the worker's next try is the same request, which Stripe
// answers with the session it made; a try with another expires_at would
// get idempotency_error until Stripe prunes the key
// (docs.stripe.com/api/idempotent_requests).
func TestLinkRetriedAfterALostAnswer(t *testing.T) {
	stub := stripestub.Start(t)
	client := stripe.NewClient("sk_test_123", stub.URL)
	ctx := context.Background()
	customer := stub.CreateCustomer("u1@example.com")
	req := credits.CheckoutRequest{Account: credits.Account{ID: "u1", Email: "u1@example.com"},
		Pack: credits.Pack{ID: "starter", Name: "Starter", Credits: 100, UnitAmount: 500, Currency: "usd"}, Quantity: 1,
		SuccessURL: "https://x/ok", CancelURL: "https://x/no", Reference: "rch_1", CustomerID: customer, CardOnly: true,
		IdempotencyKey: "credits-recharge-checkout-rch_1", ExpiresAt: stub.Now().Truncate(time.Minute).Add(time.Hour)}
	for range 3 { // the answer and stripe-go's two retries' are lost
		stub.DropAnswerNext("POST", "/v1/checkout/sessions")
	}
	if _, _, err := client.CreateCheckoutSession(ctx, req); err == nil {
		t.Fatal("the dropped answer came through")
	}
	id, _, err := client.CreateCheckoutSession(ctx, req) // the worker's next try: the same request
	if err != nil || id == "" {
		t.Fatalf("the link's retry: %q %v", id, err)
	}
	other := req
	other.ExpiresAt = req.ExpiresAt.Add(time.Minute)
	if _, _, err := client.CreateCheckoutSession(ctx, other); err == nil {
		t.Error("the same key with another expiry was accepted: the stand-in does not model idempotency_error")
	}
}
