package server_test

import (
	"testing"
)

// TestMemberKeyReadsItsOwnOnly: a key bound to a member reads what its
// member's page shows (the account, its own member) and not the team's
// ledger, purchases, holds, members or transfers; it makes no transfer and
// changes no cap.
func TestMemberKeyReadsItsOwnOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("team", 1000)
	h.api("PUT", "/v1/accounts/team/members/bob", `{"cap":{"credits":10,"period":"day"}}`)
	h.api("PUT", "/v1/accounts/team/members/cat", `{"email":"cat@example.com"}`)
	r := h.api("POST", "/v1/api_keys", `{"name":"bob's","scope":"spend","account_id":"team","member_id":"bob"}`)
	if r.status != 201 {
		t.Fatalf("create key: %d %s", r.status, r.raw)
	}
	auth := map[string]string{"Authorization": "Bearer " + r.body["secret"].(string), "Idempotency-Key": "k1"}
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/accounts/team", "", 200},
		{"GET", "/v1/accounts/team/members/bob", "", 200},
		{"GET", "/v1/accounts/team/members/cat", "", 403},
		{"GET", "/v1/accounts/team/members", "", 403},
		{"GET", "/v1/accounts/team/entries", "", 403},
		{"GET", "/v1/accounts/team/purchases", "", 403},
		{"GET", "/v1/accounts/team/holds", "", 403},
		{"GET", "/v1/accounts/team/transfers", "", 403},
		{"PUT", "/v1/accounts/team/members/bob", `{"cap":null}`, 403},
		{"POST", "/v1/transfers", `{"from":"team","to":"other","credits":1}`, 403},
		{"POST", "/v1/accounts/team/debits", `{"amount":1}`, 201},
	}
	for _, tt := range tests {
		if got := h.do(tt.method, tt.path, tt.body, auth); got.status != tt.want {
			t.Errorf("%s %s with bob's key: %d %s, want %d", tt.method, tt.path, got.status, got.raw, tt.want)
		}
	}
}
