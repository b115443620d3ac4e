package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/credits/credits"
)

// TestMemberPageWaitingForACardShowsItsOwnOnly: a member's page asked to
// wait for a card (?card=saving) while the team's administrator saves one
// shows, when the card arrives, the member's page still: its own history,
// not the team's ledger and members.
func TestMemberPageWaitingForACardShowsItsOwnOnly(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.srv.CardWait = 20 * time.Second
	ctx := context.Background()
	if _, _, err := s.svc.Grant(ctx, "alice", credits.GrantRequest{Amount: 1000}, nil); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"ann", "bob"} {
		if _, err := s.svc.PutMember(ctx, "alice", m, credits.MemberRequest{SetCap: true, Cap: &credits.MemberCap{Credits: 100, Period: credits.PeriodWeek}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, spend := range []struct {
		member string
		amount int64
	}{{"ann", 30}, {"bob", 7}, {"", 5}} {
		if _, _, err := s.svc.Debit(ctx, "alice", credits.DebitRequest{Amount: spend.amount, MemberID: spend.member}, nil); err != nil {
			t.Fatal(err)
		}
	}
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
