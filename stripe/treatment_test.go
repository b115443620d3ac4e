package stripe_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/stripestub"
	"github.com/credits/credits/stripe"
)

// charge is a recharge's off-session charge as the worker sends it.
func charge(key, pm string) credits.OffSessionCharge {
	return credits.OffSessionCharge{IdempotencyKey: key, CustomerID: "cus_t", PaymentMethodID: pm, Amount: 500, Currency: "usd",
		Description: "Auto-recharge: 100 credits", Metadata: map[string]string{"account_id": "u1", credits.RechargeMetadataKey: "rch_1"}}
}

// treatment says how the service treats what a charge got.
func treatment(res credits.ChargeResult, err error) string {
	var f *credits.PaymentFailure
	switch {
	case errors.As(err, &f):
		return f.Treatment
	case err != nil:
		return "unclassified: " + err.Error()
	case res.Code != "":
		return "answer " + res.Code + "/" + res.DeclineCode
	}
	return "answer " + res.Status
}

// TestChargeAnswersTreated: each kind of Stripe answer to an off-session
// charge is classified as docs/stripe.md's table says, against a stand-in
// that keeps idempotency keys as Stripe does.
func TestChargeAnswersTreated(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(s *stripestub.Stub)
		want  string
	}{
		{"succeeded", func(*stripestub.Stub) {}, "answer succeeded"},
		{"processing", func(s *stripestub.Stub) { s.SetOutcome("pm_t", stripestub.Processing()) }, "answer processing"},
		{"hard decline", func(s *stripestub.Stub) { s.SetOutcome("pm_t", stripestub.Declined("lost_card")) }, "answer card_declined/lost_card"},
		{"authentication", func(s *stripestub.Stub) { s.SetOutcome("pm_t", stripestub.AuthenticationRequired()) }, "answer authentication_required/authentication_required"},
		{"a 500 saved under the key", func(s *stripestub.Stub) { s.FailNext("POST", "/v1/payment_intents", 500) }, credits.TreatLookUpNewKey},
		{"429", func(s *stripestub.Stub) { s.RateLimitNext(5) }, credits.TreatRetry},
		{"amount too small", func(s *stripestub.Stub) {
			s.SetOutcome("pm_t", stripestub.InvalidRequest(400, "amount_too_small", "amount", "Amount must be at least $0.50 usd"))
		}, credits.TreatFail},
		{"card of no customer's", func(s *stripestub.Stub) { s.AttachPaymentMethod("pm_t", "cus_other") }, credits.TreatFail},
		{"lost answer, and stripe-go's retries' too", dropAnswers, credits.TreatLookUp},
		{"lost answer, replayed to stripe-go's retry", func(s *stripestub.Stub) { s.DropAnswerNext("POST", "/v1/payment_intents") }, "answer succeeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub := stripestub.Start(t)
			tc.setup(stub)
			client := stripe.NewClient("sk_test_123", stub.URL)
			if got := treatment(client.ChargeOffSession(context.Background(), charge("rch_1", "pm_t"))); got != tc.want {
				t.Errorf("treated as %q, want %q", got, tc.want)
			}
		})
	}
}

// dropAnswers loses the answers of a charge and of stripe-go's retries of
// it (two, by default), as a network that fails for a while.
func dropAnswers(s *stripestub.Stub) {
	for range 3 {
		s.DropAnswerNext("POST", "/v1/payment_intents")
	}
}

// TestChargeKeyReused: the same key with other parameters (another card)
// answers idempotency_error, to be looked up; a key in use answers 409, to
// be sent later; the same key again after a saved 500 replays the 500.
func TestChargeKeyReused(t *testing.T) {
	stub := stripestub.Start(t)
	client := stripe.NewClient("sk_test_123", stub.URL)
	ctx := context.Background()
	if got := treatment(client.ChargeOffSession(ctx, charge("rch_1", "pm_a"))); got != "answer succeeded" {
		t.Fatalf("first charge: %s", got)
	}
	if got := treatment(client.ChargeOffSession(ctx, charge("rch_1", "pm_b"))); got != credits.TreatLookUpNewKey {
		t.Errorf("same key, another card: %s", got)
	}
	stub.FailNext("POST", "/v1/payment_intents", 500)
	for i := range 2 {
		if got := treatment(client.ChargeOffSession(ctx, charge("rch_2", "pm_a"))); got != credits.TreatLookUpNewKey {
			t.Errorf("saved 500, send %d: %s", i, got)
		}
	}
	hold := stub.HoldNext("POST", "/v1/payment_intents")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = client.ChargeOffSession(ctx, charge("rch_3", "pm_a"))
	}()
	<-hold.Arrived()
	if got := treatment(client.ChargeOffSession(ctx, charge("rch_3", "pm_a"))); got != credits.TreatRetry {
		t.Errorf("key in use: %s", got)
	}
	hold.Release()
	<-done
	if n := len(stub.SucceededPaymentIntents()); n != 2 {
		t.Errorf("%d payments took money, want 2 (rch_1 and rch_3)", n)
	}
}

// TestRechargePaymentsFindsWhatStripeHolds: the look-up finds a recharge's
// payment intents by metadata among the customer's, whatever key made them,
// after Stripe forgot the keys; the charge names card as its only method.
func TestRechargePaymentsFindsWhatStripeHolds(t *testing.T) {
	stub := stripestub.Start(t)
	stub.SetSearchLag(time.Minute) // a search would miss them: the look-up lists
	client := stripe.NewClient("sk_test_123", stub.URL)
	ctx := context.Background()
	since := stub.Now().Add(-time.Minute)
	dropAnswers(stub)
	if _, err := client.ChargeOffSession(ctx, charge("rch_1", "pm_a")); err == nil {
		t.Fatal("the dropped answer came through")
	}
	other := charge("rch_2", "pm_a")
	other.Metadata = map[string]string{credits.RechargeMetadataKey: "rch_2"}
	if _, err := client.ChargeOffSession(ctx, other); err != nil {
		t.Fatal(err)
	}
	stub.PruneIdempotencyKeys()
	found, err := client.RechargePayments(ctx, "cus_t", "rch_1", since)
	if err != nil || len(found) != 1 || found[0].Status != "succeeded" || found[0].Amount != 500 || found[0].Metadata[credits.RechargeMetadataKey] != "rch_1" {
		t.Fatalf("found %+v (%v)", found, err)
	}
	pi, err := client.RetrievePaymentIntent(ctx, found[0].ID)
	if err != nil || pi.ID != found[0].ID || pi.Customer != "cus_t" {
		t.Errorf("retrieved %+v (%v)", pi, err)
	}
	for _, r := range stub.Requests() {
		if r.Method == "POST" && r.Path == "/v1/payment_intents" && r.Form.Get("payment_method_types[0]") != "card" {
			t.Errorf("payment intent sent with payment_method_types %v", r.Form["payment_method_types[0]"])
		}
	}
}

// TestCustomersAfterDeletion: a customer created after the first was
// deleted takes a new key, so Stripe makes a new one rather than replaying
// the deleted one.
func TestCustomersAfterDeletion(t *testing.T) {
	stub := stripestub.Start(t)
	client := stripe.NewClient("sk_test_123", stub.URL)
	ctx := context.Background()
	account := credits.Account{ID: "u1", Email: "u1@example.com"}
	first, err := client.CreateCustomer(ctx, account, 0)
	if err != nil {
		t.Fatal(err)
	}
	stub.DeleteCustomer(first)
	if again, _ := client.CreateCustomer(ctx, account, 0); again != first {
		t.Errorf("the same key made %s, want the deleted %s replayed (as Stripe does)", again, first)
	}
	second, err := client.CreateCustomer(ctx, account, 1)
	if err != nil || second == first {
		t.Errorf("after deletion: %q (%v), want a new customer", second, err)
	}
}

// TestRechargeLinkCardOnlyAndExpired: a recharge's link is a card-only
// session for the customer, and expiring it ends it in Stripe.
func TestRechargeLinkCardOnlyAndExpired(t *testing.T) {
	stub := stripestub.Start(t)
	client := stripe.NewClient("sk_test_123", stub.URL)
	ctx := context.Background()
	customer := stub.CreateCustomer("u1@example.com")
	req := credits.CheckoutRequest{Account: credits.Account{ID: "u1", Email: "u1@example.com"},
		Pack: credits.Pack{ID: "starter", Name: "Starter", Credits: 100, UnitAmount: 500, Currency: "usd"}, Quantity: 1,
		SuccessURL: "https://x/ok", CancelURL: "https://x/no", Reference: "rch_1", CustomerID: customer, CardOnly: true}
	id, _, err := client.CreateCheckoutSession(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range stub.Requests() {
		if r.Path == "/v1/checkout/sessions" && (r.Form.Get("payment_method_types[0]") != "card" || r.Form.Get("customer") != customer) {
			t.Errorf("link request %v", r.Form)
		}
	}
	if err := client.ExpireCheckoutSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	session, err := client.RetrieveSession(ctx, id, false)
	if err != nil || session.Status != "expired" {
		t.Errorf("session %+v (%v)", session, err)
	}
	if err := client.ExpireCheckoutSession(ctx, id); err == nil {
		t.Error("expired twice")
	}
}
