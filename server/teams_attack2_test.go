package server_test

import (
	"net/http"
	"strings"
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
	key := annKey(t, s)
	for _, body := range []string{`{"member_id":"bob"}`, `{"can":["card"]}`, `{"can":["auto_recharge"]}`} {
		if status, out := s.call(key, "POST", "/v1/accounts/alice/dashboard_sessions", body); status != 403 {
			t.Errorf("ann's key makes a link with %s: %d %s, want 403", body, status, out)
		}
	}
	p := s.visitor().open(s.linkWith(key, "alice", `{}`))
	if p.status != 200 || p.text("#member-spent") != "30" || p.count("#ledger tr.entry") != 1 || p.count("#members") != 0 {
		t.Errorf("ann's page from her key: %d, spent %q, %d history rows, %d members tables", p.status, p.text("#member-spent"),
			p.count("#ledger tr.entry"), p.count("#members"))
	}
	v := s.visitor()
	link := s.linkWith(key, "alice", `{}`)
	if err := s.svc.DeleteMember(ctx, "alice", "ann"); err != nil {
		t.Fatal(err)
	}
	if p := v.open(link); p.status == 200 || p.count("#ledger tr.entry") != 0 || p.count("#members") != 0 {
		t.Errorf("the page of a deleted member: %d, %d history rows, %d members tables", p.status, p.count("#ledger tr.entry"), p.count("#members"))
	}
}

// TestDeletedMemberPageBuysNothing: a member's page open in a browser when
// the member is deleted neither shows the page again nor starts a purchase
// (403 asking to open the page again; no Checkout Session is made); the
// team's own page still buys.
func TestDeletedMemberPageBuysNothing(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	counting := &countingCheckouts{Payments: s.svc.Payments}
	s.svc.Payments = counting
	ctx := aliceTeam(t, s)
	ann := s.visitor()
	p := ann.open(s.linkWith(apiKey, "alice", `{"member_id":"ann"}`))
	if p.status != 200 || p.count(`#packs form.pack[data-pack="starter"]`) != 1 {
		t.Fatalf("ann's page: %d, %d starter forms", p.status, p.count(`#packs form.pack[data-pack="starter"]`))
	}
	if err := s.svc.DeleteMember(ctx, "alice", "ann"); err != nil {
		t.Fatal(err)
	}
	if bought := ann.submit(p, `#packs form.pack[data-pack="starter"]`, nil); bought.status != 403 || counting.created != 0 {
		t.Errorf("a purchase from the page of a deleted member: %d, %d sessions created; want 403 and none", bought.status, counting.created)
	}
	if again := ann.get("/dashboard/credits"); again.status != 403 || again.count("#ledger tr.entry") != 0 {
		t.Errorf("the page of a deleted member again: %d, %d history rows; want 403 and none", again.status, again.count("#ledger tr.entry"))
	}
	v, team := s.signIn("alice")
	if bought := v.submit(team, `#packs form.pack[data-pack="starter"]`, nil); bought.status >= 400 || counting.created != 1 {
		t.Errorf("a purchase from the team's page: %d, %d sessions created; want one", bought.status, counting.created)
	}
}

// TestPageWaitingForACardEndsWithItsKey: a page that waits for a card (here
// a member's, ?card=saving) while the key that made it is revoked shows,
// when the wait ends, nothing of the account: 403 asking to open the page
// again.
func TestPageWaitingForACardEndsWithItsKey(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.srv.CardWait = 20 * time.Second
	aliceTeam(t, s)
	status, out := s.call(apiKey, "POST", "/v1/api_keys", `{"name":"links","scope":"spend","account_id":"alice"}`)
	var key struct {
		Key    struct{ ID string }
		Secret string
	}
	if err := jsonUnmarshal([]byte(out), &key); err != nil || status != 201 {
		t.Fatalf("a key: %d %s", status, out)
	}
	ann := s.visitor()
	if p := ann.open(s.linkWith(key.Secret, "alice", `{"member_id":"ann"}`)); p.status != 200 {
		t.Fatalf("ann's page: %d", p.status)
	}
	got := make(chan page, 1)
	go func() { got <- ann.get("/dashboard/credits?card=saving") }()
	time.Sleep(300 * time.Millisecond) // ann's page is waiting for the card
	if status, out := s.call(apiKey, "DELETE", "/v1/api_keys/"+key.Key.ID, ""); status >= 300 {
		t.Fatalf("revoke the key: %d %s", status, out)
	}
	s.saveCard("alice")
	if p := <-got; p.status != 403 || p.count("#ledger tr.entry") != 0 || p.text("#member-spent") != "" {
		t.Errorf("the page once the wait ended, its key revoked: %d, %d history rows, spent %q; want 403 and nothing",
			p.status, p.count("#ledger tr.entry"), p.text("#member-spent"))
	}
}

// TestDeletedMembersKeyReadsNothing: a key bound to a member reads the
// team's account and its member's hold while the member is there; once the
// member is deleted, its reads and its capture of that hold are refused
// (403), and its spends name a member not found (404).
func TestDeletedMembersKeyReadsNothing(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := aliceTeam(t, s)
	key := annKey(t, s)
	hold, _, err := s.svc.CreateHold(ctx, "alice", credits.HoldRequest{Amount: 5, MemberID: "ann"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reads := []string{"/v1/accounts/alice", "/v1/accounts/alice/members/ann", "/v1/holds/" + hold.ID}
	for _, path := range reads {
		if status, out := s.call(key, "GET", path, ""); status != 200 {
			t.Fatalf("ann's key reads %s: %d %s", path, status, out)
		}
	}
	if err := s.svc.DeleteMember(ctx, "alice", "ann"); err != nil {
		t.Fatal(err)
	}
	for _, path := range reads {
		if status, out := s.call(key, "GET", path, ""); status != 403 || strings.Contains(out, `"balance"`) {
			t.Errorf("ann's key reads %s once she is deleted: %d %s; want 403", path, status, out)
		}
	}
	if status, out := s.call(key, "POST", "/v1/holds/"+hold.ID+"/capture", `{}`); status != 403 {
		t.Errorf("ann's key captures her hold once she is deleted: %d %s; want 403", status, out)
	}
	if got, err := s.svc.GetHold(ctx, hold.ID); err != nil || got.Status != credits.HoldHeld {
		t.Errorf("ann's hold after her key's capture was refused: %+v, %v; want still held", got, err)
	}
	req, _ := http.NewRequest("POST", s.url+"/v1/accounts/alice/debits", strings.NewReader(`{"amount":1}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Idempotency-Key", "after-ann")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("ann's key spends once she is deleted: %d; want 404", resp.StatusCode)
	}
}

// annKey makes a spend key bound to alice's member ann (aliceTeam) and
// returns its secret.
func annKey(t *testing.T, s *site) string {
	t.Helper()
	status, out := s.call(apiKey, "POST", "/v1/api_keys", `{"name":"ann's","scope":"spend","account_id":"alice","member_id":"ann"}`)
	var key struct{ Secret string }
	if err := jsonUnmarshal([]byte(out), &key); err != nil || status != 201 {
		t.Fatalf("ann's key: %d %s", status, out)
	}
	return key.Secret
}
