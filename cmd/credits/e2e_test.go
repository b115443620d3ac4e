package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/creditswebhook"
	"github.com/credits/credits/internal/stripemock"
	"github.com/credits/credits/internal/testkit"
)

const testAPIKey = "e2e_api_key_q8Zr2MxT4vLk9PwB7nYc3HdF" // strong enough for production

// env returns a getenv over the given variables only.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// startMain runs the real serve wiring on :0.
func startMain(t *testing.T, vars map[string]string) (*Main, string) {
	t.Helper()
	m := NewMain(io.Discard, io.Discard)
	if testing.Verbose() {
		m = NewMain(io.Discard, &testLogWriter{t})
	}
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0"}, env(vars)); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, "http://" + m.Addr()
}

type testLogWriter struct{ t *testing.T }

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type client struct {
	t    *testing.T
	base string
}

func (c client) call(method, path string, body any, header map[string]string) (int, map[string]any) {
	c.t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		reader = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, reader)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (c client) must(wantStatus int, method, path string, body any) map[string]any {
	c.t.Helper()
	status, out := c.call(method, path, body, nil)
	if status != wantStatus {
		c.t.Fatalf("%s %s: status %d, want %d: %v", method, path, status, wantStatus, out)
	}
	return out
}

func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "credits.db")
	vars := map[string]string{
		"CREDITS_DATABASE_URL":  dbPath,
		"CREDITS_API_KEY":       testAPIKey,
		"STRIPE_SECRET_KEY":     "sk_test_123",
		"STRIPE_WEBHOOK_SECRET": "whsec_old," + testkit.WebhookSecret,
		"STRIPE_API_BASE":       stripemock.Start(t),
	}
	m, base := startMain(t, vars)
	c := client{t, base}

	c.must(201, "POST", "/v1/packs", map[string]any{"id": "starter", "name": "Starter", "credits": 100, "unit_amount": 999, "currency": "usd", "stripe_price_id": "price_starter"})
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "user-1", "email": "user1@example.com"})
	session := c.must(201, "POST", "/v1/accounts/user-1/checkout_sessions", map[string]any{"pack_id": "starter", "quantity": 3})
	sessionID, _ := session["id"].(string)
	if url, _ := session["url"].(string); sessionID == "" || !strings.HasPrefix(url, "https://") {
		t.Fatalf("checkout session = %v", session)
	}

	payload := testkit.Event("evt_e2e", credits.EventCheckoutCompleted, false, testkit.Session{
		ID: sessionID, PaymentStatus: "paid", AmountTotal: 2997, Currency: "usd", PaymentIntent: "pi_e2e", CustomerEmail: "user1@example.com",
	})
	for range 2 { // a redelivery answers 200 and adds nothing
		status, out := c.call("POST", "/stripe/webhook", payload, map[string]string{"Stripe-Signature": testkit.Sign(payload)})
		if status != 200 || out["status"] != credits.EventProcessed {
			t.Fatalf("webhook: %d %v", status, out)
		}
	}
	check := func(c client) {
		t.Helper()
		account := c.must(200, "GET", "/v1/accounts/user-1", nil)
		if account["balance"] != 300.0 || account["available"] != 300.0 || account["trial"] != false {
			t.Errorf("account = %v, want balance 300 and trial false", account)
		}
		purchases := c.must(200, "GET", "/v1/accounts/user-1/purchases", nil)["data"].([]any)
		if len(purchases) != 1 {
			t.Fatalf("purchases = %v", purchases)
		}
		p := purchases[0].(map[string]any)
		if p["session_id"] != sessionID || p["quantity"] != 3.0 || p["credits"] != 300.0 || p["amount_paid"] != 2997.0 || p["payment_intent"] != "pi_e2e" {
			t.Errorf("purchase = %v", p)
		}
		entries := c.must(200, "GET", "/v1/accounts/user-1/entries", nil)
		data := entries["data"].([]any)
		if len(data) != 1 || data[0].(map[string]any)["kind"] != "purchase" || data[0].(map[string]any)["amount"] != 300.0 || entries["has_more"] != false {
			t.Errorf("entries = %v", entries)
		}
	}
	check(c)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart on the same file: everything is still there.
	m2, base2 := startMain(t, vars)
	defer m2.Close()
	check(client{t, base2})
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"verify", "--database-url", dbPath}, env(nil), &stdout, &stderr); code != 0 {
		t.Errorf("verify exit %d: %s %s", code, stdout.String(), stderr.String())
	}
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestCheckoutIdempotencyKey: a double click with the same Idempotency-Key
// creates one Stripe session and answers it twice; the key with another
// request answers 422. A proxy in front of stripe-mock counts the calls.
func TestCheckoutIdempotencyKey(t *testing.T) {
	t.Parallel()
	target, err := url.Parse(stripemock.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	var creates atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/checkout/sessions" {
			creates.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)
	vars := map[string]string{
		"CREDITS_DATABASE_URL": filepath.Join(t.TempDir(), "credits.db"), "CREDITS_API_KEY": testAPIKey,
		"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_WEBHOOK_SECRET": testkit.WebhookSecret, "STRIPE_API_BASE": counting.URL,
		"CREDITS_CHECKOUT_EXPIRES_IN": "2h",
	}
	_, base := startMain(t, vars)
	c := client{t, base}
	c.must(201, "POST", "/v1/packs", map[string]any{"id": "starter", "name": "Starter", "credits": 100, "unit_amount": 999, "currency": "usd"})
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "u1", "email": "u1@example.com"})
	key := map[string]string{"Idempotency-Key": "click-1"}
	status1, first := c.call("POST", "/v1/accounts/u1/checkout_sessions", map[string]any{"pack_id": "starter"}, key)
	status2, second := c.call("POST", "/v1/accounts/u1/checkout_sessions", map[string]any{"pack_id": "starter"}, key)
	if status1 != 201 || status2 != 201 || first["id"] == nil || first["id"] != second["id"] || first["url"] != second["url"] {
		t.Fatalf("double click: %d %v and %d %v, want the same session twice", status1, first, status2, second)
	}
	if n := creates.Load(); n != 1 {
		t.Errorf("%d sessions created at Stripe for one key, want 1", n)
	}
	if status, out := c.call("POST", "/v1/accounts/u1/checkout_sessions", map[string]any{"pack_id": "starter", "quantity": 2}, key); status != 422 {
		t.Errorf("the key with another request: %d %v, want 422", status, out)
	}
}

// TestUnsignedEventsOnlyInTheOfflineDemo: with a Stripe key and no webhook
// secret, an unsigned event is refused (it could credit a real session);
// with no key at all (the offline demo) it is accepted.
func TestUnsignedEventsOnlyInTheOfflineDemo(t *testing.T) {
	t.Parallel()
	payload := testkit.Event("evt_unsigned", "customer.created", false, testkit.Session{})
	for _, tt := range []struct {
		name string
		vars map[string]string
		want int
	}{
		{"a Stripe key without a webhook secret", map[string]string{"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_API_BASE": "http://127.0.0.1:1"}, http.StatusBadRequest},
		{"the offline demo", map[string]string{}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.vars["CREDITS_DATABASE_URL"] = filepath.Join(t.TempDir(), "credits.db")
			tt.vars["CREDITS_API_KEY"] = testAPIKey
			_, base := startMain(t, tt.vars)
			status, out := client{t, base}.call("POST", "/stripe/webhook", payload, nil)
			if status != tt.want {
				t.Errorf("unsigned event: %d %v, want %d", status, out, tt.want)
			}
		})
	}
}

// TestSigningSecretOutlivesAPIKeys: with no CREDITS_SIGNING_SECRET the
// secret is made once and kept in the database, so a link made before a
// restart with another CREDITS_API_KEY still opens the page. The link is made
// by a stored admin key: one made by CREDITS_API_KEY itself ends when its
// value changes (issue 30, TestAttack3BootstrapKeysLinksEndWithIt).
func TestSigningSecretOutlivesAPIKeys(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "credits.db")
	first, base := startMain(t, map[string]string{"CREDITS_DATABASE_URL": dbPath, "CREDITS_API_KEY": testAPIKey})
	c := client{t, base}
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "u1", "email": "u1@example.com"})
	stored := c.must(201, "POST", "/v1/api_keys", map[string]any{"name": "app", "scope": "admin"})["secret"].(string)
	status, out := c.call("POST", "/v1/accounts/u1/dashboard_sessions", nil, map[string]string{"Authorization": "Bearer " + stored})
	if status != http.StatusCreated {
		t.Fatalf("dashboard_sessions with a stored admin key: %d %v", status, out)
	}
	link := out["url"].(string)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	_, base2 := startMain(t, map[string]string{"CREDITS_DATABASE_URL": dbPath, "CREDITS_API_KEY": "another_api_key_0123456789abcdef"})
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(base2 + u.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "u1@example.com") {
		t.Fatalf("a link from before the restart: %d, want its page naming the account", resp.StatusCode)
	}
	// The link is exchanged once for a session (its token in the form, not the URL).
	resp, err = noRedirect.PostForm(base2+"/dashboard/login", url.Values{"token": {u.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard/credits" {
		t.Errorf("continuing with a link from before the restart: %d to %q, want 303 to the page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestWebhooksFromTheServer: through the real serve wiring, a grant reaches
// the application's endpoint, signed with the secret its creation answered.
func TestWebhooksFromTheServer(t *testing.T) {
	t.Parallel()
	got := make(chan string, 4)
	var secret atomic.Value
	secret.Store("")
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := creditswebhook.VerifyRequest(r, secret.Load().(string))
		if err != nil {
			t.Errorf("a delivery that does not verify: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got <- string(body)
	}))
	t.Cleanup(receiver.Close)
	_, base := startMain(t, map[string]string{"CREDITS_DATABASE_URL": filepath.Join(t.TempDir(), "credits.db"), "CREDITS_API_KEY": testAPIKey})
	c := client{t, base}
	created := c.must(201, "POST", "/v1/webhook_endpoints", map[string]any{"url": receiver.URL + "/credits", "events": []string{"credits.granted"}})
	secret.Store(created["secret"].(string))
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "u1", "email": "u1@example.com"})
	c.must(201, "POST", "/v1/accounts/u1/grants", map[string]any{"amount": 7, "reason": "welcome"})
	select {
	case body := <-got:
		if !strings.Contains(body, `"type":"credits.granted"`) || !strings.Contains(body, `"account_id":"u1"`) {
			t.Errorf("delivered %s", body)
		}
		var ev struct{ ID string }
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			t.Fatal(err)
		}
		endpoint := created["endpoint"].(map[string]any)["id"].(string)
		attempt := c.must(200, "POST", "/v1/webhook_endpoints/"+endpoint+"/events/"+ev.ID+"/resend", nil)
		if attempt["status_code"] != float64(200) || attempt["event_id"] != ev.ID {
			t.Errorf("resend answered %v", attempt)
		}
		if again := <-got; !strings.Contains(again, ev.ID) {
			t.Errorf("resent %s, want the same event", again)
		}
		c.must(404, "POST", "/v1/webhook_endpoints/"+endpoint+"/events/evt_missing/resend", nil)
		if ep := c.must(200, "POST", "/v1/webhook_endpoints/"+endpoint+"/enable", nil); ep["status"] != "enabled" {
			t.Errorf("enable answered %v", ep)
		}
		c.must(404, "POST", "/v1/webhook_endpoints/we_missing/enable", nil)
	case <-time.After(10 * time.Second):
		t.Fatal("no event reached the endpoint within 10 s")
	}
}
