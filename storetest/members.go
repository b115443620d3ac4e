package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
)

var memberTests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"MemberCapPerDay", testMemberCapPerDay},
	{"MemberHoldsCountWhileHeld", testMemberHoldsCountWhileHeld},
	{"MembersUnknownAndDeleted", testMembersUnknownAndDeleted},
	{"MemberCapUnderConcurrency", testMemberCapUnderConcurrency},
	{"MemberCapReachedOncePerPeriod", testMemberCapReachedOncePerPeriod},
	{"VerifyFindsMemberSpendingOff", testVerifyFindsMemberSpendingOff},
	{"MemberHistoryPages", testMemberHistoryPages},
}

func (f *fixture) member(accountID, memberID string, cap *credits.MemberCap) credits.MemberView {
	f.t.Helper()
	name := "Member " + memberID
	v, err := f.svc.PutMember(context.Background(), accountID, memberID, credits.MemberRequest{Name: &name, SetCap: true, Cap: cap})
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func (f *fixture) memberDebit(accountID, memberID string, amount int64) error {
	f.t.Helper()
	_, _, err := f.svc.Debit(context.Background(), accountID, credits.DebitRequest{Amount: amount, MemberID: memberID}, nil)
	return err
}

func (f *fixture) memberHold(accountID, memberID string, amount int64, expiresIn time.Duration) (credits.Hold, error) {
	f.t.Helper()
	h, _, err := f.svc.CreateHold(context.Background(), accountID,
		credits.HoldRequest{Amount: amount, ExpiresInSeconds: int64(expiresIn / time.Second), MemberID: memberID}, nil)
	return h, err
}

// wantMember checks a member's spent, held and remaining credits now.
func (f *fixture) wantMember(accountID, memberID string, spent, held, remaining int64) {
	f.t.Helper()
	v, err := f.svc.GetMember(context.Background(), accountID, memberID)
	if err != nil {
		f.t.Fatal(err)
	}
	got := fmt.Sprintf("spent %d held %d remaining %d", v.Spent, v.Held, deref(v.Remaining))
	if want := fmt.Sprintf("spent %d held %d remaining %d", spent, held, remaining); got != want {
		f.t.Errorf("member %s: %s, want %s", memberID, got, want)
	}
}

func deref(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := credits.ErrorCode(err); err == nil || got != code {
		t.Errorf("%s: %v (code %q), want code %q", what, err, got, code)
	}
}

func testMemberCapPerDay(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("team", "team@example.com")
	f.grant("team", 1000, 0, 0)
	v := f.member("team", "ann", &credits.MemberCap{Credits: 10, Period: credits.PeriodDay})
	wantEnd := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	if v.PeriodEnd == nil || !v.PeriodEnd.Equal(wantEnd) || v.PeriodStart == nil || !v.PeriodStart.Equal(wantEnd.AddDate(0, 0, -1)) {
		t.Errorf("period %v to %v, want the day ending %v", v.PeriodStart, v.PeriodEnd, wantEnd)
	}
	if err := f.memberDebit("team", "ann", 6); err != nil {
		t.Fatal(err)
	}
	err := f.memberDebit("team", "ann", 5)
	wantCode(t, "a debit past the cap", err, credits.EMEMBERCAP)
	if msg := credits.ErrorMessage(err); msg == "" || !contains(msg, "10 credits per day", "spent 6", wantEnd.Format(time.RFC3339)) {
		t.Errorf("message %q does not name the cap, what was spent and the period's end", msg)
	}
	f.wantAccount("team", 994, 994) // the refused debit took nothing
	f.wantMember("team", "ann", 6, 0, 4)
	f.now = wantEnd // the next day
	f.wantMember("team", "ann", 0, 0, 10)
	if err := f.memberDebit("team", "ann", 10); err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "ann", 10, 0, 0)
	// The ledger names the member each entry was spent as, and its period.
	page, err := f.svc.ListEntries(context.Background(), "team", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Data {
		got = append(got, fmt.Sprintf("%s %d %q %s", e.Kind, e.Amount, e.MemberID, e.MemberPeriodStart.Format(time.DateOnly)))
	}
	if want := `debit -10 "ann" 2026-11-02, debit -6 "ann" 2026-11-01, grant 1000 "" 0001-01-01`; strings.Join(got, ", ") != want {
		t.Errorf("entries %s, want %s", strings.Join(got, ", "), want)
	}
}

func contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func testMemberHoldsCountWhileHeld(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("team", "team@example.com")
	f.grant("team", 1000, 0, 0)
	f.member("team", "bob", &credits.MemberCap{Credits: 10, Period: credits.PeriodMonth})
	h1, err := f.memberHold("team", "bob", 6, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "bob", 0, 6, 4)
	_, err = f.memberHold("team", "bob", 5, time.Minute)
	wantCode(t, "a hold past the cap", err, credits.EMEMBERCAP)
	wantCode(t, "a debit past the cap", f.memberDebit("team", "bob", 5), credits.EMEMBERCAP)
	if _, err := f.svc.ReleaseHold(context.Background(), h1.ID); err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "bob", 0, 0, 10) // a released hold gives its share back
	h2, err := f.memberHold("team", "bob", 8, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	three := int64(3)
	if _, err := f.svc.CaptureHold(context.Background(), h2.ID, &three); err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "bob", 3, 0, 7) // what was captured is spent
	if _, err := f.memberHold("team", "bob", 7, time.Minute); err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "bob", 3, 7, 0)
	f.now = f.now.Add(2 * time.Minute) // the hold expires
	f.wantMember("team", "bob", 3, 7, 0)
	if _, err := f.svc.SweepExpired(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "bob", 3, 0, 7) // an expired hold gives its share back
	f.wantAccount("team", 997, 997)
}

func testMembersUnknownAndDeleted(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("team", "team@example.com")
	f.grant("team", 100, 0, 0)
	wantCode(t, "a debit as an unknown member", f.memberDebit("team", "nobody", 1), credits.ENOTFOUND)
	f.member("team", "cat", nil)
	if err := f.memberDebit("team", "cat", 30); err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "cat", 30, 0, -1) // no cap: nothing remains to count
	if err := f.svc.DeleteMember(context.Background(), "team", "cat"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a debit as a deleted member", f.memberDebit("team", "cat", 1), credits.ENOTFOUND)
	_, err := f.memberHold("team", "cat", 1, time.Minute)
	wantCode(t, "a hold as a deleted member", err, credits.ENOTFOUND)
	wantCode(t, "deleting twice", f.svc.DeleteMember(context.Background(), "team", "cat"), credits.ENOTFOUND)
	members, err := f.svc.ListMembers(context.Background(), "team")
	if err != nil || len(members) != 0 {
		t.Errorf("members after the delete: %+v (%v), want none", members, err)
	}
	f.member("team", "cat", &credits.MemberCap{Credits: 40, Period: credits.PeriodTotal})
	f.wantMember("team", "cat", 30, 0, 10) // back, with what it spent over all time
	f.wantAccount("team", 70, 70)
}

// testMemberCapUnderConcurrency: 128 concurrent debits and holds of one
// credit by one member capped at 100 end with exactly 100 taken.
func testMemberCapUnderConcurrency(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("team", "team@example.com")
	f.grant("team", 10_000, 0, 0)
	f.member("team", "dan", &credits.MemberCap{Credits: 100, Period: credits.PeriodWeek})
	ok, refused := runMemberSpends(t, f.svc, "team", "dan", 128, 100)
	if ok != 100 || refused != 28 {
		t.Errorf("%d spends succeeded and %d were refused by the cap; want 100 and 28", ok, refused)
	}
	v, err := f.svc.GetMember(context.Background(), "team", "dan")
	if err != nil {
		t.Fatal(err)
	}
	if v.Spent+v.Held != 100 || deref(v.Remaining) != 0 {
		t.Errorf("spent %d, held %d, remaining %d; want spent + held = 100, nothing remaining", v.Spent, v.Held, deref(v.Remaining))
	}
	a := f.accountNow("team")
	if taken := 10_000 - a.Available; taken != 100 {
		t.Errorf("the account gave %d credits, want 100", taken)
	}
}

// runMemberSpends runs n concurrent spends of one credit as a member, every
// other one a hold (with a key each, as clients send them), and counts
// those that succeeded and those the cap refused; anything else fails t.
func runMemberSpends(t *testing.T, svc *credits.Service, accountID, memberID string, n, concurrency int) (ok, refused int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			idem := &credits.Idempotency{Scope: "k/" + accountID, Key: fmt.Sprint("member-", i), RequestHash: "h"}
			var err error
			if i%2 == 0 {
				_, _, err = svc.Debit(context.Background(), accountID, credits.DebitRequest{Amount: 1, MemberID: memberID}, idem)
			} else {
				_, _, err = svc.CreateHold(context.Background(), accountID, credits.HoldRequest{Amount: 1, MemberID: memberID}, idem)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case credits.ErrorCode(err) == credits.EMEMBERCAP:
				refused++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	return ok, refused
}

func testMemberCapReachedOncePerPeriod(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("team", "team@example.com")
	f.grant("team", 100, 0, 0)
	f.member("team", "eve", &credits.MemberCap{Credits: 5, Period: credits.PeriodDay})
	if err := f.memberDebit("team", "eve", 3); err != nil {
		t.Fatal(err)
	}
	if got := len(f.outboxTypes(credits.OutMemberCapReached)); got != 0 {
		t.Errorf("%d member.cap_reached before the cap, want none", got)
	}
	wantCode(t, "past the cap", f.memberDebit("team", "eve", 3), credits.EMEMBERCAP)
	wantCode(t, "past the cap again", f.memberDebit("team", "eve", 3), credits.EMEMBERCAP)
	if err := f.memberDebit("team", "eve", 2); err != nil { // reaches it exactly
		t.Fatal(err)
	}
	if got := len(f.outboxTypes(credits.OutMemberCapReached)); got != 1 {
		t.Errorf("%d member.cap_reached in one period, want 1", got)
	}
	f.now = f.now.Add(24 * time.Hour)
	if err := f.memberDebit("team", "eve", 5); err != nil {
		t.Fatal(err)
	}
	if got := len(f.outboxTypes(credits.OutMemberCapReached)); got != 2 {
		t.Errorf("%d member.cap_reached over two periods, want 2", got)
	}
}

// testVerifyFindsMemberSpendingOff: a member's spending that its entries do
// not back is reported.
func testVerifyFindsMemberSpendingOff(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("team", "team@example.com")
	f.grant("team", 100, 0, 0)
	f.member("team", "fay", &credits.MemberCap{Credits: 50, Period: credits.PeriodMonth})
	if err := f.memberDebit("team", "fay", 7); err != nil {
		t.Fatal(err)
	}
	err := f.db.Update(context.Background(), func(tx credits.Tx) error {
		locked, err := tx.LockAccount("team")
		if err != nil {
			return err
		}
		sp, err := locked.MemberSpending("fay", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			return err
		}
		sp.Spent, sp.Held = 3, 2
		return locked.SaveMemberSpending(sp)
	})
	if err != nil {
		t.Fatal(err)
	}
	violations, err := f.svc.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var found int
	for _, v := range violations {
		if v.Invariant == 10 && v.AccountID == "team" {
			found++
		}
	}
	if found != 2 {
		t.Errorf("verify found %d violations of invariant 10 (%+v), want 2: spent and held", found, violations)
	}
	// Put it right, so that the fixture's own check passes.
	err = f.db.Update(context.Background(), func(tx credits.Tx) error {
		locked, err := tx.LockAccount("team")
		if err != nil {
			return err
		}
		return locked.SaveMemberSpending(credits.MemberSpending{AccountID: "team", MemberID: "fay",
			PeriodStart: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Spent: 7})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testMemberHistoryPages walks a member's entries page by page, among the
// entries of the account's other member, of no member, and of a member of
// the same id on another account: each page lists the member's own, newest
// first, from the entry before the cursor, whether the cursor is one of its
// entries or not; a member never spent as lists nothing.
func testMemberHistoryPages(t *testing.T, open Opener) {
	f := newFixture(t, open)
	for _, a := range []string{"team", "other"} {
		f.account(a, a+"@example.com")
		f.grant(a, 1000, 0, 0)
		f.member(a, "m", nil)
	}
	f.member("team", "n", nil)
	f.member("team", "idle", nil)
	for i := range 7 {
		for _, spend := range []struct {
			account, member string
			amount          int64
		}{{"team", "m", int64(i + 1)}, {"team", "n", 20}, {"team", "", 30}, {"other", "m", 40}} {
			if err := f.memberDebit(spend.account, spend.member, spend.amount); err != nil {
				t.Fatal(err)
			}
		}
	}
	page := func(member string, before int64, limit int) []credits.Entry {
		t.Helper()
		var entries []credits.Entry
		if err := f.db.View(context.Background(), func(tx credits.Tx) (err error) {
			entries, err = tx.MemberEntries("team", member, before, limit)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return entries
	}
	amounts := func(entries []credits.Entry) string {
		var out []string
		for _, e := range entries {
			if e.AccountID != "team" || e.MemberID != "m" {
				t.Errorf("entry %d of account %s, member %q, in team's member m's history", e.ID, e.AccountID, e.MemberID)
			}
			out = append(out, fmt.Sprint(-e.Amount))
		}
		return strings.Join(out, " ")
	}
	first := page("m", 0, 3)
	if got := amounts(first); got != "7 6 5" {
		t.Fatalf("first page: %s, want 7 6 5", got)
	}
	next := page("m", first[2].ID, 3)
	if got := amounts(next); got != "4 3 2" {
		t.Errorf("the page after entry %d: %s, want 4 3 2", first[2].ID, got)
	}
	if got := amounts(page("m", next[2].ID, 3)); got != "1" {
		t.Errorf("the last page: %s, want 1", got)
	}
	// A cursor that is not one of m's entries (n's entry after m's third).
	ofN := page("n", 0, 100)
	if len(ofN) != 7 {
		t.Fatalf("n's history lists %d entries, want 7", len(ofN))
	}
	if got := amounts(page("m", ofN[4].ID, 10)); got != "3 2 1" {
		t.Errorf("the page before n's third entry: %s, want 3 2 1", got)
	}
	if got := page("idle", 0, 10); len(got) != 0 {
		t.Errorf("a member who never spent lists %d entries", len(got))
	}
	if got := page("nobody", 0, 10); len(got) != 0 {
		t.Errorf("an unknown member lists %d entries", len(got))
	}
}
