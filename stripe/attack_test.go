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

// TestAttackLookUpPastThreeHundred: the look-up lists every payment intent
// the customer made since ten minutes before the recharge, newest first,
// with no upper bound, and gives up past 300. A customer who paid 300
// times since (Checkout purchases are made for the same customer, and the
// look-up may run a day later) makes the recharge impossible to look up:
// the worker retries the list every 30 seconds for ever (see
// storetest's RechargeAttackLookUpThatNeverAnswers). The recharge's own
// payment intents can only have been made while it was being sent: a
// created[lte] bound (last send + a margin) would read a handful.
func TestAttackLookUpPastThreeHundred(t *testing.T) {
	stub := stripestub.Start(t)
	client := stripe.NewClient("sk_test_123", stub.URL)
	ctx := context.Background()
	since := stub.Now().Add(-10 * time.Minute)
	if _, err := client.ChargeOffSession(ctx, charge("rch_target", "pm_a")); err != nil {
		t.Fatal(err)
	}
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

// TestAttackLinkKeyWithNewExpiry: a recharge's Checkout link is asked for
// under the fixed key credits-recharge-checkout-<id>, but with expires_at
// computed anew from the clock at each try (linkRecharge). When the first
// request ran and its answer was lost, the retry a minute later carries
// other parameters: Stripe answers idempotency_error ("Keys for idempotent
// requests can only be used with the same parameters they were first used
// with", docs.stripe.com/api/idempotent_requests) until it prunes the key,
// 24 hours or more later. The link the customer needs is never made
// meanwhile (see storetest's RechargeAttackLinkNeverMade).
func TestAttackLinkKeyWithNewExpiry(t *testing.T) {
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
	req.ExpiresAt = req.ExpiresAt.Add(time.Minute) // the worker's next try, a minute later
	if id, _, err := client.CreateCheckoutSession(ctx, req); err != nil {
		t.Errorf("the link's retry: %v", err)
	} else if id == "" {
		t.Error("no session")
	}
}
