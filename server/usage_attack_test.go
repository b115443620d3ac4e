package server_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
)

// keyAs makes an API key of scope, bound to account when not empty, and
// returns a caller with it.
func (h *harness) keyAs(scope, account string) func(method, path, body, idem string) response {
	h.t.Helper()
	_, secret, err := h.svc.CreateAPIKey(context.Background(), "k "+scope+" "+account, scope, account)
	if err != nil {
		h.t.Fatal(err)
	}
	return func(method, path, body, idem string) response {
		h.t.Helper()
		header := map[string]string{"Authorization": "Bearer " + secret}
		if idem != "" {
			header["Idempotency-Key"] = idem
		}
		return h.do(method, path, body, header)
	}
}

// TestUsageAttackScopes: every pricing route refuses a key without its
// scope, and a key bound to one account reaches no other account nor
// another account's own rate card.
func TestUsageAttackScopes(t *testing.T) {
	t.Parallel()
	h := acmeHarness(t)
	read, spend := h.keyAs(credits.ScopeRead, ""), h.keyAs(credits.ScopeSpend, "")
	bound, boundAdmin := h.keyAs(credits.ScopeSpend, "u1"), h.keyAs(credits.ScopeAdmin, "u1")
	image := `{"feature":"image","quantity":1}`
	tests := []struct {
		name   string
		call   func(method, path, body, idem string) response
		method string
		path   string
		body   string
		status int
	}{
		{"read key usage", read, "POST", "/v1/accounts/u1/usage", image, 403},
		{"read key reserve", read, "POST", "/v1/accounts/u1/check", `{"feature":"image","quantity":1,"reserve":true}`, 403},
		{"spend key feature", spend, "POST", "/v1/features", `{"id":"video","name":"Video","unit":"second"}`, 403},
		{"spend key card", spend, "POST", "/v1/rate_cards", `{"id":"free","name":"Free","rates":[{"feature":"image","credits":"0"}]}`, 403},
		{"spend key version", spend, "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"0"}]}`, 403},
		{"spend key assigns", spend, "PUT", "/v1/accounts/u1/rate_card", `{"rate_card_id":"acme"}`, 403},
		{"bound check other", bound, "POST", "/v1/accounts/u2/check", image, 403},
		{"bound usage other", bound, "POST", "/v1/accounts/u2/usage", image, 403},
		{"bound totals other", bound, "GET", "/v1/accounts/u2/usage", "", 403},
		{"bound admin creates card", boundAdmin, "POST", "/v1/rate_cards", `{"id":"free","name":"Free","rates":[{"feature":"image","credits":"0"}]}`, 403},
		{"bound admin assigns other", boundAdmin, "PUT", "/v1/accounts/u2/rate_card", `{"rate_card_id":"default"}`, 403},
		{"bound reads another's card", bound, "GET", "/v1/rate_cards/acme", "", 404},
		{"bound reads another's version", bound, "GET", "/v1/rate_cards/acme/versions/1", "", 404},
		{"bound reads the default card", bound, "GET", "/v1/rate_cards/default", "", 200},
		{"bound totals own", bound, "GET", "/v1/accounts/u1/usage", "", 200},
		{"bound usage own", bound, "POST", "/v1/accounts/u1/usage", image, 201},
	}
	for i, tt := range tests {
		r := tt.call(tt.method, tt.path, tt.body, fmt.Sprint("atk", i))
		if r.status != tt.status {
			t.Errorf("%s: %d %s; want %d", tt.name, r.status, r.raw, tt.status)
		}
	}
	// The bound key's usage was priced by the default card and charged u1 only.
	for account, want := range map[string]float64{"u1": 97, "u2": 100} {
		if r := h.api("GET", "/v1/accounts/"+account, ""); r.body["balance"] != want {
			t.Errorf("%s: balance %v, want %v", account, r.body["balance"], want)
		}
	}
}

// TestUsageAttackBodies: hostile numbers, credits strings and shapes are
// refused with 400 and change nothing.
func TestUsageAttackBodies(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	h.pricingAPI()
	card := func(credits string) string {
		return `{"rates":[{"feature":"image","credits":"` + credits + `"}]}`
	}
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"float quantity", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantity":1.0}`, 400},
		{"exponent quantity", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantity":1e2}`, 400},
		{"quantity beyond int64", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantity":99999999999999999999}`, 400},
		{"quantity beyond MaxUnits", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantity":1000000000000000001}`, 400},
		{"string quantity", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantity":"1"}`, 400},
		{"both shapes", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantity":1,"quantities":{"quantity":1}}`, 400},
		{"empty quantities", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantities":{}}`, 400},
		{"bad quantity name", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantities":{"a b":1}}`, 400},
		{"non-string property", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantity":1,"properties":{"model":4}}`, 400},
		{"huge property", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantity":1,"properties":{"model":"` + strings.Repeat("x", 201) + `"}}`, 400},
		{"price beyond MaxAmount", "POST", "/v1/accounts/u1/check", `{"feature":"image","quantity":1000000000000000000}`, 400},
		{"negative zero is zero", "POST", "/v1/accounts/u1/check", `{"feature":"image","quantity":-0}`, 200},
		{"past effective_at", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"1"}],"effective_at":"2001-01-01T00:00:00Z"}`, 400},
		{"far future effective_at", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"1"}],"effective_at":"9999-01-01T00:00:00Z"}`, 400},
		{"negative per", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"1","per":-1}]}`, 400},
		{"negative minimum", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"1"}],"minimum":-1}`, 400},
		{"huge minimum", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"1"}],"minimum":1000000000000000001}`, 400},
		{"unknown rounding", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"1"}],"rounding":"bankers"}`, 400},
		{"non-string match", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"1","match":{"model":1}}]}`, 400},
		{"same rate twice", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"1"},{"feature":"image","credits":"2","quantity":"quantity"}]}`, 400},
		{"equally specific overlap", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"1","match":{"a":"1","b":"2"}},{"feature":"image","credits":"2","match":{"b":"2","c":"3"}}]}`, 400},
	}
	for _, c := range []string{"1e3", "+1", "-0", "-1", ".5", "1.", "0.0000001", "١", " 1", "1 ", "0x10", "1,5", "10000000000001", "", "NaN", "Inf"} {
		tests = append(tests, struct {
			name, method, path, body string
			status                   int
		}{"credits " + c, "POST", "/v1/rate_cards/default/versions", card(c), 400})
	}
	for i, tt := range tests {
		r := h.keyed(tt.method, tt.path, tt.body, fmt.Sprint("b", i))
		if r.status != tt.status {
			t.Errorf("%s: %d %s; want %d", tt.name, r.status, r.raw, tt.status)
		}
	}
	if r := h.api("GET", "/v1/rate_cards/default", ""); len(r.body["versions"].([]any)) != 1 {
		t.Errorf("versions after refused bodies: %s; want only version 1", r.raw)
	}
	if r := h.api("GET", "/v1/accounts/u1", ""); r.body["balance"] != float64(100) || r.body["held"] != float64(0) {
		t.Errorf("account after refused bodies: %s; want 100, nothing held", r.raw)
	}
}

// TestUsageAttackReplays: a key answers its first request only; another
// body, or another hold, under it is 422 and takes nothing.
func TestUsageAttackReplays(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	h.pricingAPI()
	hold := func(key string) string {
		r := h.keyed("POST", "/v1/accounts/u1/check", `{"feature":"image","quantity":2,"reserve":true}`, key)
		id, _ := r.body["hold_id"].(string)
		if r.status != 200 || id == "" {
			t.Fatalf("reserve: %d %s", r.status, r.raw)
		}
		return id
	}
	h1, h2 := hold("r1"), hold("r2")
	if again := hold("r1"); again != h1 {
		t.Errorf("reserve replayed: hold %s, want %s", again, h1)
	}
	use := func(holdID string) string { return `{"feature":"image","quantity":1,"hold_id":"` + holdID + `"}` }
	if r := h.keyed("POST", "/v1/accounts/u1/usage", use(h1), "u"); r.status != 201 || r.body["credits"] != float64(3) {
		t.Fatalf("usage: %d %s", r.status, r.raw)
	}
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"another hold", "/v1/accounts/u1/usage", use(h2), 422},
		{"another quantity", "/v1/accounts/u1/usage", `{"feature":"image","quantity":2,"hold_id":"` + h1 + `"}`, 422},
		{"the key on check", "/v1/accounts/u1/check", `{"feature":"image","quantity":1,"reserve":true}`, 422},
		{"the same", "/v1/accounts/u1/usage", use(h1), 201},
	}
	for _, tt := range tests {
		if r := h.keyed("POST", tt.path, tt.body, "u"); r.status != tt.status {
			t.Errorf("%s: %d %s; want %d", tt.name, r.status, r.raw, tt.status)
		}
	}
	// 100 − 3 used; h2 holds 6.
	if r := h.api("GET", "/v1/accounts/u1", ""); r.body["balance"] != float64(97) || r.body["held"] != float64(6) {
		t.Errorf("account: %s; want balance 97, 6 held", r.raw)
	}
}

// TestUsageAttackDashboardShowsItsOwnAccount: the customer page's credits by
// feature count its own account's usage only.
func TestUsageAttackDashboardShowsItsOwnAccount(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	if _, err := s.svc.CreateFeature(ctx, credits.Feature{ID: "image", Name: "Images", Unit: "images"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.CreateFeature(ctx, credits.Feature{ID: "video", Name: "Videos", Unit: "videos"}); err != nil {
		t.Fatal(err)
	}
	rates := []credits.Rate{{Feature: "image", Credits: "3"}, {Feature: "video", Credits: "5"}}
	if _, err := s.svc.CreateRateCard(ctx, credits.RateCardRequest{ID: "default", Name: "Default", Rates: rates}); err != nil {
		t.Fatal(err)
	}
	for _, use := range []struct {
		account, feature string
		n                int64
	}{{"alice", "image", 1}, {"bob", "image", 7}, {"bob", "video", 2}} {
		if _, _, err := s.svc.Grant(ctx, use.account, credits.GrantRequest{Amount: 100}, nil); err != nil {
			t.Fatal(err)
		}
		req := credits.UsageRequest{Feature: use.feature, Quantity: &use.n}
		if _, _, err := s.svc.RecordUsage(ctx, use.account, req, &credits.Idempotency{Scope: "t", Key: use.account + use.feature, RequestHash: "h"}); err != nil {
			t.Fatal(err)
		}
	}
	_, p := s.signIn("alice")
	if got, want := p.text("#usage tr.feature-usage"), "Images"; !strings.Contains(got, want) || strings.Contains(got, "Videos") || strings.Contains(got, "21") {
		t.Errorf("alice's usage rows %q: want her 1 image (3 credits) only", got)
	}
}

// TestUsageAttackTotalsQuery: the totals' query is parsed strictly; time
// zones are honoured; ranges are bounded.
func TestUsageAttackTotalsQuery(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	h.pricingAPI()
	if r := h.keyed("POST", "/v1/accounts/u1/usage", `{"feature":"image","quantity":2}`, "u"); r.status != 201 {
		t.Fatalf("usage: %d %s", r.status, r.raw)
	}
	now := time.Now().UTC()
	at := func(d time.Duration, zone int) string {
		return url.QueryEscape(now.Add(d).In(time.FixedZone("z", zone*3600)).Format(time.RFC3339))
	}
	tests := []struct {
		name, query string
		status      int
		want        string
	}{
		{"in another zone", "from=" + at(-time.Hour, 5) + "&to=" + at(time.Hour, -8), 200, `"credits":6`},
		{"before it, in another zone", "from=" + at(-2*time.Hour, 14) + "&to=" + at(-time.Hour, -12), 200, `"data":[]`},
		{"an unescaped plus", "from=" + now.In(time.FixedZone("z", 3600)).Format(time.RFC3339), 400, "from"},
		{"empty range", "from=" + at(0, 0) + "&to=" + at(0, 0), 400, "before"},
		{"reversed", "from=" + at(time.Hour, 0) + "&to=" + at(0, 0), 400, "before"},
		{"367 days", "from=" + at(-367*24*time.Hour, 0) + "&to=" + at(0, 0), 400, "366"},
		{"group_by injection", "group_by=" + url.QueryEscape("feature'); DROP TABLE usages; --"), 400, "group_by"},
		{"group_by twice", "group_by=feature,feature", 400, "group_by"},
		{"group_by case", "group_by=Feature", 400, "group_by"},
		{"a date only", "from=2026-12-01", 400, "RFC 3339"},
		{"still there", "group_by=day,feature", 200, `"credits":6`},
	}
	for _, tt := range tests {
		if r := h.api("GET", "/v1/accounts/u1/usage?"+tt.query, ""); r.status != tt.status || !strings.Contains(string(r.raw), tt.want) {
			t.Errorf("%s (%s): %d %s; want %d with %s", tt.name, tt.query, r.status, r.raw, tt.status, tt.want)
		}
	}
	if r := h.api("GET", "/v1/accounts/nobody/usage", ""); r.status != 404 {
		t.Errorf("unknown account: %d %s; want 404", r.status, r.raw)
	}
}

// acmeHarness funds u1 and u2 with 100 credits each, and prices u2 by a card
// of its own, acme (an image for 0.5), while u1 keeps the default card.
func acmeHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	h.fund("u1", 100)
	h.fund("u2", 100)
	h.pricingAPI()
	if r := h.api("POST", "/v1/rate_cards", `{"id":"acme","name":"Acme","rates":[{"feature":"image","credits":"0.5"}]}`); r.status != 201 {
		t.Fatalf("card acme: %d %s", r.status, r.raw)
	}
	if r := h.api("PUT", "/v1/accounts/u2/rate_card", `{"rate_card_id":"acme"}`); r.status != 200 {
		t.Fatalf("u2 on acme: %d %s", r.status, r.raw)
	}
	return h
}
