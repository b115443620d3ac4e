package server_test

import (
	"context"
	"testing"

	"github.com/credits/credits"
)

func TestDashboardShowsMembers(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	if _, _, err := s.svc.Grant(ctx, "alice", credits.GrantRequest{Amount: 1000}, nil); err != nil {
		t.Fatal(err)
	}
	name := "Ann"
	if _, err := s.svc.PutMember(ctx, "alice", "ann", credits.MemberRequest{Name: &name, SetCap: true,
		Cap: &credits.MemberCap{Credits: 2000, Period: credits.PeriodMonth}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.svc.Debit(ctx, "alice", credits.DebitRequest{Amount: 40, MemberID: "ann"}, nil); err != nil {
		t.Fatal(err)
	}
	_, p := s.signIn("alice")
	if got := p.count("#members tr.member"); got != 1 {
		t.Fatalf("%d member rows, want 1", got)
	}
	for i, want := range []string{"Ann", "40", "2,000 a month"} {
		if got := p.doc.Find("#members tr.member td").Eq(i).Text(); got != want {
			t.Errorf("column %d = %q, want %q", i, got, want)
		}
	}
	if got := p.doc.Find("#members tr.member td").Eq(3).Text(); got == "—" || got == "" {
		t.Errorf("period end = %q, want the month's end", got)
	}
}
