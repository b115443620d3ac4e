package server_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/credits/credits"
)

// TestAccessAttackBoundAdminTakesAnotherCustomersCard: a key bound to one
// account reads only the card that prices it (docs/pricing.md: "one
// customer's prices are not another's to see"); assigning its account
// another customer's card must not be a way around that, nor tell which
// cards exist.
func TestAccessAttackBoundAdminTakesAnotherCustomersCard(t *testing.T) {
	t.Parallel()
	h := acmeHarness(t)
	boundAdmin := h.keyAs(credits.ScopeAdmin, "u1")
	if r := boundAdmin("GET", "/v1/rate_cards/acme", "", ""); r.status != 404 {
		t.Fatalf("bound admin reads acme: %d %s; want 404", r.status, r.raw)
	}
	exists := boundAdmin("PUT", "/v1/accounts/u1/rate_card", `{"rate_card_id":"acme"}`, "")
	unknown := boundAdmin("PUT", "/v1/accounts/u1/rate_card", `{"rate_card_id":"nosuch"}`, "")
	if exists.status != 404 || unknown.status != 404 {
		t.Errorf("bound admin assigns acme: %d %s, an unknown card: %d %s; want 404 for both", exists.status, exists.raw, unknown.status, unknown.raw)
	}
	if r := boundAdmin("GET", "/v1/rate_cards/acme", "", ""); r.status != 404 || strings.Contains(string(r.raw), `"0.5"`) {
		t.Errorf("bound admin reads acme after assigning it: %d %s; want 404", r.status, r.raw)
	}
	if r := boundAdmin("POST", "/v1/accounts/u1/check", `{"feature":"image","quantity":2}`, ""); r.status != 200 || r.body["credits"] != float64(6) {
		t.Errorf("u1 priced by: %d %s; want default's 6 credits", r.status, r.raw)
	}
	// What it can read it can still choose: the default card.
	if r := boundAdmin("PUT", "/v1/accounts/u1/rate_card", `{"rate_card_id":"default"}`, ""); r.status != 200 {
		t.Errorf("bound admin assigns default: %d %s; want 200", r.status, r.raw)
	}
}

// TestAccessAttackHomeKeyToARebindingPage: a web page the developer visits
// can rebind its own name to 127.0.0.1 and read the development home page
// from the developer's browser: the request comes from a loopback peer,
// with no forwarding header, but names the page's host. The key and the
// signed demo link are for the service's own names only.
func TestAccessAttackHomeKeyToARebindingPage(t *testing.T) {
	t.Parallel()
	srv, _ := homeServer(t, false, true)
	h := srv.Handler()
	get := func(host string) string {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr, req.Host = "127.0.0.1:4000", host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("GET / with Host %s: %d", host, rec.Code)
		}
		return rec.Body.String()
	}
	for _, host := range []string{"evil.example:8080", "evil.example", "localhost.evil.example:8080", "127.0.0.1.evil.example:8080"} {
		if body := get(host); strings.Contains(body, apiKey) || strings.Contains(body, "token=") {
			t.Errorf("Host %s: the key or a demo link is shown", host)
		}
	}
	for _, host := range []string{"localhost:8080", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST:8080"} {
		if body := get(host); !strings.Contains(body, apiKey) {
			t.Errorf("Host %s: the key is not shown to this machine", host)
		}
	}
}
