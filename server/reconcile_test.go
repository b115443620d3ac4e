package server_test

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/server"
)

// oneSession lists one paid session of ours and nothing else.
type oneSession struct{ session credits.StripeSession }

func (o oneSession) ListStripe(_ context.Context, objectType string, _ time.Time, after string) iter.Seq2[credits.StripeObject, error] {
	return func(yield func(credits.StripeObject, error) bool) {
		if objectType == credits.StripeCheckoutSessions && after == "" {
			s := o.session
			yield(credits.StripeObject{Type: objectType, ID: s.ID, Created: time.Now(), Session: &s}, nil)
		}
	}
}

func (o oneSession) RetrieveStripe(_ context.Context, objectType, id string) (credits.StripeObject, error) {
	return credits.StripeObject{}, fmt.Errorf("no %s %s: %w", objectType, id, credits.ErrNotFound)
}

// TestReconciliation: GET /v1/reconciliation, the operator's page and the
// metrics show the latest run and its items.
func TestReconciliation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if r := h.api("GET", "/v1/reconciliation", ""); r.status != http.StatusNotFound {
		t.Errorf("before any run: %d, want 404", r.status)
	}
	if _, err := h.svc.CreateAccount(context.Background(), "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	lister := oneSession{credits.StripeSession{ID: "cs_lost", Mode: "payment", Status: "complete", PaymentStatus: "paid",
		AmountTotal: 500, Currency: "usd", Metadata: map[string]string{"account_id": "u1", "credits_checkout": "chk_1"}}}
	if _, err := h.svc.Reconcile(context.Background(), lister, credits.ReconcileOptions{}); err != nil {
		t.Fatal(err)
	}
	r := h.api("GET", "/v1/reconciliation", "")
	run, _ := r.body["run"].(map[string]any)
	items, _ := r.body["items"].([]any)
	if r.status != http.StatusOK || run["status"] != "succeeded" || run["fix"] != false || len(items) != 1 {
		t.Fatalf("reconciliation: %d %s", r.status, r.raw)
	}
	item := items[0].(map[string]any)
	if item["kind"] != credits.ItemPaidNotCredited || item["object"] != "cs_lost" || item["account_id"] != "u1" || item["fixed"] != false {
		t.Errorf("item %v", item)
	}
	if counts, _ := run["counts"].(map[string]any); counts[credits.ItemPaidNotCredited] != 1.0 || counts[credits.ItemStuck] != 0.0 {
		t.Errorf("counts %v", run["counts"])
	}
	if r := h.api("GET", "/v1/reconciliation?limit=5000", ""); r.status != http.StatusBadRequest {
		t.Errorf("limit beyond the bound: %d", r.status)
	}
	if r := h.do("GET", "/v1/reconciliation", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("without a key: %d", r.status)
	}
}

func TestReconciliationPageAndMetrics(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	v := s.visitor()
	v.post("/admin/login", url.Values{"api_key": {apiKey}})
	if p := v.get("/admin/reconciliation"); p.status != 200 || p.count("#never") != 1 {
		t.Fatalf("before any run: %d, %q", p.status, p.text("main"))
	}
	lister := oneSession{credits.StripeSession{ID: "cs_lost", Mode: "payment", Status: "complete", PaymentStatus: "paid",
		AmountTotal: 500, Currency: "usd", Metadata: map[string]string{"account_id": "alice"}}}
	if _, err := s.svc.Reconcile(context.Background(), lister, credits.ReconcileOptions{}); err != nil {
		t.Fatal(err)
	}
	p := v.get("/admin/reconciliation")
	if p.status != 200 || p.count(`#items tr.item[data-kind="paid_not_credited"][data-object="cs_lost"]`) != 1 || !strings.Contains(p.text("#run"), "succeeded") {
		t.Errorf("page: %d, %q", p.status, p.text("main"))
	}

	srv := &server.Server{Service: s.svc, APIKey: apiKey, Logger: slog.New(slog.DiscardHandler), Metrics: server.NewMetrics()}
	handler := srv.Handler()
	srv.Handler() // a second handler on the same metrics registers them once
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	handler.ServeHTTP(rec, req)
	body := rec.Body.String()
	for _, want := range []string{`credits_reconcile_items{kind="paid_not_credited"} 1`, `credits_reconcile_items{kind="charged_twice"} 0`,
		"credits_reconcile_last_success_timestamp_seconds 1."} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
