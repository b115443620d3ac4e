package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/credits/credits"
)

var memberUsageTests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"MemberUsageUnderItsCap", testMemberUsageUnderItsCap},
	{"MemberCheck", testMemberCheck},
	{"MemberUsageFromAHold", testMemberUsageFromAHold},
	{"MemberUsageCapUnderConcurrency", testMemberUsageCapUnderConcurrency},
}

// images prices n images (3 credits each) as memberID, from holdID when set.
func (f *fixture) images(accountID, memberID, key string, n int64, holdID string) (credits.UsageResult, error) {
	f.t.Helper()
	req := credits.UsageRequest{Feature: "image", Quantity: &n, MemberID: memberID, HoldID: holdID}
	r, _, err := f.svc.RecordUsage(context.Background(), accountID, req,
		&credits.Idempotency{Scope: "test", Key: key, RequestHash: fmt.Sprint(accountID, memberID, n, holdID)})
	return r, err
}

// checkImages checks n images as memberID, reserving them when reserve.
func (f *fixture) checkImages(accountID, memberID string, n int64, reserve bool) (credits.CheckResult, error) {
	f.t.Helper()
	req := credits.UsageRequest{Feature: "image", Quantity: &n, MemberID: memberID, Reserve: reserve}
	r, _, err := f.svc.Check(context.Background(), accountID, req, nil)
	return r, err
}

func testMemberUsageUnderItsCap(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("team", "team@example.com")
	f.grant("team", 1000, 0, 0)
	f.member("team", "ann", &credits.MemberCap{Credits: 20, Period: credits.PeriodDay})
	r, err := f.images("team", "ann", "k1", 5, "")
	if err != nil || r.Credits != 15 || r.MemberID != "ann" || r.Balance != 985 {
		t.Fatalf("5 images as ann: %+v, %v; want 15 credits as ann", r, err)
	}
	f.wantMember("team", "ann", 15, 0, 5)
	_, err = f.images("team", "ann", "k2", 2, "")
	wantCode(t, "6 credits with 5 left", err, credits.EMEMBERCAP)
	f.wantAccount("team", 985, 985) // the refused usage took nothing
	f.wantMember("team", "ann", 15, 0, 5)
	_, err = f.images("team", "nobody", "k3", 1, "")
	wantCode(t, "an unknown member", err, credits.ENOTFOUND)
	if r, err = f.images("team", "ann", "k4", 1, ""); err != nil || r.Credits != 3 {
		t.Fatalf("3 credits with 5 left: %+v, %v", r, err)
	}
	f.wantMember("team", "ann", 18, 0, 2)
	if got := f.outboxTypes(credits.OutMemberCapReached); len(got) != 1 {
		t.Errorf("%d member.cap_reached events, want 1 (the refused usage)", len(got))
	}
	f.wantAccount("team", 982, 982)
}

func testMemberCheck(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("team", "team@example.com")
	f.grant("team", 10, 0, 0)
	f.member("team", "ann", &credits.MemberCap{Credits: 7, Period: credits.PeriodMonth})
	f.member("team", "bob", nil)
	seven := int64(7)
	tests := []struct {
		name     string
		member   string
		images   int64
		allowed  bool
		reason   string
		remains  *int64
		noMember bool
	}{
		{"within the cap", "ann", 2, true, "", &seven, false},
		{"past the cap", "ann", 3, false, credits.EMEMBERCAP, &seven, false},
		{"past the credits first", "ann", 4, false, credits.EINSUFFICIENT, &seven, false},
		{"no cap", "bob", 3, true, "", nil, false},
		{"no member", "", 3, true, "", nil, true},
	}
	for _, tt := range tests {
		c, err := f.checkImages("team", tt.member, tt.images, false)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := fmt.Sprintf("allowed %v reason %q member %s", c.Allowed, c.Reason, checkMember(c.Member))
		want := fmt.Sprintf("allowed %v reason %q member %s", tt.allowed, tt.reason, checkMember(&credits.CheckMember{MemberID: tt.member, Remaining: tt.remains}))
		if tt.noMember {
			want = fmt.Sprintf("allowed %v reason %q member %s", tt.allowed, tt.reason, checkMember(nil))
		}
		if got != want {
			t.Errorf("%s: %s, want %s", tt.name, got, want)
		}
	}
	_, err := f.checkImages("team", "nobody", 1, false)
	wantCode(t, "a check as an unknown member", err, credits.ENOTFOUND)
	f.wantAccount("team", 10, 10) // a check changes nothing
	f.wantMember("team", "ann", 0, 0, 7)
	// A reserve counts as held; the answer says what is left after it.
	c, err := f.checkImages("team", "ann", 2, true)
	if err != nil || c.HoldID == "" || checkMember(c.Member) != "ann remaining 1" {
		t.Fatalf("reserve 6 as ann: %+v (member %s), %v; want a hold and 1 remaining", c, checkMember(c.Member), err)
	}
	f.wantMember("team", "ann", 0, 6, 1)
	f.wantAccount("team", 10, 4)
	_, err = f.checkImages("team", "ann", 1, true)
	wantCode(t, "a reserve past the cap", err, credits.EMEMBERCAP)
	f.wantAccount("team", 10, 4)
}

func checkMember(m *credits.CheckMember) string {
	switch {
	case m == nil:
		return "none"
	case m.Remaining == nil:
		return m.MemberID + " without a cap"
	}
	return fmt.Sprintf("%s remaining %d", m.MemberID, *m.Remaining)
}

// testMemberUsageFromAHold: a usage from a member's hold spends as the
// hold's member, and the part of its price beyond the hold counts toward
// the cap too.
func testMemberUsageFromAHold(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("team", "team@example.com")
	f.grant("team", 1000, 0, 0)
	f.member("team", "ann", &credits.MemberCap{Credits: 20, Period: credits.PeriodWeek})
	f.member("team", "bob", nil)
	c, err := f.checkImages("team", "ann", 2, true) // 6 held
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.images("team", "bob", "k0", 5, c.HoldID)
	wantCode(t, "bob using ann's hold", err, credits.EINVALID)
	r, err := f.images("team", "", "k1", 5, c.HoldID) // 6 captured, 9 beyond
	if err != nil || r.Credits != 15 || r.MemberID != "ann" || r.Balance != 985 {
		t.Fatalf("15 credits from ann's hold of 6: %+v, %v", r, err)
	}
	f.wantMember("team", "ann", 15, 0, 5)
	c, err = f.checkImages("team", "ann", 1, true) // 3 held, 2 left
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.images("team", "ann", "k2", 3, c.HoldID) // 6 beyond the hold, 2 left
	wantCode(t, "a usage whose excess passes the cap", err, credits.EMEMBERCAP)
	f.wantMember("team", "ann", 15, 3, 2)
	f.wantAccount("team", 985, 982)
	if h, err := f.svc.GetHold(context.Background(), c.HoldID); err != nil || h.Status != credits.HoldHeld {
		t.Errorf("hold after a refused usage: %+v, %v; want still held", h, err)
	}
	if r, err = f.images("team", "ann", "k3", 1, c.HoldID); err != nil || r.Credits != 3 {
		t.Fatalf("3 credits from a hold of 3: %+v, %v", r, err)
	}
	f.wantMember("team", "ann", 18, 0, 2)
	f.wantAccount("team", 982, 982)
}

// testMemberUsageCapUnderConcurrency: 64 concurrent usages of 3 credits by
// one member capped at 30 end with exactly 30 spent.
func testMemberUsageCapUnderConcurrency(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("team", "team@example.com")
	f.grant("team", 10_000, 0, 0)
	f.member("team", "eve", &credits.MemberCap{Credits: 30, Period: credits.PeriodTotal})
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok, refused := 0, 0
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			one := int64(1)
			_, _, err := f.svc.RecordUsage(context.Background(), "team", credits.UsageRequest{Feature: "image", Quantity: &one, MemberID: "eve"},
				&credits.Idempotency{Scope: "k/team", Key: fmt.Sprint("usage-", i), RequestHash: "h"})
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
	if ok != 10 || refused != 54 {
		t.Errorf("%d usages succeeded and %d were refused by the cap; want 10 and 54", ok, refused)
	}
	f.wantMember("team", "eve", 30, 0, 0)
	f.wantAccount("team", 10_000-30, 10_000-30)
}
