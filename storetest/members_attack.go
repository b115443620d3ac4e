package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
)

// Attacks on a member's spending read by its cap's period (the SQL CASE of
// MemberAt and the batch read-ahead, which must agree with periodOf), on
// entries that name their member (00032), on verify's sums of them, and on
// a member's history.
var memberAttackTests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"MemberAttackCapPeriodChanges", testMemberAttackCapPeriodChanges},
	{"MemberAttackOddStoredCaps", testMemberAttackOddStoredCaps},
	{"MemberAttackHoldsAcrossPeriodsAndCaps", testMemberAttackHoldsAcrossPeriodsAndCaps},
	{"MemberAttackVerifyFindsRetaggedEntries", testMemberAttackVerifyFindsRetaggedEntries},
	{"MemberAttackHistoryPages", testMemberAttackHistoryPages},
	{"MemberAttackCapChangesUnderConcurrency", testMemberAttackCapChangesUnderConcurrency},
	{"MemberReadInItsWrite", testMemberReadInItsWrite},
}

// tuesday is a time whose day, ISO week, month and all time start at four
// different instants (Tue 3 Nov, Mon 2 Nov, Sun 1 Nov, the epoch).
var tuesday = time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)

// wantCapHolds checks what the cap lets a member spend now, as the spend
// itself reads it (MemberAt: the SQL CASE, or the batch read-ahead): one
// credit more than left is refused, and nothing changes. left < 0: no cap.
func (f *fixture) wantCapHolds(accountID, memberID string, left int64) {
	f.t.Helper()
	if left < 0 {
		return
	}
	before := f.accountNow(accountID)
	err := f.memberDebit(accountID, memberID, left+1)
	if credits.ErrorCode(err) != credits.EMEMBERCAP {
		f.t.Errorf("member %s with %d left: a debit of %d answered %v, want %s", memberID, left, left+1, err, credits.EMEMBERCAP)
	}
	if after := f.accountNow(accountID); after.Balance != before.Balance {
		f.t.Errorf("member %s: a debit past the cap took %d credits", memberID, before.Balance-after.Balance)
	}
}

func capOf(credits_ int64, period string) *credits.MemberCap {
	return &credits.MemberCap{Credits: credits_, Period: period}
}

// testMemberAttackCapPeriodChanges changes a member's cap from one kind of
// period to another (and removes and adds it) between spends, and wants the
// spend's own read (the CASE) to find the same spending as the member's
// view (periodOf): never zero where the view counts something.
func testMemberAttackCapPeriodChanges(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.now = tuesday
	f.account("team", "team@example.com")
	f.grant("team", 1000, 0, 0)
	f.member("team", "m", capOf(10, credits.PeriodDay))
	if err := f.memberDebit("team", "m", 4); err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "m", 4, 0, 6)
	f.wantCapHolds("team", "m", 6)

	f.member("team", "m", capOf(10, credits.PeriodWeek))
	f.wantMember("team", "m", 0, 0, 10)
	if err := f.memberDebit("team", "m", 7); err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "m", 7, 0, 3)
	f.wantCapHolds("team", "m", 3)

	f.member("team", "m", capOf(10, credits.PeriodMonth))
	f.wantMember("team", "m", 0, 0, 10)
	hold, err := f.memberHold("team", "m", 5, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "m", 0, 5, 5)
	f.wantCapHolds("team", "m", 5)

	f.member("team", "m", capOf(10, credits.PeriodTotal))
	f.wantMember("team", "m", 0, 0, 10)
	if err := f.memberDebit("team", "m", 3); err != nil {
		t.Fatal(err)
	}
	f.wantCapHolds("team", "m", 7)

	// No cap counts over all time, in the same period as a cap over all time.
	f.member("team", "m", nil)
	f.wantMember("team", "m", 3, 0, -1)
	if err := f.memberDebit("team", "m", 20); err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "m", 23, 0, -1)
	f.member("team", "m", capOf(25, credits.PeriodTotal))
	f.wantMember("team", "m", 23, 0, 2)
	f.wantCapHolds("team", "m", 2)
	if err := f.memberDebit("team", "m", 2); err != nil {
		t.Fatal(err)
	}
	f.wantCapHolds("team", "m", 0)

	// Back to the day and the month: their spending is still theirs.
	f.member("team", "m", capOf(10, credits.PeriodDay))
	f.wantMember("team", "m", 4, 0, 6)
	f.wantCapHolds("team", "m", 6)
	f.member("team", "m", capOf(10, credits.PeriodMonth))
	f.wantMember("team", "m", 0, 5, 5)
	f.wantCapHolds("team", "m", 5)
	two := int64(2)
	if _, err := f.svc.CaptureHold(context.Background(), hold.ID, &two); err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "m", 2, 0, 8)
	f.wantCapHolds("team", "m", 8)

	// The next day, week and month: each cap starts afresh, and its spends
	// go into the new period.
	f.now = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC) // a Monday, the 7th
	for _, period := range []string{credits.PeriodDay, credits.PeriodWeek, credits.PeriodMonth} {
		f.member("team", "m", capOf(10, period))
		f.wantMember("team", "m", 0, 0, 10)
		f.wantCapHolds("team", "m", 10)
	}
	f.member("team", "m", capOf(26, credits.PeriodTotal))
	f.wantMember("team", "m", 25, 0, 1)
	f.wantCapHolds("team", "m", 1)
	f.wantAccount("team", 1000-4-7-2-3-20-2, 1000-4-7-2-3-20-2)
}

// rawExec runs raw SQL on the fixture's store.
func (f *fixture) rawExec(stmts ...string) {
	f.t.Helper()
	raw, ok := f.db.(execer)
	if !ok {
		f.t.Fatalf("%T has no Exec", f.db)
	}
	for _, s := range stmts {
		if err := raw.Exec(context.Background(), s); err != nil {
			f.t.Fatalf("%s: %v", s, err)
		}
	}
}

// isPostgres tells the stores apart by a statement only PostgreSQL runs.
func (f *fixture) isPostgres() bool {
	raw := f.db.(execer)
	return raw.Exec(context.Background(), `SELECT pg_backend_pid()`) == nil
}

// tamperEntries runs stmt on the ledger with its append-only trigger
// lifted, then puts the trigger back.
func (f *fixture) tamperEntries(stmt string) {
	f.t.Helper()
	if f.isPostgres() {
		f.rawExec(`ALTER TABLE entries DISABLE TRIGGER entries_no_update`, stmt, `ALTER TABLE entries ENABLE TRIGGER entries_no_update`)
		return
	}
	f.rawExec(`DROP TRIGGER entries_no_update`, stmt,
		`CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END`)
}

// testMemberAttackOddStoredCaps stores caps that PutMember would refuse
// (an empty or unknown period, a period without credits), as an older
// version or an operator might have left them, and wants the spend's SQL
// read and periodOf to agree on the period: periodOf counts an unknown
// period as a month and a cap without credits as none (all time).
func testMemberAttackOddStoredCaps(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.now = tuesday
	f.account("team", "team@example.com")
	f.grant("team", 1000, 0, 0)
	for _, tt := range []struct {
		member string
		set    string // the columns' raw values
		cap    *credits.MemberCap
	}{
		{"empty", `cap_credits = 10, cap_period = ''`, capOf(10, credits.PeriodMonth)},
		{"unknown", `cap_credits = 10, cap_period = 'fortnight'`, capOf(10, credits.PeriodMonth)},
		{"upper", `cap_credits = 10, cap_period = 'DAY'`, capOf(10, credits.PeriodMonth)},
		{"spaced", `cap_credits = 10, cap_period = 'total '`, capOf(10, credits.PeriodMonth)},
		{"nocredits", `cap_credits = NULL, cap_period = 'day'`, nil},
	} {
		// It spends 6 in the period periodOf gives its stored cap.
		f.member("team", tt.member, tt.cap)
		if err := f.memberDebit("team", tt.member, 6); err != nil {
			t.Fatal(err)
		}
		f.rawExec(fmt.Sprintf(`UPDATE members SET %s WHERE account_id = 'team' AND member_id = '%s'`, tt.set, tt.member))
		left := int64(-1)
		if tt.cap != nil {
			left = 4
		}
		f.wantMember("team", tt.member, 6, 0, left)
		f.wantCapHolds("team", tt.member, left)
		if tt.cap == nil {
			// Without credits there is no cap: the spend counts over all
			// time, where the member's no-cap spending is.
			if err := f.memberDebit("team", tt.member, 1); err != nil {
				t.Fatal(err)
			}
			f.wantMember("team", tt.member, 7, 0, -1)
		}
	}
}

// testMemberAttackHoldsAcrossPeriodsAndCaps makes holds in one period
// under one kind of cap and closes them (captured, released, expired, used
// by a usage costing more than the hold) in another period under another
// kind: each hold's share goes back to the period it was made in, its
// capture's entry names that period, and the current period is charged
// only with a usage's part beyond its hold.
func testMemberAttackHoldsAcrossPeriodsAndCaps(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.now = tuesday.Add(11 * time.Hour) // Tue 3 Nov 23:00
	f.account("team", "team@example.com")
	f.grant("team", 1000, 0, 0)
	f.member("team", "m", capOf(20, credits.PeriodDay))
	captured, err := f.memberHold("team", "m", 8, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	released, err := f.memberHold("team", "m", 3, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expiring, err := f.memberHold("team", "m", 2, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	used, err := f.memberHold("team", "m", 6, 72*time.Hour) // 2 images, then 4 are used
	if err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "m", 0, 19, 1)
	f.wantCapHolds("team", "m", 1)

	// The week's cap knows nothing of the day's holds.
	f.member("team", "m", capOf(10, credits.PeriodWeek))
	f.wantMember("team", "m", 0, 0, 10)
	if err := f.memberDebit("team", "m", 4); err != nil {
		t.Fatal(err)
	}

	f.now = tuesday.Add(14 * time.Hour) // Wed 4 Nov 02:00: the second hold expired
	seven := int64(7)
	if _, err := f.svc.CaptureHold(context.Background(), captured.ID, &seven); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ReleaseHold(context.Background(), released.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SweepExpired(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h, err := f.svc.GetHold(context.Background(), expiring.ID); err != nil || h.Status != credits.HoldExpired {
		t.Fatalf("hold %+v (%v), want expired", h, err)
	}
	f.wantMember("team", "m", 4, 0, 6) // the week: only its debit
	// 4 images (12 credits) from a hold of 6: 6 captured in Tuesday's
	// period, the 6 beyond it charged to this week.
	r, err := f.images("team", "", "use-1", 4, used.ID)
	if err != nil || r.MemberID != "m" || r.Credits != 12 {
		t.Fatalf("usage from the hold: %+v (%v), want 12 credits as m", r, err)
	}
	f.wantMember("team", "m", 10, 0, 0)
	f.wantCapHolds("team", "m", 0)

	f.member("team", "m", capOf(20, credits.PeriodDay))
	f.wantMember("team", "m", 0, 0, 20) // Wednesday: nothing counted in it
	f.now = tuesday.Add(11 * time.Hour)
	f.wantMember("team", "m", 13, 0, 7) // Tuesday: 7 + 6 captured, the rest given back

	if got, want := memberHistory(t, f.db, "team", "m"), "debit -6, capture -6, capture -7, debit -4"; got != want {
		t.Errorf("m's history: %s, want %s", got, want)
	}
	f.wantAccount("team", 1000-4-7-12, 1000-4-7-12)
}

// memberSpendingViolations runs verify and returns its invariant 10
// violations, as "account: message".
func (f *fixture) memberSpendingViolations() []string {
	f.t.Helper()
	violations, err := f.svc.Verify(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, v := range violations {
		if v.Invariant != 10 {
			f.t.Errorf("verify: invariant %d of %s: %s; want only invariant 10", v.Invariant, v.AccountID, v.Message)
			continue
		}
		out = append(out, v.AccountID+": "+v.Message)
	}
	slices.Sort(out)
	return out
}

// testMemberAttackVerifyFindsRetaggedEntries changes, by raw SQL with the
// ledger's trigger lifted, the member or the period an entry names, and
// wants verify to report each period whose entries no longer sum to its
// spent; put back, verify is clean.
func testMemberAttackVerifyFindsRetaggedEntries(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.now = tuesday
	f.account("team", "team@example.com")
	f.account("other", "other@example.com")
	f.grant("team", 1000, 0, 0)
	f.grant("other", 1000, 0, 0)
	f.member("team", "ann", capOf(100, credits.PeriodMonth))
	f.member("team", "bob", capOf(100, credits.PeriodMonth))
	f.member("other", "ann", capOf(100, credits.PeriodMonth))
	for _, d := range []struct {
		account, member string
		amount          int64
	}{{"team", "ann", 7}, {"team", "bob", 5}, {"other", "ann", 3}} {
		if err := f.memberDebit(d.account, d.member, d.amount); err != nil {
			t.Fatal(err)
		}
	}
	f.now = f.now.AddDate(0, 1, 0) // December
	if err := f.memberDebit("team", "ann", 2); err != nil {
		t.Fatal(err)
	}
	if got := f.memberSpendingViolations(); len(got) != 0 {
		t.Fatalf("before any tampering: %v", got)
	}
	nov, dec := "2026-11-01", "2026-12-01"
	ann7 := `account_id = 'team' AND member_id = 'ann' AND amount = -7`
	start := func(day string) string {
		ts, _ := time.Parse("2006-01-02", day)
		if f.isPostgres() {
			return "'" + day + " 00:00:00+00'"
		}
		return fmt.Sprint(ts.UnixMicro())
	}
	for _, tt := range []struct {
		name      string
		tamper    string
		putBack   string
		violation []string
	}{
		{"to another member", `UPDATE entries SET member_id = 'bob' WHERE ` + ann7,
			`UPDATE entries SET member_id = 'ann' WHERE account_id = 'team' AND amount = -7`,
			[]string{
				"team: member ann spent 7 in the period from " + nov + ", but its entries sum to 0",
				"team: member bob spent 5 in the period from " + nov + ", but its entries sum to 12",
			}},
		{"to no member", `UPDATE entries SET member_id = NULL, member_period_start = NULL WHERE ` + ann7,
			`UPDATE entries SET member_id = 'ann', member_period_start = ` + start(nov) + ` WHERE account_id = 'team' AND amount = -7`,
			[]string{"team: member ann spent 7 in the period from " + nov + ", but its entries sum to 0"}},
		{"to another period", `UPDATE entries SET member_period_start = ` + start(dec) + ` WHERE ` + ann7,
			`UPDATE entries SET member_period_start = ` + start(nov) + ` WHERE ` + ann7,
			[]string{
				"team: member ann spent 2 in the period from " + dec + ", but its entries sum to 9",
				"team: member ann spent 7 in the period from " + nov + ", but its entries sum to 0",
			}},
		{"a non-member entry named the member's", `UPDATE entries SET member_id = 'ann', member_period_start = ` + start(nov) +
			` WHERE account_id = 'team' AND kind = 'grant'`,
			`UPDATE entries SET member_id = NULL, member_period_start = NULL WHERE account_id = 'team' AND kind = 'grant'`,
			[]string{"team: member ann spent 7 in the period from " + nov + ", but its entries sum to -993"}},
	} {
		f.tamperEntries(tt.tamper)
		got := f.memberSpendingViolations()
		if !slices.Equal(got, tt.violation) {
			t.Errorf("%s: verify found\n%s\nwant\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.violation, "\n"))
		}
		f.tamperEntries(tt.putBack)
		if got := f.memberSpendingViolations(); len(got) != 0 {
			t.Fatalf("%s, put back: %v", tt.name, got)
		}
	}
	// A spending row edited by hand is found too, in its period only.
	f.rawExec(`UPDATE member_spending SET spent = 8 WHERE account_id = 'other' AND member_id = 'ann'`)
	if got, want := f.memberSpendingViolations(), []string{"other: member ann spent 8 in the period from " + nov + ", but its entries sum to 3"}; !slices.Equal(got, want) {
		t.Errorf("an edited spending row: verify found %v, want %v", got, want)
	}
	f.rawExec(`UPDATE member_spending SET spent = 3 WHERE account_id = 'other' AND member_id = 'ann'`)
}

// testMemberAttackHistoryPages interleaves a member's spends with other
// members' (of the same id in another account too), spends as no member,
// holds and their captures, and wants the member's page to list exactly its
// own entries, newest first, page after page with before.
func testMemberAttackHistoryPages(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.now = tuesday
	ctx := context.Background()
	for _, a := range []string{"team", "other"} {
		f.account(a, a+"@example.com")
		f.grant(a, 10_000, 0, 0)
		f.member(a, "ann", nil)
	}
	f.member("team", "bob", nil)
	var want []string
	for i := range 23 {
		amount := int64(i + 1)
		switch i % 4 {
		case 0:
			if err := f.memberDebit("team", "ann", amount); err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("debit -%d", amount))
		case 1:
			h, err := f.memberHold("team", "ann", amount+1, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.CaptureHold(ctx, h.ID, &amount); err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("capture -%d", amount))
		case 2:
			if err := f.memberDebit("team", "bob", amount); err != nil {
				t.Fatal(err)
			}
			if err := f.memberDebit("other", "ann", amount); err != nil {
				t.Fatal(err)
			}
		case 3:
			if err := f.memberDebit("team", "", amount); err != nil {
				t.Fatal(err)
			}
		}
		f.now = f.now.Add(time.Hour)
	}
	slices.Reverse(want)
	var got []string
	var before int64
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatalf("more than 10 pages of 5: %v", got)
		}
		d, err := f.svc.Dashboard(ctx, "team", credits.DashboardQuery{Before: before, PageSize: 5, MemberID: "ann"})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Entries.Data) > 5 {
			t.Errorf("a page of 5 holds %d", len(d.Entries.Data))
		}
		for _, e := range d.Entries.Data {
			if e.AccountID != "team" {
				t.Errorf("entry %d of account %s on team's member page", e.ID, e.AccountID)
			}
			if before != 0 && e.ID >= before {
				t.Errorf("entry %d on the page before %d", e.ID, before)
			}
			got = append(got, fmt.Sprintf("%s %d", e.Kind, e.Amount))
		}
		if !d.Entries.HasMore {
			break
		}
		before = d.Entries.Data[len(d.Entries.Data)-1].ID
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("ann's pages:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	// A page past the oldest is empty; an unknown member's is refused.
	d, err := f.svc.Dashboard(ctx, "team", credits.DashboardQuery{Before: 1, PageSize: 5, MemberID: "ann"})
	if err != nil || len(d.Entries.Data) != 0 || d.Entries.HasMore {
		t.Errorf("the page before entry 1: %+v (%v), want empty", d.Entries, err)
	}
	_, err = f.svc.Dashboard(ctx, "team", credits.DashboardQuery{PageSize: 5, MemberID: "nobody"})
	wantCode(t, "an unknown member's page", err, credits.ENOTFOUND)
}

// testMemberAttackCapChangesUnderConcurrency spends as one member from
// many goroutines (debits, holds, captures) while another changes its cap
// from one kind of period to another: each spend checks the period its
// cap has when it runs, under the account's lock, so no period's spent and
// held pass the cap's credits, and verify is clean.
func testMemberAttackCapChangesUnderConcurrency(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.now = tuesday
	f.account("team", "team@example.com")
	f.grant("team", 100_000, 0, 0)
	f.member("team", "m", capOf(30, credits.PeriodDay))
	RunMemberSpendsWhileCapsChange(t, []*credits.Service{f.svc}, "team", "m", 30, 200)
}

// RunMemberSpendsWhileCapsChange runs n spends of one credit as a member
// (debits, holds captured or left) through svcs in turn, while its cap of
// capCredits moves between day, week, month and all time; then wants no
// period's spent and held past capCredits, and verify clean.
func RunMemberSpendsWhileCapsChange(t *testing.T, svcs []*credits.Service, accountID, memberID string, capCredits int64, n int) {
	ctx := context.Background()
	stop := make(chan struct{})
	changed := make(chan error, 1)
	go func() {
		kinds := []string{credits.PeriodDay, credits.PeriodWeek, credits.PeriodMonth, credits.PeriodTotal}
		for i := 0; ; i++ {
			select {
			case <-stop:
				changed <- nil
				return
			default:
			}
			c := capOf(capCredits, kinds[i%len(kinds)])
			if _, err := svcs[i%len(svcs)].PutMember(ctx, accountID, memberID, credits.MemberRequest{SetCap: true, Cap: c}); err != nil {
				changed <- err
				return
			}
		}
	}()
	var errs = make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			svc := svcs[i%len(svcs)]
			var err error
			switch i % 3 {
			case 0:
				_, _, err = svc.Debit(ctx, accountID, credits.DebitRequest{Amount: 1, MemberID: memberID}, nil)
			case 1:
				var h credits.Hold
				if h, _, err = svc.CreateHold(ctx, accountID, credits.HoldRequest{Amount: 2, MemberID: memberID}, nil); err == nil {
					one := int64(1)
					_, err = svc.CaptureHold(ctx, h.ID, &one)
				}
			case 2:
				_, _, err = svc.CreateHold(ctx, accountID, credits.HoldRequest{Amount: 1, MemberID: memberID}, nil)
			}
			if credits.ErrorCode(err) == credits.EMEMBERCAP {
				err = nil
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(stop)
	if err := <-changed; err != nil {
		t.Fatal(err)
	}
	var totals []credits.MemberSpendingTotal
	if err := svcs[0].Store.View(ctx, func(tx credits.Tx) (err error) {
		totals, err = tx.MemberSpendingTotals()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var spent int64
	for _, m := range totals {
		if m.Spent+m.Held > capCredits {
			t.Errorf("member %s in the period from %s spent %d and holds %d, past its cap of %d", m.MemberID, m.PeriodStart, m.Spent, m.Held, capCredits)
		}
		spent += m.Spent + m.Held
	}
	if spent == 0 {
		t.Errorf("nothing was spent: the test spent no credit")
	}
	if report, err := svcs[0].Verify(ctx); err != nil || len(report) > 0 {
		t.Errorf("verify: %+v (%v)", report, err)
	}
}

// testMemberReadInItsWrite reads a member in writes that name it
// (AccountWrite.MemberID), which PostgreSQL's batch reads ahead: what the
// write changed of the member since is what it reads back, a member of
// another account or none at all is not found, and a write that names one
// member and reads another reads that other.
func testMemberReadInItsWrite(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.now = tuesday
	f.account("team", "team@example.com")
	f.account("other", "other@example.com")
	f.grant("team", 100, 0, 0)
	f.member("team", "ann", capOf(50, credits.PeriodDay))
	f.member("team", "bob", capOf(40, credits.PeriodWeek))
	f.member("other", "cy", nil)
	if err := f.memberDebit("team", "ann", 7); err != nil {
		t.Fatal(err)
	}
	starts := credits.MemberPeriodStarts(f.now)
	read := func(locked credits.LockedAccount, memberID string) string {
		m, sp, err := locked.MemberAt(memberID, starts)
		if err != nil {
			return err.Error()
		}
		out := fmt.Sprint(m.MemberID, " cap ", m.Cap.Credits, "/", m.Cap.Period)
		for _, s := range sp {
			out += fmt.Sprint(" spent ", s.Spent, " held ", s.Held)
		}
		return out
	}
	tests := []struct {
		name, account, names string
		do                   func(credits.LockedAccount) []string
		want                 []string
	}{
		{"read twice, spending saved between", "team", "ann", func(l credits.LockedAccount) []string {
			first := read(l, "ann")
			err := l.SaveMemberSpending(credits.MemberSpending{AccountID: "team", MemberID: "ann", PeriodStart: starts.Day, Spent: 9, Held: 2})
			if err != nil {
				return []string{err.Error()}
			}
			return []string{first, read(l, "ann")}
		}, []string{"ann cap 50/day spent 7 held 0", "ann cap 50/day spent 9 held 2"}},
		{"cap changed before the read", "team", "ann", func(l credits.LockedAccount) []string {
			m, err := l.Member("ann")
			if err != nil {
				return []string{err.Error()}
			}
			m.Cap = capOf(60, credits.PeriodDay)
			if err := l.SaveMember(m); err != nil {
				return []string{err.Error()}
			}
			return []string{read(l, "ann")}
		}, []string{"ann cap 60/day spent 7 held 0"}},
		{"another member than named", "team", "ann", func(l credits.LockedAccount) []string {
			return []string{read(l, "bob")}
		}, []string{"bob cap 40/week"}},
		{"a member of another account", "team", "cy", func(l credits.LockedAccount) []string {
			return []string{read(l, "cy")}
		}, []string{"read member cy of account team: " + credits.ErrNotFound.Error()}},
		{"no such member", "team", "ghost", func(l credits.LockedAccount) []string {
			return []string{read(l, "ghost")}
		}, []string{"read member ghost of account team: " + credits.ErrNotFound.Error()}},
	}
	errUndo := fmt.Errorf("undo")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			w := credits.AccountWrite{AccountID: tt.account, Now: f.now, MemberID: tt.names}
			err := f.db.UpdateAccount(context.Background(), w, func(tx credits.Tx) error {
				locked, err := tx.LockAccount(tt.account)
				if err != nil {
					return err
				}
				got = tt.do(locked)
				return errUndo // each case starts from the same state
			})
			if err != errUndo {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("read %q, want %q", got, tt.want)
			}
		})
	}
}
