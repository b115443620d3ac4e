package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/clock"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/sqlite"
)

// newClockHarness is a development server: its service reads a test clock,
// kept in db.
func newClockHarness(t *testing.T, db *sqlite.DB) *harness {
	t.Helper()
	return harnessOn(t, db, clock.New(nil))
}

// advance moves the test clock and returns the total offset it answers.
func (h *harness) advance(seconds int64) int64 {
	h.t.Helper()
	r := h.api("POST", "/v1/test_clock/advance", fmt.Sprintf(`{"seconds":%d}`, seconds))
	if r.status != http.StatusOK {
		h.t.Fatalf("advance %d: %d %s", seconds, r.status, r.raw)
	}
	return int64(r.body["offset_seconds"].(float64))
}

// clockAt reads GET /v1/test_clock.
func (h *harness) clockAt() (time.Time, int64) {
	h.t.Helper()
	r := h.api("GET", "/v1/test_clock", "")
	if r.status != http.StatusOK {
		h.t.Fatalf("GET /v1/test_clock: %d %s", r.status, r.raw)
	}
	now, err := time.Parse(time.RFC3339, r.body["now"].(string))
	if err != nil {
		h.t.Fatal(err)
	}
	return now, int64(r.body["offset_seconds"].(float64))
}

func TestTestClockAdvances(t *testing.T) {
	t.Parallel()
	db, _ := testkit.OpenSQLite(t)
	h := newClockHarness(t, db)
	near := func(got, want time.Time) bool { return got.Sub(want).Abs() < 5*time.Second }
	if now, offset := h.clockAt(); offset != 0 || !near(now, time.Now()) {
		t.Fatalf("at start: now %v offset %d, want real time and 0", now, offset)
	}
	if got := h.advance(25 * 3600); got != 25*3600 {
		t.Errorf("offset after 25 h: %d", got)
	}
	if got := h.advance(10); got != 25*3600+10 {
		t.Errorf("offset after 10 s more: %d", got)
	}
	now, offset := h.clockAt()
	if want := time.Now().Add(25*time.Hour + 10*time.Second); offset != 25*3600+10 || !near(now, want) {
		t.Errorf("now %v offset %d, want about %v and %d", now, offset, want, 25*3600+10)
	}
	if got := h.svc.Now(); !near(got, now) {
		t.Errorf("Service.Now = %v, want %v: the domain reads the test clock", got, now)
	}
}

func TestTestClockExpiresHoldsAndLots(t *testing.T) {
	t.Parallel()
	db, _ := testkit.OpenSQLite(t)
	h := newClockHarness(t, db)
	h.fund("u1", 100)
	hold := h.do("POST", "/v1/accounts/u1/holds", `{"amount":30,"expires_in_seconds":3600}`,
		map[string]string{"Authorization": "Bearer " + apiKey, "Idempotency-Key": "hold-1"})
	if hold.status != http.StatusCreated {
		t.Fatalf("hold: %d %s", hold.status, hold.raw)
	}
	expires := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	if r := h.api("POST", "/v1/accounts/u1/grants", `{"amount":50,"reason":"promo","expires_at":"`+expires+`"}`); r.status != http.StatusCreated {
		t.Fatalf("grant: %d %s", r.status, r.raw)
	}
	holdPath := fmt.Sprintf("/v1/holds/%v", hold.body["id"])
	account := func() (balance, available float64) {
		r := h.api("GET", "/v1/accounts/u1", "")
		return r.body["balance"].(float64), r.body["available"].(float64)
	}
	if balance, available := account(); balance != 150 || available != 120 {
		t.Fatalf("before: balance %v available %v, want 150 and 120", balance, available)
	}

	h.advance(3599)
	if r := h.api("GET", holdPath, ""); r.body["status"] != "held" {
		t.Errorf("at 3599 s: hold %s, want held", r.raw)
	}
	h.advance(2)
	if r := h.api("GET", holdPath, ""); r.body["status"] != "expired" {
		t.Errorf("at 3601 s: hold %s, want expired", r.raw)
	}
	if balance, available := account(); balance != 150 || available != 150 {
		t.Errorf("hold expired: balance %v available %v, want 150 and 150", balance, available)
	}
	h.advance(3600)
	if balance, available := account(); balance != 100 || available != 100 {
		t.Errorf("grant expired: balance %v available %v, want 100 and 100", balance, available)
	}
	entries := h.api("GET", "/v1/accounts/u1/entries", "")
	if !strings.Contains(string(entries.raw), `"kind":"expiry"`) {
		t.Errorf("no expiry entry: %s", entries.raw)
	}
}

func TestTestClockAdminOnly(t *testing.T) {
	t.Parallel()
	db, _ := testkit.OpenSQLite(t)
	h := newClockHarness(t, db)
	h.fund("u1", 0)
	key := func(scope, account string) string {
		_, secret, err := h.svc.CreateAPIKey(context.Background(), scope+" key", scope, account)
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	for _, tt := range []struct {
		name, secret string
		want         int
	}{
		{"read", key(credits.ScopeRead, ""), http.StatusForbidden},
		{"spend", key(credits.ScopeSpend, ""), http.StatusForbidden},
		{"admin bound to an account", key(credits.ScopeAdmin, "u1"), http.StatusForbidden},
		{"no key", "", http.StatusUnauthorized},
		{"admin", key(credits.ScopeAdmin, ""), http.StatusOK},
	} {
		header := map[string]string{"Authorization": "Bearer " + tt.secret}
		if r := h.do("POST", "/v1/test_clock/advance", `{"seconds":60}`, header); r.status != tt.want {
			t.Errorf("%s: advance %d %s, want %d", tt.name, r.status, r.raw, tt.want)
		}
		if r := h.do("GET", "/v1/test_clock", "", header); r.status != tt.want {
			t.Errorf("%s: read %d %s, want %d", tt.name, r.status, r.raw, tt.want)
		}
	}
	if _, offset := h.clockAt(); offset != 60 {
		t.Errorf("offset %d, want 60: only the admin key moved it", offset)
	}
}

// TestTestClockNotInProduction: without a test clock (production) the
// routes answer exactly what an unknown route answers.
func TestTestClockNotInProduction(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tt := range []struct{ method, path, body string }{
		{"GET", "/v1/test_clock", ""},
		{"POST", "/v1/test_clock/advance", `{"seconds":60}`},
	} {
		got := h.api(tt.method, tt.path, tt.body)
		unknown := h.api(tt.method, tt.path+"_nowhere", tt.body)
		wantMessage := strings.Replace(unknown.errorMessage(), tt.path+"_nowhere", tt.path, 1)
		if got.status != http.StatusNotFound || got.errorCode() != unknown.errorCode() || got.errorMessage() != wantMessage {
			t.Errorf("%s %s: %d %s, want %d %s", tt.method, tt.path, got.status, got.raw, unknown.status, unknown.raw)
		}
	}
	if got := h.svc.Now(); got.Sub(time.Now()).Abs() > 5*time.Second {
		t.Errorf("Service.Now = %v: production reads real time", got)
	}
}

func TestTestClockRefusesBadSeconds(t *testing.T) {
	t.Parallel()
	db, _ := testkit.OpenSQLite(t)
	h := newClockHarness(t, db)
	for _, body := range []string{
		``, `{}`, `{"seconds":null}`, `{"seconds":0}`, `{"seconds":-1}`, `{"seconds":-86400}`,
		`{"seconds":316224001}`, `{"seconds":9223372036854775807}`, `{"seconds":1e30}`, `{"seconds":1.5}`,
		`{"seconds":"60"}`, `{"seconds":60,"days":1}`, `[60]`,
	} {
		r := h.api("POST", "/v1/test_clock/advance", body)
		if r.status != http.StatusBadRequest || r.errorCode() != credits.EINVALID || r.errorMessage() == "" {
			t.Errorf("%s: %d %s, want 400 invalid", body, r.status, r.raw)
		}
	}
	if _, offset := h.clockAt(); offset != 0 {
		t.Fatalf("offset %d after refused advances, want 0", offset)
	}
	// Ten years at a time, up to the total's limit.
	var total int64
	for range credits.MaxTestClockOffsetSeconds / credits.MaxTestClockAdvanceSeconds {
		total = h.advance(credits.MaxTestClockAdvanceSeconds)
	}
	if total != credits.MaxTestClockOffsetSeconds {
		t.Fatalf("total %d, want %d", total, credits.MaxTestClockOffsetSeconds)
	}
	if r := h.api("POST", "/v1/test_clock/advance", `{"seconds":1}`); r.status != http.StatusBadRequest {
		t.Errorf("beyond the total limit: %d %s, want 400", r.status, r.raw)
	}
	if _, offset := h.clockAt(); offset != total {
		t.Errorf("offset %d after a refused advance, want %d", offset, total)
	}
}

// TestTestClockSurvivesARestart: the offset is kept in the database, so a
// server opened again on the same file (or a replica starting) goes on from
// it, never back.
func TestTestClockSurvivesARestart(t *testing.T) {
	t.Parallel()
	db, path := testkit.OpenSQLite(t)
	h := newClockHarness(t, db)
	h.advance(25 * 3600)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reopened.Close() })
	again := newClockHarness(t, reopened)
	now, offset := again.clockAt()
	if offset != 25*3600 || now.Before(time.Now().Add(25*time.Hour-5*time.Second)) {
		t.Errorf("after a restart: now %v offset %d, want 25 h ahead", now, offset)
	}
	if got := again.advance(1); got != 25*3600+1 {
		t.Errorf("advance after a restart: offset %d", got)
	}
}

// TestTestClockKeepsStripeTime: Stripe signs with its own clock, so a
// signed event still verifies a day after the test clock moved; the service
// records it at its own time.
func TestTestClockKeepsStripeTime(t *testing.T) {
	t.Parallel()
	db, _ := testkit.OpenSQLite(t)
	h := newClockHarness(t, db)
	h.advance(25 * 3600)
	r := h.webhook("/stripe/webhook", testkit.Event("evt_late", "customer.created", false, testkit.Session{}))
	if r.status != http.StatusOK || r.body["status"] != credits.EventIgnored {
		t.Fatalf("webhook after 25 h: %d %s", r.status, r.raw)
	}
	events := h.api("GET", "/v1/events", "")
	data, _ := events.body["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("events: %s", events.raw)
	}
	received, err := time.Parse(time.RFC3339Nano, data[0].(map[string]any)["received_at"].(string))
	if err != nil || received.Before(time.Now().Add(24*time.Hour)) {
		t.Errorf("received_at %v (%v), want on the test clock, 25 h ahead", received, err)
	}
}

// recordingCheckouts keeps the last Checkout request sent to Stripe.
type recordingCheckouts struct {
	credits.Payments
	last credits.CheckoutRequest
}

func (r *recordingCheckouts) CreateCheckoutSession(_ context.Context, req credits.CheckoutRequest) (string, string, error) {
	r.last = req
	return "cs_test_clock", "https://checkout.stripe.com/c/pay/cs_test_clock", nil
}

// TestTestClockSendsStripeItsOwnTime: a Checkout Session's expires_at is a
// time on Stripe's clock, which the test clock does not move (Stripe refuses
// one more than 24 hours ahead).
func TestTestClockSendsStripeItsOwnTime(t *testing.T) {
	t.Parallel()
	db, _ := testkit.OpenSQLite(t)
	h := newClockHarness(t, db)
	payments := &recordingCheckouts{}
	h.svc.Payments, h.svc.CheckoutExpiresIn = payments, 30*time.Minute
	if r := h.api("POST", "/v1/packs", `{"id":"starter","name":"Starter","credits":100,"unit_amount":999,"currency":"usd"}`); r.status != http.StatusCreated {
		t.Fatalf("pack: %d %s", r.status, r.raw)
	}
	h.fund("u1", 0)
	h.advance(25 * 3600)
	if r := h.api("POST", "/v1/accounts/u1/checkout_sessions", `{"pack_id":"starter"}`); r.status != http.StatusCreated {
		t.Fatalf("checkout: %d %s", r.status, r.raw)
	}
	if got, want := payments.last.ExpiresAt, time.Now().Add(30*time.Minute); got.Sub(want).Abs() > time.Minute {
		t.Errorf("expires_at sent to Stripe %v, want about %v (real time + 30 min)", got, want)
	}
}
