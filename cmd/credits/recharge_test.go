package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/stripemock"
	"github.com/credits/credits/internal/testkit"
)

// stripeProxy stands in front of stripe-mock and records what reaches
// Stripe. stripe-mock keeps no state (a confirmed payment intent is never
// "succeeded" there), so the proxy fills in what real Stripe would answer
// to an off-session payment of a good card; while hold is set, a payment
// intent request is recorded and never answered, as when the process dies
// mid-call.
type stripeProxy struct {
	mu   sync.Mutex
	hold bool
	// paymentIntents are the Idempotency-Keys of the payment intent requests.
	paymentIntents []string
	forms          []url.Values
}

func (p *stripeProxy) keys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paymentIntents...)
}

func startStripeProxy(t *testing.T) (*stripeProxy, string) {
	target, err := url.Parse(stripemock.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	p := &stripeProxy{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != "/v1/payment_intents" || resp.Request.Method != http.MethodPost {
			return nil
		}
		var object map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&object); err != nil {
			return err
		}
		resp.Body.Close()
		form := resp.Request.Form
		object["id"] = "pi_" + resp.Request.Header.Get("Idempotency-Key") // one payment intent per key, as Stripe keeps it
		object["status"], object["amount"], object["currency"] = "succeeded", json.Number(form.Get("amount")), form.Get("currency")
		body, _ := json.Marshal(object)
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.Method == http.MethodPost && r.URL.Path == "/v1/payment_intents" {
			r.Form, _ = url.ParseQuery(string(body))
			p.mu.Lock()
			p.paymentIntents = append(p.paymentIntents, r.Header.Get("Idempotency-Key"))
			p.forms = append(p.forms, r.Form)
			hold := p.hold
			p.mu.Unlock()
			if hold {
				<-r.Context().Done() // the caller died waiting
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// TestRechargeSurvivesKill9: the process dies between recording a recharge
// (and sending its payment intent) and Stripe's answer; after a restart the
// same Idempotency-Key goes to Stripe, so the card is charged at most once,
// and the credits arrive once, from the answer and from the signed
// payment_intent.succeeded however often it is delivered.
func TestRechargeSurvivesKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	bin := buildBinary(t)
	dbPath := filepath.Join(t.TempDir(), "credits.db")
	stripeAPI, apiBase := startStripeProxy(t)
	start := func() (*exec.Cmd, client) {
		return startServe(t, bin, "CREDITS_DATABASE_URL="+dbPath, "STRIPE_SECRET_KEY=sk_test_123",
			"STRIPE_WEBHOOK_SECRET="+testkit.WebhookSecret, "STRIPE_API_BASE="+apiBase, "CREDITS_RECHARGE_LEASE=5s")
	}
	first, c := start()
	c.must(201, "POST", "/v1/packs", map[string]any{"id": "starter", "name": "Starter", "credits": 100, "unit_amount": 500, "currency": "usd"})
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "u1", "email": "u1@example.com"})
	c.must(201, "POST", "/v1/accounts/u1/grants", map[string]any{"amount": 100, "reason": "start"})
	saveCard(t, c, "u1")
	c.must(200, "PUT", "/v1/accounts/u1/auto_recharge", map[string]any{"enabled": true, "threshold": 50, "pack_id": "starter", "quantity": 1, "monthly_limit": 5000})

	stripeAPI.mu.Lock()
	stripeAPI.hold = true
	stripeAPI.mu.Unlock()
	if status, body := c.call("POST", "/v1/accounts/u1/debits", map[string]any{"amount": 60}, map[string]string{"Idempotency-Key": "d1"}); status != 201 {
		t.Fatalf("debit answered %d %v", status, body)
	}
	waitFor(t, 15*time.Second, "the payment intent request", func() bool { return len(stripeAPI.keys()) > 0 })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	stripeAPI.mu.Lock()
	stripeAPI.hold = false
	stripeAPI.mu.Unlock()

	_, c = start()
	waitFor(t, 30*time.Second, "the recharge's credits", func() bool { return c.must(200, "GET", "/v1/accounts/u1", nil)["balance"] == 140.0 })
	keys := stripeAPI.keys()
	if len(keys) != 2 || keys[0] != keys[1] || keys[0][:4] != credits.RechargeReferencePrefix {
		t.Fatalf("payment intent requests with keys %v, want the recharge id twice", keys)
	}
	form := stripeAPI.forms[1]
	for k, v := range map[string]string{"off_session": "true", "confirm": "true", "amount": "500", "currency": "usd", "payment_method": stripeAPI.forms[0].Get("payment_method"),
		"metadata[account_id]": "u1", "metadata[credits_recharge]": keys[0]} {
		if form.Get(k) != v || v == "" {
			t.Errorf("payment intent %s = %q, want %q", k, form.Get(k), v)
		}
	}
	// Stripe's event for the same payment intent, delivered twice, adds nothing.
	for _, id := range []string{"evt_pi_1", "evt_pi_1", "evt_pi_2"} {
		payload := testkit.PaymentIntent(id, credits.EventPaymentIntentSucceeded, "pi_"+keys[0], 500, map[string]string{credits.RechargeMetadataKey: keys[0]}, "", "")
		status, body := c.webhook(payload)
		if status != 200 {
			t.Fatalf("webhook answered %d %v", status, body)
		}
	}
	account := c.must(200, "GET", "/v1/accounts/u1", nil)
	ar := c.must(200, "GET", "/v1/accounts/u1/auto_recharge", nil)
	if account["balance"] != 140.0 || ar["last_attempt"].(map[string]any)["status"] != "succeeded" || ar["month_total"] != 500.0 {
		t.Errorf("after the events: balance %v, auto-recharge %v", account["balance"], ar)
	}
}

// saveCard saves a card for an account the way Stripe does it: a setup
// session, then its signed checkout.session.completed; the service reads the
// card from the setup intent (stripe-mock's).
func saveCard(t *testing.T, c client, accountID string) {
	t.Helper()
	session := c.must(201, "POST", "/v1/accounts/"+accountID+"/setup_sessions", nil)
	customer := c.must(200, "GET", "/v1/accounts/"+accountID+"/auto_recharge", nil)["customer_id"].(string)
	payload := testkit.Event("evt_setup_"+accountID, credits.EventCheckoutCompleted, false, testkit.Session{ID: session["id"].(string), Mode: "setup",
		PaymentStatus: "no_payment_required", SetupIntent: "seti_" + accountID, Customer: customer, Metadata: map[string]string{"account_id": accountID}})
	if status, body := c.webhook(payload); status != 200 {
		t.Fatalf("setup session event answered %d %v", status, body)
	}
	waitFor(t, 15*time.Second, "the saved card", func() bool {
		return c.must(200, "GET", "/v1/accounts/"+accountID+"/auto_recharge", nil)["card"] != nil
	})
}

// webhook posts a signed Stripe event.
func (c client) webhook(payload []byte) (int, map[string]any) {
	return c.call("POST", "/stripe/webhook", payload, map[string]string{"Stripe-Signature": testkit.Sign(payload)})
}
