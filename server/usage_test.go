package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/credits/credits"
)

// pricingAPI makes the features chat and image and the card default over
// the API: gpt-4o input 2.5 and output 10 credits per 1,000 tokens.
func (h *harness) pricingAPI() {
	h.t.Helper()
	for _, body := range []string{`{"id":"chat","name":"Chat","unit":"tokens"}`, `{"id":"image","name":"Images","unit":"image"}`} {
		if r := h.api("POST", "/v1/features", body); r.status != 201 {
			h.t.Fatalf("feature: %d %s", r.status, r.raw)
		}
	}
	r := h.api("POST", "/v1/rate_cards", `{"id":"default","name":"Default","rates":[
		{"feature":"chat","quantity":"input","credits":"2.5","per":1000,"match":{"model":"gpt-4o"}},
		{"feature":"chat","quantity":"output","credits":"10","per":1000,"match":{"model":"gpt-4o"}},
		{"feature":"image","credits":"3"}]}`)
	if r.status != 201 || r.body["version"] != float64(1) {
		h.t.Fatalf("rate card: %d %s", r.status, r.raw)
	}
}

func TestPricingRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	h.pricingAPI()
	chat := `{"feature":"chat","quantities":{"input":1234,"output":567},"properties":{"model":"gpt-4o"}}`
	tests := []struct {
		name, method, path, body, key string
		status                        int
		want                          string // in the raw answer
	}{
		{"list features", "GET", "/v1/features", "", "", 200, `"unit":"tokens"`},
		{"feature twice", "POST", "/v1/features", `{"id":"chat","name":"Chat","unit":"tokens"}`, "", 409, "exists"},
		{"read the card", "GET", "/v1/rate_cards/default", "", "", 200, `"current":{`},
		{"read version 1", "GET", "/v1/rate_cards/default/versions/1", "", "", 200, `"rounding":"up"`},
		{"no version 7", "GET", "/v1/rate_cards/default/versions/7", "", "", 404, "no version 7"},
		{"ambiguous rates", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"1","match":{"a":"1"}},{"feature":"image","credits":"2","match":{"b":"1"}}]}`, "", 400, "equally specific"},
		{"unknown feature in a rate", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"video","credits":"1"}]}`, "", 404, "video"},
		{"seven decimals", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"0.0000001"}]}`, "", 400, "decimal places"},
		{"check", "POST", "/v1/accounts/u1/check", chat, "", 200, `"credits":9`},
		{"check breakdown", "POST", "/v1/accounts/u1/check", chat, "", 200, `"credits_exact":"3.085"`},
		{"usage", "POST", "/v1/accounts/u1/usage", chat, "use1", 201, `"rate_card":{"id":"default","version":1}`},
		{"usage replayed", "POST", "/v1/accounts/u1/usage", chat, "use1", 201, `"balance":91`},
		{"usage without a key", "POST", "/v1/accounts/u1/usage", chat, "", 400, "Idempotency-Key"},
		{"unknown feature", "POST", "/v1/accounts/u1/usage", `{"feature":"video","quantity":1}`, "use2", 404, "video"},
		{"no rate", "POST", "/v1/accounts/u1/usage", `{"feature":"chat","quantities":{"input":1,"audio":2}}`, "use3", 400, "audio, input"},
		{"negative", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantity":-1}`, "use4", 400, "quantity"},
		{"fractional", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantities":{"quantity":1.5}}`, "use5", 400, "integer"},
		{"short", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantity":100}`, "use6", 402, "available"},
		{"reserve short", "POST", "/v1/accounts/u1/check", `{"feature":"image","quantity":100,"reserve":true}`, "", 402, "available"},
		{"reserve", "POST", "/v1/accounts/u1/check", `{"feature":"image","quantity":2,"reserve":true}`, "", 200, `"hold_id":"hold_`},
		{"totals", "GET", "/v1/accounts/u1/usage?group_by=feature,day", "", "", 200, `"feature":"chat"`},
		{"totals bad group", "GET", "/v1/accounts/u1/usage?group_by=week", "", "", 400, "group_by"},
		{"totals bad time", "GET", "/v1/accounts/u1/usage?from=yesterday", "", "", 400, "from"},
		{"entries name the usage", "GET", "/v1/accounts/u1/entries", "", "", 200, `"feature":"chat"`},
		{"own card unknown", "PUT", "/v1/accounts/u1/rate_card", `{"rate_card_id":"gold"}`, "", 404, "gold"},
		{"own card", "PUT", "/v1/accounts/u1/rate_card", `{"rate_card_id":"default"}`, "", 200, `"rate_card_id":"default"`},
	}
	for _, tt := range tests {
		var r response
		if tt.key != "" {
			r = h.keyed(tt.method, tt.path, tt.body, tt.key)
		} else {
			r = h.api(tt.method, tt.path, tt.body)
		}
		if r.status != tt.status || !strings.Contains(string(r.raw), tt.want) {
			t.Errorf("%s: %d %s; want %d with %s", tt.name, r.status, r.raw, tt.status, tt.want)
		}
	}
}

func TestUsageFromAReserveOverTheAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	h.pricingAPI()
	r := h.api("POST", "/v1/accounts/u1/check", `{"feature":"chat","quantities":{"output":3000},"properties":{"model":"gpt-4o"},"reserve":true}`)
	hold, _ := r.body["hold_id"].(string)
	if r.status != 200 || hold == "" || r.body["available"] != float64(70) {
		t.Fatalf("reserve: %d %s", r.status, r.raw)
	}
	r = h.keyed("POST", "/v1/accounts/u1/usage", `{"feature":"chat","quantities":{"output":2000},"properties":{"model":"gpt-4o"},"hold_id":"`+hold+`"}`, "k")
	if r.status != 201 || r.body["credits"] != float64(20) || r.body["balance"] != float64(80) || r.body["available"] != float64(80) {
		t.Errorf("usage from the hold: %d %s; want 20 credits captured, the rest released", r.status, r.raw)
	}
}

func TestPricingScopes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	h.fund("u2", 100)
	h.pricingAPI()
	_, spend, err := h.svc.CreateAPIKey(context.Background(), "spend", credits.ScopeSpend, "u1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"spend key uses", "POST", "/v1/accounts/u1/usage", `{"feature":"image","quantity":1}`, 201},
		{"spend key checks", "POST", "/v1/accounts/u1/check", `{"feature":"image","quantity":1}`, 200},
		{"spend key reads features", "GET", "/v1/features", "", 200},
		{"not another account", "POST", "/v1/accounts/u2/usage", `{"feature":"image","quantity":1}`, 403},
		{"no features", "POST", "/v1/features", `{"id":"x","name":"X","unit":"u"}`, 403},
		{"no rate cards", "POST", "/v1/rate_cards/default/versions", `{"rates":[{"feature":"image","credits":"1"}]}`, 403},
		{"no card of its own", "PUT", "/v1/accounts/u1/rate_card", `{"rate_card_id":"default"}`, 403},
	}
	for _, tt := range tests {
		r := h.do(tt.method, tt.path, tt.body, map[string]string{"Authorization": "Bearer " + spend, "Idempotency-Key": tt.name})
		if r.status != tt.status {
			t.Errorf("%s: %d %s; want %d", tt.name, r.status, r.raw, tt.status)
		}
	}
}
