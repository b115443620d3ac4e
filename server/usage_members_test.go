package server_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestMemberUsageAndCheckOverHTTP: a key bound to a member prices and
// spends as that member, and is refused another's; every answer is checked
// against the OpenAPI description (harness.do).
func TestMemberUsageAndCheckOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("team", 1000)
	h.pricingAPI()
	h.api("PUT", "/v1/accounts/team/members/bob", `{"cap":{"credits":10,"period":"day"}}`)
	h.api("PUT", "/v1/accounts/team/members/cat", `{}`)
	r := h.api("POST", "/v1/api_keys", `{"name":"bob's","scope":"spend","account_id":"team","member_id":"bob"}`)
	if r.status != 201 {
		t.Fatalf("create key: %d %s", r.status, r.raw)
	}
	secret := r.body["secret"].(string)
	catsHold := h.api("POST", "/v1/accounts/team/check", `{"feature":"image","quantity":1,"reserve":true,"member_id":"cat"}`)
	if catsHold.status != 200 || !strings.Contains(string(catsHold.raw), `"member":{"member_id":"cat","remaining":null}`) {
		t.Fatalf("cat's reserve: %d %s", catsHold.status, catsHold.raw)
	}
	tests := []struct {
		name, path, body, key string
		status                int
		want                  string // in the raw answer
	}{
		{"check as bob", "check", `{"feature":"image","quantity":2}`, "", 200, `"allowed":true,"credits":6,"available":997,"shortfall":0,"rate_card":{"id":"default","version":1}`},
		{"check's member", "check", `{"feature":"image","quantity":2}`, "", 200, `"member":{"member_id":"bob","remaining":10}`},
		{"check past the cap", "check", `{"feature":"image","quantity":4}`, "", 200, `"reason":"member_cap_exceeded"`},
		{"check as cat", "check", `{"feature":"image","quantity":1,"member_id":"cat"}`, "", 403, "member bob only"},
		{"usage as bob", "usage", `{"feature":"image","quantity":2}`, "u1", 201, `"member_id":"bob"`},
		{"usage as bob, said", "usage", `{"feature":"image","quantity":1,"member_id":"bob"}`, "u2", 201, `"credits":3`},
		{"usage as cat", "usage", `{"feature":"image","quantity":1,"member_id":"cat"}`, "u3", 403, "member bob only"},
		{"usage past the cap", "usage", `{"feature":"image","quantity":1}`, "u4", 402, "member_cap_exceeded"},
		{"usage from cat's hold", "usage", `{"feature":"image","quantity":1,"hold_id":"` + catsHold.body["hold_id"].(string) + `"}`, "u5", 400, "member cat"},
		{"reserve past the cap", "check", `{"feature":"image","quantity":1,"reserve":true}`, "", 402, "member_cap_exceeded"},
	}
	for _, tt := range tests {
		header := map[string]string{"Authorization": "Bearer " + secret}
		if tt.key != "" {
			header["Idempotency-Key"] = tt.key
		}
		r := h.do("POST", "/v1/accounts/team/"+tt.path, tt.body, header)
		if r.status != tt.status || !strings.Contains(string(r.raw), tt.want) {
			t.Errorf("%s: %d %s; want %d with %s", tt.name, r.status, r.raw, tt.status, tt.want)
		}
	}
	if r := h.api("GET", "/v1/accounts/team/members/bob", ""); r.body["spent"] != 9.0 || r.body["held"] != 0.0 {
		t.Errorf("bob: %s, want 9 spent, none held", r.raw)
	}
}

// TestUsageKeyCoversTheMember: the same Idempotency-Key with another
// member_id is another request (422), not a replay.
func TestUsageKeyCoversTheMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("team", 100)
	h.pricingAPI()
	h.api("PUT", "/v1/accounts/team/members/bob", `{}`)
	h.api("PUT", "/v1/accounts/team/members/cat", `{}`)
	for i, tt := range []struct {
		member string
		status int
	}{{"bob", 201}, {"bob", 201}, {"cat", 422}} {
		body := fmt.Sprintf(`{"feature":"image","quantity":1,"member_id":%q}`, tt.member)
		if r := h.keyed("POST", "/v1/accounts/team/usage", body, "same"); r.status != tt.status {
			t.Errorf("%d: usage as %s: %d %s, want %d", i, tt.member, r.status, r.raw, tt.status)
		}
	}
	if r := h.api("GET", "/v1/accounts/team/members/bob", ""); r.body["spent"] != 3.0 {
		t.Errorf("bob: %s, want 3 spent (one usage, replayed once)", r.raw)
	}
}
