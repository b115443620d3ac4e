package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/internal/stripestub"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/postgres"
	"github.com/credits/credits/sqlite"
)

// TestRechargeKilledAndForgottenChargesOnce: the process dies while Stripe
// charges a recharge; it stays down for more than a day (25 h on the test
// clock) and Stripe forgets the idempotency key. On restart the worker looks
// the payment up instead of sending the key again: one charge in Stripe, one
// pack of credits, however often Stripe's event comes. On both stores.
func TestRechargeKilledAndForgottenChargesOnce(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "credits.db")
		killedRecharge(t, path, func() (credits.Store, func()) {
			store, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			return store, func() { store.Close() }
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		killedRecharge(t, url, func() (credits.Store, func()) {
			store, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			return store, func() { store.Close() }
		})
	})
}

func killedRecharge(t *testing.T, databaseURL string, open func() (credits.Store, func())) {
	bin := buildBinary(t)
	stub := stripestub.Start(t)
	start := func() (*exec.Cmd, client) {
		return startServe(t, bin, "CREDITS_DATABASE_URL="+databaseURL, "STRIPE_SECRET_KEY=sk_test_123",
			"STRIPE_WEBHOOK_SECRET="+testkit.WebhookSecret, "STRIPE_API_BASE="+stub.URL, "CREDITS_RECHARGE_LEASE=5s")
	}
	first, c := start()
	c.must(201, "POST", "/v1/packs", map[string]any{"id": "starter", "name": "Starter", "credits": 100, "unit_amount": 500, "currency": "usd"})
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "u1", "email": "u1@example.com"})
	c.must(201, "POST", "/v1/accounts/u1/grants", map[string]any{"amount": 100, "reason": "start"})
	saveCard(t, c, "u1")
	c.must(200, "PUT", "/v1/accounts/u1/auto_recharge", map[string]any{"enabled": true, "threshold": 50, "pack_id": "starter", "quantity": 1, "monthly_limit": 5000})

	hold := stub.HoldNext("POST", "/v1/payment_intents")
	if status, body := c.call("POST", "/v1/accounts/u1/debits", map[string]any{"amount": 60}, map[string]string{"Idempotency-Key": "d1"}); status != 201 {
		t.Fatalf("debit answered %d %v", status, body)
	}
	select {
	case <-hold.Arrived():
	case <-time.After(15 * time.Second):
		t.Fatal("the recharge's charge did not reach Stripe")
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	hold.Release() // Stripe charges the card all the same; the answer is lost
	waitFor(t, 10*time.Second, "the charge in Stripe", func() bool { return len(stub.SucceededPaymentIntents()) == 1 })
	stub.PruneIdempotencyKeys() // a day later Stripe may have forgotten the key

	_, c = start()
	c.must(200, "POST", "/v1/test_clock/advance", map[string]any{"seconds": 25 * 3600})
	waitFor(t, 30*time.Second, "the recharge's credits", func() bool { return c.must(200, "GET", "/v1/accounts/u1", nil)["balance"] == 140.0 })
	if n := len(stub.SucceededPaymentIntents()); n != 1 {
		t.Fatalf("the card was charged %d times", n)
	}
	if keys := stub.IdempotencyKeys("/v1/payment_intents"); len(keys) != 1 {
		t.Errorf("payment intents sent with keys %v, want one send", keys)
	}
	pi := stub.SucceededPaymentIntents()[0]
	for _, id := range []string{"evt_late_1", "evt_late_1", "evt_late_2"} {
		payload := testkit.PaymentIntent(id, credits.EventPaymentIntentSucceeded, pi.ID, 500, pi.Metadata, "", "")
		if status, body := c.webhook(payload); status != 200 {
			t.Fatalf("webhook answered %d %v", status, body)
		}
	}
	if balance := c.must(200, "GET", "/v1/accounts/u1", nil)["balance"]; balance != 140.0 {
		t.Errorf("balance %v after Stripe's events, want 140", balance)
	}
	purchases := c.must(200, "GET", "/v1/accounts/u1/purchases", nil)["data"].([]any)
	if len(purchases) != 1 || purchases[0].(map[string]any)["recharge"] != true {
		t.Errorf("purchases %v, want one labelled as a recharge", purchases)
	}
	ar := c.must(200, "GET", "/v1/accounts/u1/auto_recharge", nil)
	if outcome, _ := ar["last_outcome"].(map[string]any); outcome["status"] != "succeeded" {
		t.Errorf("auto-recharge %v", ar)
	}
	store, closeStore := open()
	defer closeStore()
	if violations, err := credits.NewService(store).Verify(context.Background()); err != nil || len(violations) != 0 {
		t.Errorf("verify: %v %v", violations, err)
	}
}
