package server_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/server"
	"github.com/credits/credits/stripe"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	db, _ := testkit.OpenSQLite(t)
	logger := slog.New(slog.DiscardHandler)
	srv := &server.Server{Service: credits.NewService(db), APIKey: apiKey, Logger: logger, Metrics: server.NewMetrics(),
		Webhook: &stripe.Webhook{Verifier: stripe.Verifier{Secrets: []string{testkit.WebhookSecret}}, Logger: logger}}
	h := &harness{t: t, db: db, svc: srv.Service, handler: srv.Handler()}
	h.fund("u1", 10)
	h.keyed("POST", "/v1/accounts/u1/debits", `{"amount":4}`, "a")
	h.keyed("POST", "/v1/accounts/u1/debits", `{"amount":4}`, "a")
	h.keyed("POST", "/v1/accounts/u1/debits", `{"amount":40}`, "b")
	h.webhook("/stripe/webhook", testkit.Event("evt_1", "customer.created", false, testkit.Session{}))
	h.do("POST", "/stripe/webhook", `{}`, nil)

	if r := h.do("GET", "/metrics", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("metrics without the API key: %d, want 401", r.status)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	h.handler.ServeHTTP(rec, req)
	body := rec.Body.String()
	for _, want := range []string{
		`credits_http_requests_total{code="201",route="POST /v1/accounts/{id}/debits"} 2`,
		`credits_http_requests_total{code="402",route="POST /v1/accounts/{id}/debits"} 1`,
		`credits_spending_requests_total{operation="debit",outcome="ok"} 1`,
		`credits_spending_requests_total{operation="debit",outcome="replayed"} 1`,
		`credits_spending_requests_total{operation="debit",outcome="insufficient_credits"} 1`,
		`credits_webhook_deliveries_total{outcome="ignored"} 1`,
		`credits_webhook_deliveries_total{outcome="refused"} 1`,
		`credits_http_request_duration_seconds_count{route="POST /v1/accounts/{id}/debits"} 3`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "/v1/accounts/u1") {
		t.Error("a metric label holds a raw path with an account id")
	}
}
