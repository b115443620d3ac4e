package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
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

func TestMemberPage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	aliceTeam(t, s)
	req, _ := http.NewRequest("POST", s.url+"/v1/accounts/alice/dashboard_sessions", strings.NewReader(`{"member_id":"ann"}`))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct {
		URL string   `json:"url"`
		Can []string `json:"can"`
	}
	if err := jsonUnmarshal(body, &out); err != nil || resp.StatusCode != 201 || strings.Join(out.Can, ",") != "purchase" {
		t.Fatalf("member link: %d %s, want 201 that may purchase only", resp.StatusCode, body)
	}
	p := s.visitor().open(out.URL)
	if p.status != 200 {
		t.Fatalf("member page: %d", p.status)
	}
	checks := map[string]string{"#member-remaining": "70", "#member-spent": "30"}
	for selector, want := range checks {
		if got := p.text(selector); got != want {
			t.Errorf("%s = %q, want %q", selector, got, want)
		}
	}
	if got := p.count("#ledger tr.entry"); got != 1 {
		t.Errorf("%d history rows, want ann's one debit", got)
	}
	if p.count("#auto-recharge") != 0 || p.count("#members") != 0 {
		t.Error("a member's page shows the account's auto-recharge or its members")
	}
	if p.count("#packs form.pack") == 0 {
		t.Error("a member's page offers no packs to buy for the team")
	}
	req, _ = http.NewRequest("POST", s.url+"/v1/accounts/alice/dashboard_sessions", strings.NewReader(`{"member_id":"nobody"}`))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 404 {
		t.Errorf("a link for an unknown member: %v %v, want 404", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
}

// aliceTeam gives alice 1,000 credits and two members capped at 100 a
// week, ann and bob, who spent 30 and 7 of them (and alice 5 as none).
func aliceTeam(t *testing.T, s *site) context.Context {
	t.Helper()
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
	return ctx
}
