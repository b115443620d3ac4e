package server_test

import (
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
