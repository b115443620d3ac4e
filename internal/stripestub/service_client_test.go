package stripestub

import (
	"slices"
	"testing"
	"time"

	"github.com/credits/credits"
	creditsstripe "github.com/credits/credits/stripe"
)

// TestTheServiceClientReadsEveryAnswer runs the service's own Stripe client
// (stripe/client.go, stripe/recharge.go) against the stub.
func TestTheServiceClientReadsEveryAnswer(t *testing.T) {
	t.Parallel()
	s := Start(t)
	client := creditsstripe.NewClient("sk_test_stub", s.URL)
	account := credits.Account{ID: "u1", Email: "u1@example.com"}
	customer, err := client.CreateCustomer(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	setupID, _, err := client.CreateSetupSession(ctx, credits.SetupRequest{Account: account, CustomerID: customer,
		SuccessURL: "https://example.com/ok", CancelURL: "https://example.com/cancel"})
	if err != nil {
		t.Fatal(err)
	}
	s.CompleteSession(setupID, "pm_saved")
	setup, err := client.RetrieveSession(ctx, setupID, false)
	if err != nil {
		t.Fatal(err)
	}
	card, cardCustomer, err := client.SavedCard(ctx, setup.SetupIntent)
	if err != nil || card.PaymentMethodID != "pm_saved" || cardCustomer != customer || card.Last4 != "4242" {
		t.Fatalf("saved card %+v of %s (%v), want pm_saved of %s", card, cardCustomer, err, customer)
	}
	charge := credits.OffSessionCharge{IdempotencyKey: "rch_1", CustomerID: customer, PaymentMethodID: card.PaymentMethodID,
		Amount: 500, Currency: "usd", Description: "recharge", Metadata: map[string]string{"credits_recharge": "rch_1"}}
	paid, err := client.ChargeOffSession(ctx, charge)
	if err != nil || paid.Status != "succeeded" || paid.Amount != 500 || paid.Currency != "usd" {
		t.Fatalf("charge %+v (%v), want succeeded 500 usd", paid, err)
	}
	s.SetOutcome("pm_saved", Declined("insufficient_funds"))
	charge.IdempotencyKey = "rch_2"
	declined, err := client.ChargeOffSession(ctx, charge)
	if err != nil || declined.Code != "card_declined" || declined.DeclineCode != "insufficient_funds" ||
		declined.Status != "requires_payment_method" || declined.PaymentIntent == "" {
		t.Errorf("declined %+v (%v), want card_declined insufficient_funds with its PaymentIntent", declined, err)
	}

	sessionID, url, err := client.CreateCheckoutSession(ctx, credits.CheckoutRequest{Account: account, CustomerID: customer,
		Pack: credits.Pack{ID: "starter", Name: "Starter", UnitAmount: 500, Currency: "usd"}, Quantity: 2,
		SuccessURL: "https://example.com/ok", CancelURL: "https://example.com/cancel", Reference: "chk_1",
		ExpiresAt: s.Now().Add(time.Hour), IdempotencyKey: "chk_1"})
	if err != nil || url == "" {
		t.Fatalf("checkout %s %q (%v)", sessionID, url, err)
	}
	s.CompleteSession(sessionID, "pm_card_visa")
	session, err := client.RetrieveSession(ctx, sessionID, true)
	if err != nil {
		t.Fatal(err)
	}
	if session.PaymentStatus != "paid" || session.AmountTotal != 1000 || session.Currency != "usd" || session.PaymentIntent == "" ||
		session.Metadata["credits_checkout"] != "chk_1" || len(session.LineItems) != 1 || session.LineItems[0].Quantity != 2 {
		t.Errorf("session %+v, want paid 1000 usd, two packs", session)
	}

	if err := client.DetachPaymentMethod(ctx, "pm_saved"); err != nil {
		t.Errorf("detach: %v", err)
	}
	var types []string
	for ev, err := range client.Events(ctx, s.Now().Add(-time.Minute)) {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
	}
	for _, want := range []string{"payment_intent.succeeded", "payment_intent.payment_failed", "checkout.session.completed", "payment_method.detached"} {
		if !slices.Contains(types, want) {
			t.Errorf("replayed events %v, want %s among them", types, want)
		}
	}
}
