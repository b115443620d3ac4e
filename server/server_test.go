package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/server"
	"github.com/credits/credits/sqlite"
	"github.com/credits/credits/stripe"
)

const apiKey = "test_api_key_0123456789abcdef"

type harness struct {
	t       *testing.T
	db      *sqlite.DB
	svc     *credits.Service
	handler http.Handler
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	db, _ := testkit.OpenSQLite(t)
	return harnessOn(t, db, nil)
}

// harnessOn serves the API over db; with a test clock, as a development
// server does.
func harnessOn(t *testing.T, db *sqlite.DB, testClock credits.TestClock) *harness {
	t.Helper()
	svc := credits.NewService(db)
	svc.PaymentsMissing = "set STRIPE_SECRET_KEY to sell packs" // as cmd/credits says it
	if testClock != nil {
		if err := svc.UseTestClock(context.Background(), testClock); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.DiscardHandler)
	srv := &server.Server{
		Service: svc,
		Webhook: &stripe.Webhook{Verifier: stripe.Verifier{Secrets: []string{testkit.WebhookSecret}}, Logger: logger},
		APIKey:  apiKey,
		Logger:  logger,
	}
	return &harness{t: t, db: db, svc: svc, handler: srv.Handler()}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (h *harness) do(method, path, body string, header map[string]string) response {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	out := response{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	_ = json.Unmarshal(out.raw, &out.body)
	checkAgainstSpec(h.t, req, out.status, out.header, out.raw)
	return out
}

func (h *harness) api(method, path, body string) response {
	h.t.Helper()
	return h.do(method, path, body, map[string]string{"Authorization": "Bearer " + apiKey})
}

func (r response) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (r response) errorMessage() string {
	e, _ := r.body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func TestAPIKeyRequired(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, header := range []map[string]string{
		nil,
		{"Authorization": "Bearer wrong"},
		{"Authorization": apiKey},
		{"Authorization": "Basic " + apiKey},
	} {
		r := h.do("GET", "/v1/packs", "", header)
		if r.status != http.StatusUnauthorized || r.errorCode() != credits.EUNAUTHORIZED {
			t.Errorf("%v: status %d code %q, want 401 unauthorized", header, r.status, r.errorCode())
		}
	}
	if r := h.api("GET", "/v1/packs", ""); r.status != http.StatusOK {
		t.Errorf("with the key: status %d, want 200", r.status)
	}
}

func TestCreateAndGet(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.api("POST", "/v1/packs", `{"id":"starter","name":"Starter","credits":100,"unit_amount":999,"currency":"USD","stripe_price_id":"price_1"}`)
	if r.status != http.StatusCreated || r.body["currency"] != "usd" || r.body["active"] != true {
		t.Fatalf("create pack: %d %s", r.status, r.raw)
	}
	r = h.api("POST", "/v1/accounts", `{"id":"user-1","email":"Ann@Example.com"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create account: %d %s", r.status, r.raw)
	}
	r = h.api("GET", "/v1/accounts/user-1", "")
	want := map[string]any{"id": "user-1", "email": "ann@example.com", "balance": 0.0, "available": 0.0, "trial": true}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("account %s = %v, want %v", k, r.body[k], v)
		}
	}
	if _, ok := r.body["created_at"]; !ok {
		t.Error("account has no created_at")
	}
	if r := h.api("POST", "/v1/accounts", `{"id":"user-1","email":"other@example.com"}`); r.status != http.StatusConflict {
		t.Errorf("duplicate account: status %d, want 409", r.status)
	}
	if r := h.api("POST", "/v1/packs", `{"id":"starter","name":"Again","credits":1,"unit_amount":1,"currency":"usd"}`); r.status != http.StatusConflict {
		t.Errorf("duplicate pack: status %d, want 409", r.status)
	}
	if r := h.api("POST", "/v1/packs", `{"name":"Same price","credits":1,"unit_amount":1,"currency":"usd","stripe_price_id":"price_1"}`); r.status != http.StatusConflict {
		t.Errorf("duplicate price id: status %d, want 409", r.status)
	}
	if r := h.api("GET", "/v1/accounts/nobody", ""); r.status != http.StatusNotFound || r.errorCode() != credits.ENOTFOUND {
		t.Errorf("unknown account: %d %q", r.status, r.errorCode())
	}
	r = h.api("GET", "/v1/packs", "")
	if data, _ := r.body["data"].([]any); len(data) != 1 {
		t.Errorf("packs = %s", r.raw)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.api("POST", "/v1/packs", `{"id":"starter","name":"Starter","credits":100,"unit_amount":999,"currency":"usd"}`)
	h.api("POST", "/v1/accounts", `{"id":"u1","email":"u1@example.com"}`)
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantInMessage            string
	}{
		{"pack credits zero", "POST", "/v1/packs", `{"name":"x","credits":0,"unit_amount":1,"currency":"usd"}`, 400, "credits"},
		{"pack credits negative", "POST", "/v1/packs", `{"name":"x","credits":-5,"unit_amount":1,"currency":"usd"}`, 400, "credits"},
		{"pack credits fractional", "POST", "/v1/packs", `{"name":"x","credits":1.5,"unit_amount":1,"currency":"usd"}`, 400, "credits"},
		{"pack credits string", "POST", "/v1/packs", `{"name":"x","credits":"10","unit_amount":1,"currency":"usd"}`, 400, "credits"},
		{"pack credits overflow", "POST", "/v1/packs", `{"name":"x","credits":99999999999999999999,"unit_amount":1,"currency":"usd"}`, 400, "credits"},
		{"pack amount zero", "POST", "/v1/packs", `{"name":"x","credits":1,"unit_amount":0,"currency":"usd"}`, 400, "unit_amount"},
		{"pack unknown currency", "POST", "/v1/packs", `{"name":"x","credits":1,"unit_amount":1,"currency":"xyz"}`, 400, "currency"},
		{"pack no name", "POST", "/v1/packs", `{"credits":1,"unit_amount":1,"currency":"usd"}`, 400, "name"},
		{"pack bad id", "POST", "/v1/packs", `{"id":"a b","name":"x","credits":1,"unit_amount":1,"currency":"usd"}`, 400, "id"},
		{"pack bad price id", "POST", "/v1/packs", `{"name":"x","credits":1,"unit_amount":1,"currency":"usd","stripe_price_id":"prod_1"}`, 400, "stripe_price_id"},
		{"unknown field", "POST", "/v1/packs", `{"name":"x","credits":1,"unit_amount":1,"currency":"usd","colour":"red"}`, 400, "colour"},
		{"not json", "POST", "/v1/accounts", `{"id":`, 400, "JSON"},
		{"array body", "POST", "/v1/accounts", `[1]`, 400, "object"},
		{"two objects", "POST", "/v1/accounts", `{"id":"a","email":"a@example.com"}{}`, 400, "one JSON object"},
		{"account no id", "POST", "/v1/accounts", `{"email":"a@example.com"}`, 400, "id"},
		{"account id too long", "POST", "/v1/accounts", `{"id":"` + strings.Repeat("a", 129) + `","email":"a@example.com"}`, 400, "id"},
		{"account id bad characters", "POST", "/v1/accounts", `{"id":"../etc","email":"a@example.com"}`, 400, "id"},
		{"account bad email", "POST", "/v1/accounts", `{"id":"a","email":"not an email"}`, 400, "email"},
		{"quantity zero", "POST", "/v1/accounts/u1/checkout_sessions", `{"pack_id":"starter","quantity":0}`, 400, "quantity"},
		{"quantity 101", "POST", "/v1/accounts/u1/checkout_sessions", `{"pack_id":"starter","quantity":101}`, 400, "quantity"},
		{"no pack id", "POST", "/v1/accounts/u1/checkout_sessions", `{"quantity":1}`, 400, "pack_id"},
		{"unknown pack", "POST", "/v1/accounts/u1/checkout_sessions", `{"pack_id":"nope","quantity":1}`, 404, "nope"},
		{"unknown account", "POST", "/v1/accounts/nobody/checkout_sessions", `{"pack_id":"starter","quantity":1}`, 404, "nobody"},
		{"no stripe key", "POST", "/v1/accounts/u1/checkout_sessions", `{"pack_id":"starter","quantity":1}`, 503, "STRIPE_SECRET_KEY"},
		{"bad limit", "GET", "/v1/accounts/u1/entries?limit=1000", "", 400, "limit"},
		{"negative limit", "GET", "/v1/accounts/u1/entries?limit=-1", "", 400, "limit"},
		{"bad cursor", "GET", "/v1/accounts/u1/entries?starting_after=abc", "", 400, "starting_after"},
		{"bad event status", "GET", "/v1/events?status=weird", "", 400, "status"},
		{"unknown route", "GET", "/v1/nothing", "", 404, "no route"},
		{"body too large", "POST", "/v1/accounts", `{"id":"a","email":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.snapshot()
			r := h.api(tt.method, tt.path, tt.body)
			if r.status != tt.wantStatus || !strings.Contains(r.errorMessage(), tt.wantInMessage) {
				t.Errorf("got %d %q, want %d and a message naming %q", r.status, r.errorMessage(), tt.wantStatus, tt.wantInMessage)
			}
			if after := h.snapshot(); after != before {
				t.Errorf("a refused request changed the store: %s -> %s", before, after)
			}
		})
	}
}

// snapshot summarises what is stored, to see that a refusal changed nothing.
func (h *harness) snapshot() string {
	h.t.Helper()
	var packs []credits.Pack
	var accounts []credits.Account
	var events []credits.Event
	err := h.db.View(context.Background(), func(tx credits.Tx) (err error) {
		if packs, err = tx.Packs(false); err != nil {
			return err
		}
		if accounts, err = tx.Accounts("", 1000); err != nil {
			return err
		}
		events, err = tx.Events(credits.EventFilter{Limit: 1000})
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	b, _ := json.Marshal([]any{packs, accounts, events})
	return string(b)
}

func TestEntriesPagination(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.api("POST", "/v1/packs", `{"id":"p","name":"P","credits":10,"unit_amount":100,"currency":"usd"}`)
	h.api("POST", "/v1/accounts", `{"id":"u1","email":"u1@example.com"}`)
	for i := range 5 {
		id := "cs_" + string(rune('a'+i))
		err := h.db.Update(context.Background(), func(tx credits.Tx) error {
			return tx.CreateCheckoutSession(credits.CheckoutSession{ID: id, AccountID: "u1", PackID: "p", Quantity: 1, ExpectedAmount: 100, Currency: "usd", Status: "open"})
		})
		if err != nil {
			t.Fatal(err)
		}
		h.webhook("/stripe/webhook", testkit.Event("evt_"+id, credits.EventCheckoutCompleted, false,
			testkit.Session{ID: id, PaymentStatus: "paid", AmountTotal: 100, Currency: "usd"}))
	}
	var seen []float64
	cursor := ""
	for pages := 0; pages < 10; pages++ {
		r := h.api("GET", "/v1/accounts/u1/entries?limit=2"+cursor, "")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		data := r.body["data"].([]any)
		for _, e := range data {
			seen = append(seen, e.(map[string]any)["balance_after"].(float64))
		}
		if r.body["has_more"] != true {
			break
		}
		cursor = "&starting_after=" + jsonNumber(data[len(data)-1].(map[string]any)["id"])
	}
	want := []float64{50, 40, 30, 20, 10}
	if len(seen) != len(want) {
		t.Fatalf("balances seen = %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("balances seen = %v, want %v (newest first)", seen, want)
		}
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (h *harness) webhook(path string, payload []byte) response {
	h.t.Helper()
	return h.do("POST", path, string(payload), map[string]string{"Stripe-Signature": testkit.Sign(payload), "Content-Type": "application/json"})
}

func TestWebhookPaths(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/stripe/webhook", "/account/stripe-webhook/"} {
		t.Run(path, func(t *testing.T) {
			h := newHarness(t)
			r := h.webhook(path, testkit.Event("evt_1", "customer.created", false, testkit.Session{}))
			if r.status != http.StatusOK || r.body["status"] != credits.EventIgnored {
				t.Errorf("%d %s", r.status, r.raw)
			}
		})
	}
}

func TestWebhookRefusesAndWritesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	payload := testkit.Event("evt_1", credits.EventCheckoutCompleted, false, testkit.Session{ID: "cs_1", PaymentStatus: "paid"})
	tests := []struct {
		name       string
		body       []byte
		header     string
		wantStatus int
	}{
		{"missing signature", payload, "", 400},
		{"garbage signature", payload, "nonsense", 400},
		{"wrong secret", payload, stripe.SignatureHeader(payload, "whsec_other", timeNow()), 400},
		{"stale", payload, stripe.SignatureHeader(payload, testkit.WebhookSecret, timeNow().Add(-10*60e9)), 400},
		{"tampered", bytes.Replace(payload, []byte("paid"), []byte("PAID"), 1), testkit.Sign(payload), 400},
		{"signed but not an event", []byte(`{"object":"list"}`), testkit.Sign([]byte(`{"object":"list"}`)), 400},
		{"too large", bytes.Repeat([]byte(" "), server.MaxWebhookBodyBytes+1), "t=1,v1=00", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("POST", "/stripe/webhook", string(tt.body), map[string]string{"Stripe-Signature": tt.header})
			if r.status != tt.wantStatus {
				t.Errorf("status %d, want %d (%s)", r.status, tt.wantStatus, r.raw)
			}
		})
	}
	if events, err := h.svc.ListEvents(context.Background(), "", 10); err != nil || len(events) != 0 {
		t.Errorf("refused webhooks recorded %d events (%v)", len(events), err)
	}
}

func TestWebhookStoreFailureAnswers5xx(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.db.Close()
	r := h.webhook("/stripe/webhook", testkit.Event("evt_1", credits.EventCheckoutCompleted, false, testkit.Session{ID: "cs_1", PaymentStatus: "paid"}))
	if r.status < 500 {
		t.Errorf("status %d, want 5xx so that Stripe retries", r.status)
	}
	if requestID, _ := r.body["error"].(map[string]any)["request_id"].(string); r.errorMessage() != "internal error" || requestID == "" {
		t.Errorf("body %s: want internal error with a request id", r.raw)
	}
	if r := h.do("GET", "/healthz", "", nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("healthz with the store closed: %d, want 503", r.status)
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if r := h.do("GET", "/healthz", "", nil); r.status != http.StatusOK || r.body["reads"] != "ok" || r.body["writes"] != "ok" {
		t.Errorf("healthz: %d %s", r.status, r.raw)
	}
}

// TestStorageFailuresAnswer503: a full disk and a read-only file are the
// storage failing, not our bug: 503 (retryable), and /healthz says which
// side fails.
func TestStorageFailuresAnswer503(t *testing.T) {
	t.Parallel()
	t.Run("disk full", func(t *testing.T) {
		h := newHarness(t)
		h.api("POST", "/v1/accounts", `{"id":"u1","email":"u1@example.com"}`)
		// The database may not grow: the next pages it needs are refused as on a full disk.
		if err := h.db.Exec(context.Background(), "PRAGMA max_page_count = 1"); err != nil {
			t.Fatal(err)
		}
		var r response
		for i := range 200 {
			r = h.api("POST", "/v1/accounts/u1/grants", fmt.Sprintf(`{"amount":1,"reason":"%s"}`, strings.Repeat("x", 400)+fmt.Sprint(i)))
			if r.status != 201 {
				break
			}
		}
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.errorMessage(), "disk is full") {
			t.Errorf("a write on a full disk: %d %s, want 503 saying the disk is full", r.status, r.raw)
		}
		// A 503 is not an answer to keep: the same key succeeds once the disk has room.
		var keyed response
		var body, key string
		for i := range 200 {
			body, key = fmt.Sprintf(`{"amount":1,"reason":"%s"}`, strings.Repeat("y", 400)+fmt.Sprint(i)), fmt.Sprint("full-", i)
			if keyed = h.keyed("POST", "/v1/accounts/u1/grants", body, key); keyed.status != 201 {
				break
			}
		}
		if keyed.status != http.StatusServiceUnavailable {
			t.Fatalf("a keyed write on a full disk: %d", keyed.status)
		}
		if err := h.db.Exec(context.Background(), "PRAGMA max_page_count = 1000000"); err != nil {
			t.Fatal(err)
		}
		if retry := h.keyed("POST", "/v1/accounts/u1/grants", body, key); retry.status != 201 || retry.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("the retry once the disk has room: %d %s, want a fresh 201", retry.status, retry.raw)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		h := newHarness(t)
		h.api("POST", "/v1/accounts", `{"id":"u1","email":"u1@example.com"}`)
		if err := h.db.Exec(context.Background(), "PRAGMA query_only = 1"); err != nil { // as a read-only file answers
			t.Fatal(err)
		}
		if r := h.api("POST", "/v1/accounts/u1/grants", `{"amount":1}`); r.status != http.StatusServiceUnavailable || !strings.Contains(r.errorMessage(), "read-only") {
			t.Errorf("a write to a read-only database: %d %s, want 503", r.status, r.raw)
		}
		r := h.do("GET", "/healthz", "", nil)
		if r.status != http.StatusServiceUnavailable || r.body["reads"] != "ok" || !strings.HasPrefix(r.body["writes"].(string), "failing: the database cannot write") {
			t.Errorf("healthz of a read-only database: %d %s, want 503 with reads ok and writes failing", r.status, r.raw)
		}
		if a := h.api("GET", "/v1/accounts/u1", ""); a.status != 200 {
			t.Errorf("a read of a read-only database: %d", a.status)
		}
	})
}

func TestUnsignedAcceptedOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	event := testkit.Event("evt_1", "customer.created", false, testkit.Session{})
	tests := []struct {
		name          string
		allowUnsigned bool
		secrets       []string
		signature     string
		wantStatus    int
		wantWarning   bool
	}{
		{"unsigned, allowed (development without a secret)", true, nil, "", http.StatusOK, true},
		{"unsigned, not allowed", false, nil, "", http.StatusBadRequest, false},
		{"unsigned, not allowed, a secret configured", false, []string{testkit.WebhookSecret}, "", http.StatusBadRequest, false},
		{"badly signed while unsigned is allowed: still verified", true, nil, "t=1,v1=00", http.StatusBadRequest, false},
		{"signed with another secret while unsigned is allowed", true, []string{"whsec_other"}, testkit.Sign(event), http.StatusBadRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := testkit.OpenSQLite(t)
			logs := &bytes.Buffer{}
			logger := slog.New(slog.NewTextHandler(logs, nil))
			svc := credits.NewService(db)
			srv := &server.Server{Service: svc, APIKey: apiKey, Logger: logger,
				Webhook: &stripe.Webhook{AllowUnsigned: tt.allowUnsigned, Verifier: stripe.Verifier{Secrets: tt.secrets}, Logger: logger}}
			req := httptest.NewRequest("POST", "/stripe/webhook", bytes.NewReader(event))
			if tt.signature != "" {
				req.Header.Set("Stripe-Signature", tt.signature)
			}
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if warned := strings.Contains(logs.String(), "UNVERIFIED"); warned != tt.wantWarning {
				t.Errorf("warning logged: %t, want %t: %q", warned, tt.wantWarning, logs.String())
			}
			events, err := svc.ListEvents(context.Background(), "", 10)
			if err != nil {
				t.Fatal(err)
			}
			if recorded := len(events) == 1; recorded != (tt.wantStatus == http.StatusOK) {
				t.Errorf("%d events recorded after status %d", len(events), rec.Code)
			}
		})
	}
}

// TestSignedEventsThatCannotBeUsedAreKept: Stripe drops an event it cannot
// deliver for three days, so a signed event that the service cannot use is
// recorded (failed or ignored, with the reason) and answered 2xx.
func TestSignedEventsThatCannotBeUsedAreKept(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, payload, wantStatus, wantReason string }{
		{"undecodable", `{"id":"evt_bad","object":"event","type":"checkout.session.completed","data":{"object":{"id":["cs_1"]}}}`, credits.EventFailed, "not a checkout session"},
		{"no object", `{"id":"evt_empty","object":"event","type":"charge.refunded","data":{}}`, credits.EventFailed, "no data.object"},
		{"connect", `{"id":"evt_connect","object":"event","type":"checkout.session.completed","account":"acct_9","data":{"object":{"id":"cs_1"}}}`, credits.EventIgnored, "acct_9"},
		{"thin", `{"id":"evt_thin","object":"v2.core.event","type":"v1.checkout.session.completed","related_object":{"id":"cs_1"}}`, credits.EventIgnored, "thin event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.webhook("/stripe/webhook", []byte(tt.payload))
			if r.status != http.StatusOK || r.body["status"] != tt.wantStatus {
				t.Fatalf("%d %s, want 200 and %s", r.status, r.raw, tt.wantStatus)
			}
			ev, err := h.svc.GetEvent(context.Background(), r.body["event"].(string))
			if err != nil || ev.Status != tt.wantStatus || !strings.Contains(ev.Error, tt.wantReason) {
				t.Errorf("recorded %+v (%v), want %s saying %q", ev, err, tt.wantStatus, tt.wantReason)
			}
			if again := h.webhook("/stripe/webhook", []byte(tt.payload)); again.status != http.StatusOK {
				t.Errorf("redelivery: %d %s", again.status, again.raw)
			}
		})
	}
}

// TestStrictRequests: duplicate and case-mismatched fields are refused, a
// known path with a wrong method answers 405 with Allow, the Bearer scheme
// is case-insensitive, and seconds are range-checked before arithmetic.
func TestStrictRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	for _, tt := range []struct{ name, body, want string }{
		{"duplicate key", `{"amount":1,"amount":100000}`, `field "amount" appears more than once`},
		{"another case", `{"AMOUNT":1}`, `unknown field "AMOUNT"`},
	} {
		r := h.keyed("POST", "/v1/accounts/u1/debits", tt.body, "strict-"+tt.name)
		if r.status != 400 || !strings.Contains(r.errorMessage(), tt.want) {
			t.Errorf("%s: %d %s, want 400 saying %q", tt.name, r.status, r.raw, tt.want)
		}
	}
	if a := h.api("GET", "/v1/accounts/u1", ""); a.body["balance"] != 100.0 {
		t.Errorf("refused debits took credits: %s", a.raw)
	}
	r := h.do("DELETE", "/v1/packs", "", map[string]string{"Authorization": "Bearer " + apiKey})
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, POST" || r.errorCode() != "method_not_allowed" {
		t.Errorf("DELETE /v1/packs: %d Allow %q %s, want 405 with Allow: GET, POST", r.status, r.header.Get("Allow"), r.raw)
	}
	if r := h.do("GET", "/v1/nothing", "", map[string]string{"Authorization": "Bearer " + apiKey}); r.status != 404 {
		t.Errorf("unknown path: %d, want 404", r.status)
	}
	for _, scheme := range []string{"bearer", "BEARER", "Bearer"} {
		if r := h.do("GET", "/v1/packs", "", map[string]string{"Authorization": scheme + " " + apiKey}); r.status != 200 {
			t.Errorf("scheme %q: %d, want 200", scheme, r.status)
		}
	}
	for _, seconds := range []string{"7205759403792797200", "-9223372036854775808", "59", "604801"} {
		if r := h.api("POST", "/v1/accounts/u1/dashboard_sessions", `{"expires_in_seconds":`+seconds+`}`); r.status != 400 {
			t.Errorf("dashboard link of %s seconds: %d %s, want 400", seconds, r.status, r.raw)
		}
	}
}

// TestOneInputRule: ids, text and metadata must be plain text; a path id
// that no record can have is not found; a signed event with a NUL in its
// metadata is kept and answered 200.
func TestOneInputRule(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	for _, tt := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/accounts/%00", "", 404},
		{"GET", "/v1/accounts/%FF", "", 404},
		{"GET", "/v1/holds/hold%1B", "", 404},
		{"POST", "/v1/accounts/u1/grants", `{"amount":1,"reason":"\u001b[2J"}`, 400},
		{"POST", "/v1/accounts/u1/grants", `{"amount":1,"reason":"a\u0000b"}`, 400},
		{"POST", "/v1/packs", `{"id":"p","name":"P\u0007","credits":1,"unit_amount":1,"currency":"usd"}`, 400},
		{"GET", "/v1/accounts?starting_after=%00", "", 400},
	} {
		if r := h.api(tt.method, tt.path, tt.body); r.status != tt.want {
			t.Errorf("%s %s %s: %d %s, want %d", tt.method, tt.path, tt.body, r.status, r.raw, tt.want)
		}
	}
	if r := h.keyed("POST", "/v1/accounts/u1/debits", `{"amount":1,"metadata":{"k":"\u0000"}}`, "nul-1"); r.status != 400 {
		t.Errorf("metadata with a NUL: %d %s, want 400", r.status, r.raw)
	}
	if r := h.do("GET", "/checkout/success?session_id=%FF", "", nil); r.status != 404 {
		t.Errorf("success page of an impossible session id: %d, want 404", r.status)
	}
	payload := testkit.Event("evt_nul", credits.EventCheckoutCompleted, false, testkit.Session{ID: "cs_nul", PaymentStatus: "paid",
		ClientReferenceID: "u\x001", Metadata: map[string]string{"account_id": "\x00"}})
	if r := h.webhook("/stripe/webhook", payload); r.status != 200 {
		t.Errorf("a signed event with NULs: %d %s, want 200", r.status, r.raw)
	}
	if a := h.api("GET", "/v1/accounts/u1", ""); a.body["balance"] != 100.0 {
		t.Errorf("refused requests changed the balance: %s", a.raw)
	}
}

// TestScopedAPIKeys: read keys read, spend keys spend, admin keys do all; a
// key bound to an account reaches it alone; a revoked key stops at once;
// idempotency keys follow the key's id, not its secret.
func TestScopedAPIKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	h.fund("u2", 100)
	key := func(scope, account string) (string, string) {
		k, secret, err := h.svc.CreateAPIKey(context.Background(), scope+" key", scope, account)
		if err != nil {
			t.Fatal(err)
		}
		return k.ID, secret
	}
	_, reader := key(credits.ScopeRead, "")
	_, spender := key(credits.ScopeSpend, "")
	_, admin := key(credits.ScopeAdmin, "")
	_, bound := key(credits.ScopeSpend, "u1")
	call := func(secret, method, path, body, idem string) response {
		header := map[string]string{"Authorization": "Bearer " + secret}
		if idem != "" {
			header["Idempotency-Key"] = idem
		}
		return h.do(method, path, body, header)
	}
	hold := call(admin, "POST", "/v1/accounts/u2/holds", `{"amount":1}`, "h-1").body["id"]
	for _, tt := range []struct {
		name, secret, method, path, body string
		want                             int
	}{
		{"read reads", reader, "GET", "/v1/accounts/u1", "", 200},
		{"read cannot debit", reader, "POST", "/v1/accounts/u1/debits", `{"amount":1}`, 403},
		{"spend debits", spender, "POST", "/v1/accounts/u1/debits", `{"amount":1}`, 201},
		{"spend cannot grant", spender, "POST", "/v1/accounts/u1/grants", `{"amount":1}`, 403},
		{"spend cannot create packs", spender, "POST", "/v1/packs", `{"name":"P","credits":1,"unit_amount":1,"currency":"usd"}`, 403},
		{"spend cannot read events", spender, "GET", "/v1/events", "", 403},
		{"admin grants", admin, "POST", "/v1/accounts/u1/grants", `{"amount":1}`, 201},
		{"admin lists keys", admin, "GET", "/v1/api_keys", "", 200},
		{"bound reaches its account", bound, "POST", "/v1/accounts/u1/debits", `{"amount":1}`, 201},
		{"bound does not reach another", bound, "POST", "/v1/accounts/u2/debits", `{"amount":1}`, 403},
		{"bound does not read another", bound, "GET", "/v1/accounts/u2", "", 403},
		{"bound does not list accounts", bound, "GET", "/v1/accounts", "", 403},
		{"bound reads the catalog", bound, "GET", "/v1/packs", "", 200},
		{"bound does not reach another's hold", bound, "POST", "/v1/holds/" + fmt.Sprint(hold) + "/release", "", 403},
		{"a wrong key", "ck_nothing", "GET", "/v1/packs", "", 401},
	} {
		idem := ""
		if strings.HasSuffix(tt.path, "debits") {
			idem = "k-" + tt.name
		}
		if r := call(tt.secret, tt.method, tt.path, tt.body, idem); r.status != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, r.status, r.raw, tt.want)
		}
	}
	withMetrics := (&server.Server{Service: h.svc, APIKey: apiKey, Logger: slog.New(slog.DiscardHandler), Metrics: server.NewMetrics()}).Handler()
	for secret, want := range map[string]int{spender: 403, admin: 200} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		withMetrics.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("/metrics: %d, want %d", rec.Code, want)
		}
	}

	// Revocation takes effect at once.
	id, secret := key(credits.ScopeSpend, "")
	if r := call(secret, "GET", "/v1/packs", "", ""); r.status != 200 {
		t.Fatalf("new key: %d", r.status)
	}
	if r := call(admin, "DELETE", "/v1/api_keys/"+id, "", ""); r.status != 200 || r.body["revoked_at"] == nil {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if r := call(secret, "GET", "/v1/packs", "", ""); r.status != 401 {
		t.Errorf("a revoked key: %d, want 401", r.status)
	}
	keys, err := h.svc.ListAPIKeys(context.Background())
	if err != nil || len(keys) != 5 {
		t.Fatalf("keys: %d (%v)", len(keys), err)
	}
	for _, k := range keys {
		if strings.Contains(k.SecretHash, "ck_") || k.SecretHash == "" {
			t.Errorf("key %s keeps %q, want a hash", k.ID, k.SecretHash)
		}
	}
}

// TestIdempotencyOutlivesARotation: the bootstrap key's secret changes, its
// id does not: a retry with the new secret answers the first debit.
func TestIdempotencyOutlivesARotation(t *testing.T) {
	t.Parallel()
	db, _ := testkit.OpenSQLite(t)
	svc := credits.NewService(db)
	logger := slog.New(slog.DiscardHandler)
	srv := &server.Server{Service: svc, APIKey: "old_key_0123456789abcdef", Logger: logger}
	if _, err := svc.CreateAccount(context.Background(), "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Grant(context.Background(), "u1", credits.GrantRequest{Amount: 10}, nil); err != nil {
		t.Fatal(err)
	}
	debit := func(secret string) int {
		req := httptest.NewRequest("POST", "/v1/accounts/u1/debits", strings.NewReader(`{"amount":3}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Idempotency-Key", "job-1")
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	if got := debit("old_key_0123456789abcdef"); got != 201 {
		t.Fatalf("first debit: %d", got)
	}
	srv.APIKey = "new_key_0123456789abcdef"
	if got := debit("new_key_0123456789abcdef"); got != 201 {
		t.Fatalf("retry after the rotation: %d", got)
	}
	if a, _ := svc.GetAccount(context.Background(), "u1"); a.Balance != 7 {
		t.Errorf("balance %d after a debit and its retry across a rotation, want 7", a.Balance)
	}
}

// TestWebhookEndpointsAPI: an admin adds, lists, reads the deliveries of
// and removes an endpoint; bad input is refused.
func TestWebhookEndpointsAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.api("POST", "/v1/webhook_endpoints", `{"url":"https://app.example.com/credits","events":["purchase.completed"],"description":"billing"}`)
	if r.status != 201 || !strings.HasPrefix(fmt.Sprint(r.body["secret"]), "whsec_") {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.body["endpoint"].(map[string]any)["id"].(string)
	if strings.Contains(string(h.api("GET", "/v1/webhook_endpoints", "").raw), "whsec_") {
		t.Error("the list shows a signing secret")
	}
	if r := h.api("GET", "/v1/webhook_endpoints/"+id+"/deliveries", ""); r.status != 200 {
		t.Errorf("deliveries: %d %s", r.status, r.raw)
	}
	for _, body := range []string{`{"url":"ftp://x","events":["*"]}`, `{"url":"https://x.example","events":["nope"]}`, `{"url":"https://x.example","events":[]}`} {
		if r := h.api("POST", "/v1/webhook_endpoints", body); r.status != 400 {
			t.Errorf("create %s: %d, want 400", body, r.status)
		}
	}
	if r := h.api("DELETE", "/v1/webhook_endpoints/"+id, ""); r.status != 200 {
		t.Errorf("remove: %d %s", r.status, r.raw)
	}
	if r := h.api("DELETE", "/v1/webhook_endpoints/"+id, ""); r.status != 404 {
		t.Errorf("remove again: %d, want 404", r.status)
	}
}

// TestUpdateAccountThreshold: PATCH sets the threshold; the account shows it.
func TestUpdateAccountThreshold(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	if r := h.api("PATCH", "/v1/accounts/u1", `{"low_balance_threshold":150}`); r.status != 200 || r.body["low_balance_threshold"] != 150.0 || r.body["balance_state"] != "low" {
		t.Errorf("patch: %d %s, want the threshold and the state low", r.status, r.raw)
	}
	for _, body := range []string{`{}`, `{"low_balance_threshold":-2}`, `{"low_balance_threshold":"x"}`} {
		if r := h.api("PATCH", "/v1/accounts/u1", body); r.status != 400 {
			t.Errorf("patch %s: %d, want 400", body, r.status)
		}
	}
	if r := h.api("PATCH", "/v1/accounts/nobody", `{"low_balance_threshold":1}`); r.status != 404 {
		t.Errorf("patch of an unknown account: %d, want 404", r.status)
	}
}

// An account whose email only looks like another's (U+212A KELVIN SIGN for k)
// is refused 409; the look-alike's own letters are kept as written.
func TestLookAlikeEmailRefused(t *testing.T) {
	h := newHarness(t)
	if r := h.api("POST", "/v1/accounts", `{"id":"kate","email":"Kate@Example.com"}`); r.status != http.StatusCreated || r.body["email"] != "kate@example.com" {
		t.Fatalf("create kate: %d %s", r.status, r.raw)
	}
	r := h.api("POST", "/v1/accounts", `{"id":"kelvin","email":"\u212Aate@example.com"}`)
	if r.status != http.StatusConflict || r.errorCode() != credits.ECONFLICT || !strings.Contains(r.errorMessage(), "Unicode") {
		t.Errorf("create the look-alike: %d %s, want 409 conflict", r.status, r.raw)
	}
	if r := h.api("POST", "/v1/accounts", `{"id":"kim","email":"\u212Aim@Example.com"}`); r.status != http.StatusCreated || r.body["email"] != "\u212Aim@example.com" {
		t.Errorf("create a Kelvin-sign account alone: %d %s, want its sign kept", r.status, r.raw)
	}
}
