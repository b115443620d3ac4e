package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/credits/credits"
)

func TestMembersOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("team", 1000)
	r := h.api("PUT", "/v1/accounts/team/members/ann", `{"name":"Ann","email":"Ann@Example.com","cap":{"credits":10,"period":"month"}}`)
	if r.status != 200 || r.body["email"] != "ann@example.com" || r.body["remaining"] != 10.0 || r.body["period_end"] == nil {
		t.Fatalf("put member: %d %s", r.status, r.raw)
	}
	if r := h.keyed("POST", "/v1/accounts/team/debits", `{"amount":4,"member_id":"ann"}`, "d1"); r.status != 201 || r.body["member_id"] != "ann" {
		t.Fatalf("debit as ann: %d %s", r.status, r.raw)
	}
	if r := h.keyed("POST", "/v1/accounts/team/holds", `{"amount":5,"member_id":"ann"}`, "h1"); r.status != 201 {
		t.Fatalf("hold as ann: %d %s", r.status, r.raw)
	}
	r = h.keyed("POST", "/v1/accounts/team/debits", `{"amount":2,"member_id":"ann"}`, "d2")
	if r.status != 402 || r.errorCode() != credits.EMEMBERCAP || !strings.Contains(r.errorMessage(), "10 credits per month") {
		t.Errorf("past the cap: %d %s, want 402 %s", r.status, r.raw, credits.EMEMBERCAP)
	}
	if r := h.keyed("POST", "/v1/accounts/team/debits", `{"amount":1,"member_id":"nobody"}`, "d3"); r.status != 404 {
		t.Errorf("unknown member: %d %s, want 404", r.status, r.raw)
	}
	r = h.api("GET", "/v1/accounts/team/members", "")
	data, _ := r.body["data"].([]any)
	if r.status != 200 || len(data) != 1 {
		t.Fatalf("members: %d %s", r.status, r.raw)
	}
	if m := data[0].(map[string]any); m["spent"] != 4.0 || m["held"] != 5.0 || m["remaining"] != 1.0 {
		t.Errorf("ann: %v, want spent 4, held 5, remaining 1", m)
	}
	if r := h.api("PUT", "/v1/accounts/team/members/ann", `{"cap":null}`); r.status != 200 || r.body["cap"] != nil || r.body["name"] != "Ann" {
		t.Errorf("cap removed: %d %s, want no cap and the name kept", r.status, r.raw)
	}
	for _, bad := range []string{`{"cap":{"credits":5,"period":"year"}}`, `{"cap":{"credits":-1,"period":"day"}}`, `{"cap":{"period":"day"}}`, `{"cap":5}`} {
		if r := h.api("PUT", "/v1/accounts/team/members/ann", bad); r.status != 400 {
			t.Errorf("%s: %d %s, want 400", bad, r.status, r.raw)
		}
	}
	if r := h.api("DELETE", "/v1/accounts/team/members/ann", ""); r.status != 204 {
		t.Errorf("delete: %d %s", r.status, r.raw)
	}
	if r := h.api("GET", "/v1/accounts/team/members/ann", ""); r.status != 404 {
		t.Errorf("deleted member: %d %s, want 404", r.status, r.raw)
	}
	if r := h.keyed("POST", "/v1/accounts/team/debits", `{"amount":1,"member_id":"ann"}`, "d4"); r.status != 404 {
		t.Errorf("debit as a deleted member: %d %s, want 404", r.status, r.raw)
	}
}

func TestMemberKeySpendsAsItsMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("team", 1000)
	h.api("PUT", "/v1/accounts/team/members/bob", `{"cap":{"credits":10,"period":"day"}}`)
	h.api("PUT", "/v1/accounts/team/members/cat", `{}`)
	for _, bad := range []string{`{"name":"k","scope":"admin","account_id":"team","member_id":"bob"}`, `{"name":"k","scope":"spend","member_id":"bob"}`} {
		if r := h.api("POST", "/v1/api_keys", bad); r.status != 400 {
			t.Errorf("%s: %d %s, want 400", bad, r.status, r.raw)
		}
	}
	if r := h.api("POST", "/v1/api_keys", `{"name":"k","scope":"spend","account_id":"team","member_id":"nobody"}`); r.status != 404 {
		t.Errorf("key of an unknown member: %d %s, want 404", r.status, r.raw)
	}
	r := h.api("POST", "/v1/api_keys", `{"name":"bob's","scope":"spend","account_id":"team","member_id":"bob"}`)
	if r.status != 201 {
		t.Fatalf("create key: %d %s", r.status, r.raw)
	}
	secret := r.body["secret"].(string)
	as := func(body, key string) response {
		return h.do("POST", "/v1/accounts/team/debits", body, map[string]string{"Authorization": "Bearer " + secret, "Idempotency-Key": key})
	}
	tests := []struct {
		body       string
		wantStatus int
	}{
		{`{"amount":3}`, 201},                   // as bob
		{`{"amount":3,"member_id":"bob"}`, 201}, // as bob, said
		{`{"amount":3,"member_id":"cat"}`, 403}, // as another member
		{`{"amount":5}`, 402},                   // past bob's cap
	}
	for i, tt := range tests {
		if r := as(tt.body, fmt.Sprint("k", i)); r.status != tt.wantStatus {
			t.Errorf("%s: %d %s, want %d", tt.body, r.status, r.raw, tt.wantStatus)
		}
	}
	// Holds: its member's alone.
	byAdmin := h.keyed("POST", "/v1/accounts/team/holds", `{"amount":1,"member_id":"cat"}`, "hc")
	byKey := h.do("POST", "/v1/accounts/team/holds", `{"amount":1}`, map[string]string{"Authorization": "Bearer " + secret, "Idempotency-Key": "hb"})
	if byAdmin.status != 201 || byKey.status != 201 {
		t.Fatalf("holds: %d %s, %d %s", byAdmin.status, byAdmin.raw, byKey.status, byKey.raw)
	}
	release := func(hold response) int {
		return h.do("POST", "/v1/holds/"+hold.body["id"].(string)+"/release", "", map[string]string{"Authorization": "Bearer " + secret}).status
	}
	if got := release(byAdmin); got != 403 {
		t.Errorf("releasing cat's hold with bob's key: %d, want 403", got)
	}
	if got := release(byKey); got != 200 {
		t.Errorf("releasing bob's hold with bob's key: %d, want 200", got)
	}
	if r := h.api("GET", "/v1/accounts/team/members/bob", ""); r.body["spent"] != 6.0 {
		t.Errorf("bob: %s, want 6 spent", r.raw)
	}
	if r := h.api("GET", "/v1/accounts/team/members/cat", ""); r.body["spent"] != 0.0 {
		t.Errorf("cat: %s, want nothing spent", r.raw)
	}
}

func TestTransfersOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("a", 100)
	h.fund("b", 0)
	body := `{"from":"a","to":"b","credits":30,"description":"share","include_granted":true}`
	first := h.keyed("POST", "/v1/transfers", body, "t1")
	if first.status != 201 || first.body["credits"] != 30.0 || len(first.body["parts"].([]any)) != 1 {
		t.Fatalf("transfer: %d %s", first.status, first.raw)
	}
	if again := h.keyed("POST", "/v1/transfers", body, "t1"); again.status != 201 || string(again.raw) != string(first.raw) {
		t.Errorf("replay: %d %s, want the first answer", again.status, again.raw)
	}
	if r := h.keyed("POST", "/v1/transfers", `{"from":"a","to":"b","credits":30}`, "t2"); r.status != 402 {
		t.Errorf("granted credits without include_granted: %d %s, want 402", r.status, r.raw)
	}
	if r := h.api("POST", "/v1/transfers", body); r.status != 400 {
		t.Errorf("without a key: %d %s, want 400", r.status, r.raw)
	}
	id := first.body["id"].(string)
	if r := h.api("GET", "/v1/transfers/"+id, ""); r.status != 200 || r.body["id"] != id {
		t.Errorf("read: %d %s", r.status, r.raw)
	}
	if r := h.api("GET", "/v1/accounts/b/transfers", ""); r.status != 200 || len(r.body["data"].([]any)) != 1 {
		t.Errorf("list: %d %s", r.status, r.raw)
	}
	for account, want := range map[string]float64{"a": 70, "b": 30} {
		if r := h.api("GET", "/v1/accounts/"+account, ""); r.body["balance"] != want {
			t.Errorf("%s balance %v, want %v", account, r.body["balance"], want)
		}
	}
	if r := h.api("GET", "/v1/accounts/a/entries", ""); !strings.Contains(string(r.raw), `"kind":"transfer_out"`) {
		t.Errorf("a's ledger has no transfer_out: %s", r.raw)
	}
}
