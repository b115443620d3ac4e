package server_test

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/demo"
)

// TestAdminShowsRecharges: every attempt of an account's auto-recharge is on
// its /admin page, with its idempotency key, status and reason.
func TestAdminShowsRecharges(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	cs, err := s.svc.CreateSetupSession(ctx, "alice", credits.ReturnURLs{Success: s.url + "/dashboard/credits", Cancel: s.url})
	if err != nil {
		t.Fatal(err)
	}
	v := s.visitor()
	setup := v.get(strings.TrimPrefix(cs.URL, s.url))
	v.submit(setup, "#pay-form", map[string]string{"card": "4000 0000 0000 0002"})
	if n, err := s.svc.ReadSavedCards(ctx); err != nil || n != 1 {
		t.Fatalf("read %d cards: %v", n, err)
	}
	if _, err := s.svc.SetAutoRecharge(ctx, "alice", credits.AutoRechargeSettings{Enabled: true, Threshold: 50, PackID: "starter", Quantity: 1, MonthlyLimit: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.ProcessRecharges(ctx); err != nil {
		t.Fatal(err)
	}
	view, _ := s.svc.GetAutoRecharge(ctx, "alice")
	operator := s.visitor()
	operator.post("/admin/login", url.Values{"api_key": {apiKey}})
	p := operator.get("/admin/accounts/alice")
	if got := p.count("#recharges tr.recharge"); got != 2 {
		t.Fatalf("%d attempts shown, want 2: %q", got, p.text("#auto-recharge"))
	}
	section := p.text("#auto-recharge")
	for _, want := range []string{"visa ·· 0002", view.Recharges[1].ID, "failed", "generic_decline", "pending", "up to $10.00 a month"} {
		if !strings.Contains(section, want) {
			t.Errorf("the admin page's auto-recharge does not show %q:\n%s", want, section)
		}
	}
}

func TestAutoRechargeAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.svc.Payments = demo.NewCheckout("http://localhost:8080", func([]byte, time.Time) string { return "" }, slog.New(slog.DiscardHandler))
	h.fund("u1", 100)
	if r := h.api("POST", "/v1/packs", `{"id":"starter","name":"Starter","credits":100,"unit_amount":500,"currency":"usd"}`); r.status != 201 {
		t.Fatalf("pack: %d %s", r.status, r.raw)
	}
	if r := h.api("GET", "/v1/accounts/u1/auto_recharge", ""); r.status != 200 || r.body["card"] != nil || r.body["enabled"] != false || r.body["last_attempt"] != nil {
		t.Errorf("get: %d %s", r.status, r.raw)
	}
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"enabled":false,"threshold":50,"pack_id":"starter"}`, 400},                            // no monthly limit
		{`{"threshold":50,"pack_id":"starter","monthly_limit":1000}`, 400},                       // enabled is required
		{`{"enabled":false,"threshold":50,"pack_id":"starter","monthly_limit":100}`, 400},        // below one recharge
		{`{"enabled":true,"threshold":50,"pack_id":"starter","monthly_limit":1000}`, 409},        // no saved card
		{`{"enabled":false,"threshold":50,"pack_id":"nope","monthly_limit":1000}`, 404},          // no such pack
		{`{"enabled":false,"threshold":50,"pack_id":"starter","monthly_limit":1000}`, 200},       // offered, off
		{`{"enabled":false,"threshold":50,"pack_id":"starter","monthly_limit":1000,"x":1}`, 400}, // unknown field
	} {
		if r := h.api("PUT", "/v1/accounts/u1/auto_recharge", tc.body); r.status != tc.status {
			t.Errorf("PUT %s: %d %s, want %d", tc.body, r.status, r.raw, tc.status)
		}
	}
	if r := h.api("PUT", "/v1/accounts/nobody/auto_recharge", `{"enabled":false,"threshold":50,"pack_id":"starter","monthly_limit":1000}`); r.status != 404 {
		t.Errorf("unknown account: %d", r.status)
	}
	r := h.api("POST", "/v1/accounts/u1/setup_sessions", "")
	if r.status != 201 || !strings.Contains(r.body["url"].(string), "/demo/checkout/") {
		t.Errorf("setup session: %d %s", r.status, r.raw)
	}
	if r := h.api("GET", "/v1/accounts/u1/auto_recharge", ""); r.status != 200 || r.body["customer_id"] == "" || r.body["monthly_limit"] != 1000.0 {
		t.Errorf("after the setup session: %d %s", r.status, r.raw)
	}
	if r := h.api("DELETE", "/v1/accounts/u1/payment_method", ""); r.status != 404 {
		t.Errorf("remove without a card: %d %s", r.status, r.raw)
	}
	if r := h.api("GET", "/v1/accounts/u1/recharges", ""); r.status != 200 || len(r.body["data"].([]any)) != 0 {
		t.Errorf("recharges: %d %s", r.status, r.raw)
	}
}

// TestCustomerPageShowsRechargeOutcome: after a declined recharge the
// customer page says so, with the bank's reason and when it is tried again,
// and this month's total counts no unpaid retry.
func TestCustomerPageShowsRechargeOutcome(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	// The clock moves while the demo may still deliver events to the site.
	var later atomic.Int64
	start := s.now
	s.svc.Now = func() time.Time { return start.Add(time.Duration(later.Load())) }
	ctx := context.Background()
	cs, err := s.svc.CreateSetupSession(ctx, "alice", credits.ReturnURLs{Success: s.url + "/dashboard/credits", Cancel: s.url})
	if err != nil {
		t.Fatal(err)
	}
	v := s.visitor()
	v.submit(v.get(strings.TrimPrefix(cs.URL, s.url)), "#pay-form", map[string]string{"card": "4000 0000 0000 9995"})
	if n, err := s.svc.ReadSavedCards(ctx); err != nil || n != 1 {
		t.Fatalf("read %d cards: %v", n, err)
	}
	if _, err := s.svc.SetAutoRecharge(ctx, "alice", credits.AutoRechargeSettings{Enabled: true, Threshold: 50, PackID: "starter", Quantity: 1, MonthlyLimit: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.ProcessRecharges(ctx); err != nil {
		t.Fatal(err)
	}
	_, p := s.signIn("alice")
	outcome := p.text("#recharge-outcome")
	for _, want := range []string{"did not go through", "insufficient_funds", "tried again at"} {
		if !strings.Contains(outcome, want) {
			t.Errorf("the page's recharge outcome %q does not say %q", outcome, want)
		}
	}
	if settings := p.text("#recharge-settings"); !strings.Contains(settings, "$0.00 so far this month") {
		t.Errorf("settings %q count the unpaid retry", settings)
	}
	if strings.Contains(outcome, "..") {
		t.Errorf("the outcome %q ends the bank's sentence twice", outcome)
	}
	if next := p.text("#recharge-next"); !strings.Contains(next, "if that fails too, auto-recharge turns off") {
		t.Errorf("what happens next: %q", next)
	}
	// The retry an hour later fails too: auto-recharge is off, and the page
	// says what to do.
	later.Store(int64(61 * time.Minute))
	s.now = start.Add(61 * time.Minute) // what s.link expects; read by this goroutine only
	if _, err := s.svc.ProcessRecharges(ctx); err != nil {
		t.Fatal(err)
	}
	_, p = s.signIn("alice")
	if next := p.text("#recharge-next"); !strings.Contains(next, "Auto-recharge is off: save another card (or fix this one), then turn it on again.") {
		t.Errorf("after the second decline, what happens next: %q (outcome %q)", next, p.text("#recharge-outcome"))
	}
}

// TestCustomerPageRechargeNeedsTheCustomer: a recharge the bank wants
// authenticated shows its reason, the link, and what happens meanwhile;
// paid through the link, it is labelled in the purchases.
func TestCustomerPageRechargeNeedsTheCustomer(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	cs, err := s.svc.CreateSetupSession(ctx, "alice", credits.ReturnURLs{Success: s.url + "/dashboard/credits", Cancel: s.url})
	if err != nil {
		t.Fatal(err)
	}
	v := s.visitor()
	v.submit(v.get(strings.TrimPrefix(cs.URL, s.url)), "#pay-form", map[string]string{"card": "4000 0027 6000 3184"})
	if err := readCard(s, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.SetAutoRecharge(ctx, "alice", credits.AutoRechargeSettings{Enabled: true, Threshold: 50, PackID: "starter", Quantity: 1, MonthlyLimit: 1000}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the charge, then the link
		if _, err := s.svc.ProcessRecharges(ctx); err != nil {
			t.Fatal(err)
		}
	}
	customer, p := s.signIn("alice")
	notice := p.text("#recharge-action")
	for _, want := range []string{"Your bank asks you to confirm a recharge of $5.00", "authentication", "Until then nothing is charged and no other recharge starts."} {
		if !strings.Contains(notice, want) {
			t.Errorf("the notice %q does not say %q", notice, want)
		}
	}
	link := p.doc.Find("#recharge-action-link").AttrOr("href", "")
	if link == "" {
		t.Fatalf("no link to confirm the recharge: %q", notice)
	}
	customer.submit(customer.get(link), "#pay-form", map[string]string{"card": "4242 4242 4242 4242"})
	p = customer.get("/dashboard/credits")
	if got := p.text("#purchases .recharge-label"); got != "auto-recharge" || p.text("#balance") != "100" || p.count("#recharge-action") != 0 {
		t.Errorf("after paying the link: label %q, balance %q, notice %q", got, p.text("#balance"), p.text("#recharge-action"))
	}
}
