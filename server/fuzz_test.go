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
	"sync/atomic"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/server"
	"github.com/credits/credits/stripe"
)

// FuzzWebhook sends arbitrary bodies to the webhook (signature checks off, so
// that the parsing is what gets fuzzed): it must answer 200, 400 or 413, never
// fail or panic.
func FuzzWebhook(f *testing.F) {
	f.Add(testkit.Event("evt_1", credits.EventCheckoutCompleted, false, testkit.Session{ID: "cs_1", PaymentStatus: "paid", CustomerEmail: "a@example.com"}))
	f.Add(testkit.Event("evt_2", "customer.created", true, testkit.Session{}))
	f.Add([]byte(`{"id":"evt_3","object":"event","type":"checkout.session.expired","data":{"object":{"id":"cs_x","metadata":null}}}`))
	f.Add([]byte(`{"object":"event","data":{"object":[]}}`))
	f.Add([]byte(`null`))
	db, _ := testkit.OpenSQLite(f)
	logger := slog.New(slog.DiscardHandler)
	handler := (&server.Server{Service: credits.NewService(db), APIKey: "k", Logger: logger,
		Webhook: &stripe.Webhook{AllowUnsigned: true}}).Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("POST", "/stripe/webhook", bytes.NewReader(body)))
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
	})
}

// FuzzSignatureHeader checks that no header makes Verify accept a payload that
// was not signed with the secret.
func FuzzSignatureHeader(f *testing.F) {
	f.Add("t=1700000000,v1=abcdef")
	f.Add("t=,v1=")
	f.Add(",,,=,=")
	v := stripe.Verifier{Secrets: []string{testkit.WebhookSecret}}
	f.Fuzz(func(t *testing.T, header string) {
		if err := v.Verify([]byte("payload"), header); err == nil {
			t.Fatalf("header %q verified without the secret", header)
		}
	})
}

// FuzzAPIBodies sends arbitrary bodies to every /v1 route that decodes one:
// each answers with a JSON error or success, never a 500, and no body breaks
// an invariant.
func FuzzAPIBodies(f *testing.F) {
	routes := []struct{ path, idempotencyKey string }{
		{"/v1/packs", ""},
		{"/v1/accounts", ""},
		{"/v1/accounts/u1/checkout_sessions", ""},
		{"/v1/accounts/u1/debits", "k"},
		{"/v1/accounts/u1/grants", ""},
		{"/v1/accounts/u1/adjustments", ""},
		{"/v1/accounts/u1/holds", "k"},
		{"/v1/holds/HOLD/capture", ""},
		{"/v1/accounts/u1/dashboard_sessions", ""},
	}
	for i, body := range []string{
		`{"id":"p","name":"P","credits":10,"unit_amount":100,"currency":"usd"}`,
		`{"id":"u2","email":"u2@example.com"}`,
		`{"pack_id":"starter","quantity":1}`,
		`{"amount":1,"description":"x","metadata":{"a":"b"}}`,
		`{"amount":5,"expires_at":"2030-01-01T00:00:00Z","priority":1,"reason":"r"}`,
		`{"amount":-1,"reason":"fix"}`,
		`{"amount":1,"expires_in_seconds":60}`,
		`{"amount":1}`,
		`{"expires_in_seconds":600}`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	f.Add(uint8(3), []byte(`{"amount":1,"amount":100000}`))
	f.Add(uint8(3), []byte(`{"AMOUNT":1}`))
	f.Add(uint8(0), []byte(`[]`))
	f.Add(uint8(1), []byte(`{"id":"a","email":"a@example.com"} {}`))
	db, _ := testkit.OpenSQLite(f)
	svc := credits.NewService(db)
	logger := slog.New(slog.DiscardHandler)
	handler := (&server.Server{Service: svc, APIKey: "k", Logger: logger, SigningKey: []byte("s")}).Handler()
	ctx := context.Background()
	if _, err := svc.CreatePack(ctx, credits.Pack{ID: "starter", Name: "S", Credits: 10, UnitAmount: 100, Currency: "usd", Active: true}); err != nil {
		f.Fatal(err)
	}
	if _, err := svc.CreateAccount(ctx, "u1", "u1@example.com"); err != nil {
		f.Fatal(err)
	}
	if _, _, err := svc.Grant(ctx, "u1", credits.GrantRequest{Amount: 1_000_000}, nil); err != nil {
		f.Fatal(err)
	}
	hold, _, err := svc.CreateHold(ctx, "u1", credits.HoldRequest{Amount: 1, ExpiresInSeconds: 3600}, nil)
	if err != nil {
		f.Fatal(err)
	}
	var calls atomic.Int64
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := routes[int(route)%len(routes)]
		req := httptest.NewRequest("POST", strings.Replace(r.path, "HOLD", hold.ID, 1), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		if r.idempotencyKey != "" {
			req.Header.Set("Idempotency-Key", fmt.Sprintf("fuzz-%d", calls.Add(1)))
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %q: status %d: %s", r.path, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %q: answer is not JSON: %s", r.path, body, rec.Body)
		}
		violations, err := svc.Verify(ctx)
		if err != nil || len(violations) > 0 {
			t.Fatalf("%s %q: verify: %+v (%v)", r.path, body, violations, err)
		}
	})
}
