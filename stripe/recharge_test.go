package stripe_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/stripe"
)

func offSessionCharge() credits.OffSessionCharge {
	return credits.OffSessionCharge{IdempotencyKey: "rch_1", CustomerID: "cus_1", PaymentMethodID: "pm_1", Amount: 500, Currency: "usd",
		Description: "Auto-recharge: 100 credits", Metadata: map[string]string{"account_id": "u1", "pack_id": "starter", "quantity": "1", "credits_recharge": "rch_1"}}
}

// TestChargeOffSession checks the payment intent request against stripe-mock,
// then what each of Stripe's answers becomes: the recording proxy rewrites
// stripe-mock's answer where real Stripe would say more (succeeded, a card
// error with its payment intent, a 500).
func TestChargeOffSession(t *testing.T) {
	rec, base := startRecorder(t)
	client := stripe.NewClient("sk_test_123", base)
	res, err := client.ChargeOffSession(context.Background(), offSessionCharge())
	if err != nil {
		t.Fatal(err)
	}
	if res.PaymentIntent == "" || res.Code != "" {
		t.Errorf("stripe-mock's answer read as %+v", res)
	}
	if len(rec.paths) != 1 || rec.paths[0] != "POST /v1/payment_intents" || rec.idempotencyKeys[0] != "rch_1" {
		t.Fatalf("requests %v with keys %v, want one payment intent with Idempotency-Key rch_1", rec.paths, rec.idempotencyKeys)
	}
	want := map[string]string{"amount": "500", "currency": "usd", "customer": "cus_1", "payment_method": "pm_1", "confirm": "true",
		"off_session": "true", "metadata[account_id]": "u1", "metadata[pack_id]": "starter", "metadata[quantity]": "1",
		"metadata[credits_recharge]": "rch_1"}
	for k, v := range want {
		if got := rec.forms[0].Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	tests := []struct {
		name   string
		answer func(status int, body []byte) (int, []byte)
		want   credits.ChargeResult
		err    bool
	}{
		{"succeeded", func(status int, body []byte) (int, []byte) {
			return status, rewrite(t, body, map[string]any{"id": "pi_ok", "status": "succeeded", "amount": 500, "currency": "usd"})
		}, credits.ChargeResult{PaymentIntent: "pi_ok", Status: "succeeded", Amount: 500, Currency: "usd"}, false},
		{"authentication required", func(int, []byte) (int, []byte) {
			return http.StatusPaymentRequired, cardError("authentication_required", "", "pi_auth")
		}, credits.ChargeResult{PaymentIntent: "pi_auth", Status: "requires_payment_method", Code: "authentication_required", Message: "declined"}, false},
		{"declined", func(int, []byte) (int, []byte) {
			return http.StatusPaymentRequired, cardError("card_declined", "insufficient_funds", "pi_declined")
		}, credits.ChargeResult{PaymentIntent: "pi_declined", Status: "requires_payment_method", Code: "card_declined", DeclineCode: "insufficient_funds", Message: "declined"}, false},
		{"no answer", func(int, []byte) (int, []byte) {
			return http.StatusInternalServerError, []byte(`{"error":{"type":"api_error","message":"oops"}}`)
		}, credits.ChargeResult{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, base := startRecorder(t)
			rec.answer = func(_ string, status int, body []byte) (int, []byte) { return tt.answer(status, body) }
			got, err := stripe.NewClient("sk_test_123", base).ChargeOffSession(context.Background(), offSessionCharge())
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("got %+v, %v; want %+v (error: %v)", got, err, tt.want, tt.err)
			}
			for _, key := range rec.idempotencyKeys {
				if key != "rch_1" {
					t.Errorf("a request (or stripe-go's retry) went with key %q", key)
				}
			}
		})
	}
}

func rewrite(t *testing.T, body []byte, fields map[string]any) []byte {
	var object map[string]any
	if err := json.Unmarshal(body, &object); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		object[k] = v
	}
	out, _ := json.Marshal(object)
	return out
}

func cardError(code, declineCode, paymentIntent string) []byte {
	out, _ := json.Marshal(map[string]any{"error": map[string]any{"type": "card_error", "code": code, "decline_code": declineCode,
		"message": "declined", "payment_intent": map[string]any{"id": paymentIntent, "object": "payment_intent", "status": "requires_payment_method"}}})
	return out
}

func TestSavedCardsAndCustomers(t *testing.T) {
	rec, base := startRecorder(t)
	client := stripe.NewClient("sk_test_123", base)
	ctx := context.Background()
	account := credits.Account{ID: "u1", Email: "u1@example.com"}
	customer, err := client.CreateCustomer(ctx, account, 0)
	if err != nil || customer == "" {
		t.Fatalf("customer %q: %v", customer, err)
	}
	if rec.idempotencyKeys[0] != "credits-customer-u1" || rec.forms[0].Get("email") != "u1@example.com" || rec.forms[0].Get("metadata[account_id]") != "u1" {
		t.Errorf("customer request %v key %q", rec.forms[0], rec.idempotencyKeys[0])
	}
	id, url, err := client.CreateSetupSession(ctx, credits.SetupRequest{Account: account, CustomerID: "cus_1", SuccessURL: "http://x/ok", CancelURL: "http://x/no"})
	if err != nil || id == "" || url == "" {
		t.Fatalf("setup session %q %q: %v", id, url, err)
	}
	for k, v := range map[string]string{"mode": "setup", "customer": "cus_1", "payment_method_types[0]": "card", "metadata[account_id]": "u1", "success_url": "http://x/ok"} {
		if got := rec.forms[1].Get(k); got != v {
			t.Errorf("setup session %s = %q, want %q", k, got, v)
		}
	}
	card, _, err := client.SavedCard(ctx, "seti_123")
	if err != nil || card.PaymentMethodID == "" || card.Last4 == "" || card.Brand == "" {
		t.Errorf("card from a setup intent: %+v, %v", card, err)
	}
	if got := rec.queries[2].Get("expand[0]"); got != "payment_method" {
		t.Errorf("setup intent read without its payment method expanded (%q)", got)
	}
	if _, _, err := client.SavedCard(ctx, "pi_123"); err != nil {
		t.Errorf("card from a payment intent: %v", err)
	}
	if _, _, err := client.SavedCard(ctx, "ch_123"); err == nil {
		t.Error("a charge id was read as an intent")
	}
	if err := client.DetachPaymentMethod(ctx, "pm_123"); err != nil || rec.paths[len(rec.paths)-1] != "POST /v1/payment_methods/pm_123/detach" {
		t.Errorf("detach: %v (%v)", err, rec.paths)
	}
	// A purchase that saves its card: the customer instead of an email.
	_, _, err = client.CreateCheckoutSession(ctx, credits.CheckoutRequest{Account: account, Pack: credits.Pack{ID: "p", Name: "P", UnitAmount: 5, Currency: "usd"},
		Quantity: 1, SuccessURL: "http://x/ok", CancelURL: "http://x/no", CustomerID: "cus_1", SaveCard: true})
	if err != nil {
		t.Fatal(err)
	}
	form := rec.forms[len(rec.forms)-1]
	if form.Get("customer") != "cus_1" || form.Get("customer_email") != "" || form.Get("payment_intent_data[setup_future_usage]") != "off_session" ||
		form.Get("metadata[credits_save_card]") != "true" {
		t.Errorf("checkout that saves its card: %v", form)
	}
}
