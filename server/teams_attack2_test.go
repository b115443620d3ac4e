package server_test

import (
	"testing"
	"time"
)

// TestMemberPageWaitingForACardShowsItsOwnOnly: a member's page asked to
// wait for a card (?card=saving) while the team's administrator saves one
// shows, when the card arrives, the member's page still: its own history,
// not the team's ledger and members.
func TestMemberPageWaitingForACardShowsItsOwnOnly(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.srv.CardWait = 20 * time.Second
	aliceTeam(t, s)
	ann := s.visitor()
	if p := ann.open(s.linkWith(apiKey, "alice", `{"member_id":"ann"}`)); p.status != 200 {
		t.Fatalf("ann's page: %d", p.status)
	}
	got := make(chan page, 1)
	go func() { got <- ann.get("/dashboard/credits?card=saving") }()
	time.Sleep(300 * time.Millisecond) // ann's page is waiting for the card
	s.saveCard("alice")
	p := <-got
	if p.status != 200 {
		t.Fatalf("ann's page waiting for the card: %d", p.status)
	}
	if n := p.count("#ledger tr.entry"); n != 1 || p.count("#members") != 0 || p.text("#member-spent") != "30" {
		t.Errorf("ann's page once the team's card arrived: %d history rows (want her 1 debit), %d members tables (want 0), spent %q",
			n, p.count("#members"), p.text("#member-spent"))
	}
}

// TestMemberKeyLinks: a key bound to a member makes links to its member's
// page only: naming no member opens its member's page (its own history),
// naming another member or a capability beyond buying is refused, and the
// page of a member deleted since shows nothing of the team.
func TestMemberKeyLinks(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := aliceTeam(t, s)
	status, out := s.call(apiKey, "POST", "/v1/api_keys", `{"name":"ann's","scope":"spend","account_id":"alice","member_id":"ann"}`)
	var key struct{ Secret string }
	if err := jsonUnmarshal([]byte(out), &key); err != nil || status != 201 {
		t.Fatalf("ann's key: %d %s", status, out)
	}
	for _, body := range []string{`{"member_id":"bob"}`, `{"can":["card"]}`, `{"can":["auto_recharge"]}`} {
		if status, out := s.call(key.Secret, "POST", "/v1/accounts/alice/dashboard_sessions", body); status != 403 {
			t.Errorf("ann's key makes a link with %s: %d %s, want 403", body, status, out)
		}
	}
	p := s.visitor().open(s.linkWith(key.Secret, "alice", `{}`))
	if p.status != 200 || p.text("#member-spent") != "30" || p.count("#ledger tr.entry") != 1 || p.count("#members") != 0 {
		t.Errorf("ann's page from her key: %d, spent %q, %d history rows, %d members tables", p.status, p.text("#member-spent"),
			p.count("#ledger tr.entry"), p.count("#members"))
	}
	v := s.visitor()
	link := s.linkWith(key.Secret, "alice", `{}`)
	if err := s.svc.DeleteMember(ctx, "alice", "ann"); err != nil {
		t.Fatal(err)
	}
	if p := v.open(link); p.status == 200 || p.count("#ledger tr.entry") != 0 || p.count("#members") != 0 {
		t.Errorf("the page of a deleted member: %d, %d history rows, %d members tables", p.status, p.count("#ledger tr.entry"), p.count("#members"))
	}
}
