package server_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
