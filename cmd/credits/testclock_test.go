package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits/creditswebhook"
	"github.com/credits/credits/internal/testkit"
)

// TestTestClockEndToEnd: on the real wiring in development, a day passes in
// a second. Credits that expire in two hours expire as soon as the clock is
// moved 25 hours, without any request touching the account: the sweeper is
// woken (its own tick is 10 s), and the dispatcher tells the application,
// signed with real time so that it verifies. A Stripe event signed now still
// verifies; the offset survives a restart; production has no test clock.
func TestTestClockEndToEnd(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "credits.db")
	vars := map[string]string{
		"CREDITS_DATABASE_URL":  dbPath,
		"CREDITS_API_KEY":       testAPIKey,
		"STRIPE_SECRET_KEY":     "sk_test_123",
		"STRIPE_API_BASE":       "http://127.0.0.1:1", // nothing here calls Stripe
		"STRIPE_WEBHOOK_SECRET": testkit.WebhookSecret,
	}
	m, base := startMain(t, vars)
	c := client{t, base}

	var mu sync.Mutex
	secret := ""
	expired := make(chan map[string]any, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		body, err := creditswebhook.VerifyRequest(r, secret)
		mu.Unlock()
		if err != nil {
			t.Errorf("a delivery that does not verify with real time: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		if ev["type"] == "credits.expired" {
			select {
			case expired <- ev:
			default:
			}
		}
	}))
	t.Cleanup(receiver.Close)
	created := c.must(201, "POST", "/v1/webhook_endpoints", map[string]any{"url": receiver.URL, "events": []string{"credits.expired"}})
	mu.Lock()
	secret = created["secret"].(string)
	mu.Unlock()
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "u1", "email": "u1@example.com"})
	c.must(201, "POST", "/v1/accounts/u1/grants", map[string]any{"amount": 50, "reason": "promo",
		"expires_at": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)})

	advanced := time.Now()
	state := c.must(200, "POST", "/v1/test_clock/advance", map[string]any{"seconds": 25 * 3600})
	if state["offset_seconds"] != float64(25*3600) {
		t.Fatalf("advance: %v", state)
	}
	select {
	case ev := <-expired:
		t.Logf("credits.expired reached the application %v after the advance: %v", time.Since(advanced), ev["data"])
	case <-time.After(5 * time.Second): // under the sweeper's 10 s tick: only the wake-up makes it
		t.Fatal("no credits.expired within 5 s of moving the clock 25 h")
	}
	if got := c.must(200, "GET", "/v1/accounts/u1", nil)["balance"]; got != float64(0) {
		t.Errorf("balance %v, want 0", got)
	}

	payload := testkit.Event("evt_after_a_day", "customer.created", false, testkit.Session{})
	status, out := c.call("POST", "/stripe/webhook", payload, map[string]string{"Stripe-Signature": testkit.Sign(payload)})
	if status != 200 {
		t.Errorf("a Stripe event signed now, 25 h into the test clock: %d %v", status, out)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, base = startMain(t, vars)
	c = client{t, base}
	if got := c.must(200, "GET", "/v1/test_clock", nil)["offset_seconds"]; got != float64(25*3600) {
		t.Errorf("offset after a restart: %v, want %d", got, 25*3600)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	production := map[string]string{"CREDITS_ENV": "production", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "CREDITS_PUBLIC_URL": "https://credits.example.com",
		"CREDITS_SIGNING_SECRET": "Kq8vZ2mT5xR9wL3nB7cF1hJ6pD4sG0yE",
		"STRIPE_API_BASE":        "https://127.0.0.1:1", "STRIPE_WEBHOOK_SECRET": "whsec_q8Zr2MxT4vLk9PwB7nYc3HdFj6Ws1Ea5"} // production needs https and strong secrets
	for k, v := range vars {
		if _, set := production[k]; !set {
			production[k] = v
		}
	}
	m, base = startMain(t, production)
	t.Cleanup(func() { m.Close() })
	c = client{t, base}
	if status, out := c.call("GET", "/v1/test_clock", nil, nil); status != 404 {
		t.Errorf("production: GET /v1/test_clock %d %v, want 404", status, out)
	}
	if status, out := c.call("POST", "/v1/test_clock/advance", map[string]any{"seconds": 60}, nil); status != 404 {
		t.Errorf("production: POST /v1/test_clock/advance %d %v, want 404", status, out)
	}
	if now := m.Service.Now(); now.Sub(time.Now()).Abs() > 5*time.Second {
		t.Errorf("production's clock %v, want real time: the stored offset is development's", now)
	}
}
