package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/storetest"
)

// TestBatchMembersEveryKindOfCap attacks the CASE by which the batch's
// read-ahead (and MemberAt) names the one period of a member's cap whose
// spending it reads: members of every kind of cap (and none), each with
// spending in the periods of every other kind, and caps changed between
// kinds inside the batch, answer as one write at a time on SQLite does,
// and no cap is passed (GetMember reads the period by periodOf).
func TestBatchMembersEveryKindOfCap(t *testing.T) {
	// Wednesday 10 March 2027: its day, week (Mon 8), month (1) and all
	// time start at four different instants.
	t0 := time.Date(2027, 3, 10, 10, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	capOf := func(n int64, period string) *credits.MemberCap { return &credits.MemberCap{Credits: n, Period: period} }
	kinds := []string{credits.PeriodDay, credits.PeriodWeek, credits.PeriodMonth, credits.PeriodTotal}
	// spendEverywhere gives member m 1 credit spent in its day, 2 in its
	// week, 3 in its month and 4 over all time, then its final cap.
	spendEverywhere := func(m string, final *credits.MemberCap) []step {
		var steps []step
		for i, k := range kinds {
			steps = append(steps, putMemberStep(sec(0), "a", m, capOf(10, k)),
				debitStep(sec(0), "a", m, int64(i+1), "s-"+m+"-"+k))
		}
		return append(steps, putMemberStep(sec(0), "a", m, final))
	}
	var everyKind []step
	for _, m := range []struct {
		id  string
		cap *credits.MemberCap
	}{{"d", capOf(10, credits.PeriodDay)}, {"w", capOf(10, credits.PeriodWeek)}, {"mo", capOf(10, credits.PeriodMonth)},
		{"t", capOf(10, credits.PeriodTotal)}, {"n", nil}} {
		everyKind = append(everyKind, spendEverywhere(m.id, m.cap)...)
	}
	scenarios := []memberScenario{
		{name: "every kind of cap, each with spending in the others' periods",
			members: [][2]string{{"a", "d"}, {"a", "w"}, {"a", "mo"}, {"a", "t"}, {"a", "n"}},
			setup:   everyKind,
			batch: []step{
				debitStep(sec(1), "a", "d", 9, "k1"), // 1 + 9: the day's cap
				debitStep(sec(1), "a", "w", 8, "k2"), // 2 + 8
				debitStep(sec(1), "a", "mo", 7, "k3"),
				debitStep(sec(1), "a", "t", 6, "k4"),
				debitStep(sec(1), "a", "n", 100, "k5"), // no cap
				debitStep(sec(1), "a", "d", 1, "k6"),   // over, each
				debitStep(sec(1), "a", "w", 1, "k7"),
				debitStep(sec(1), "a", "mo", 1, "k8"),
				debitStep(sec(1), "a", "t", 1, "k9"),
			}},
		{name: "every kind read ahead, spent first as no cap",
			members: [][2]string{{"a", "d"}, {"a", "w"}, {"a", "mo"}, {"a", "t"}, {"a", "n"}},
			setup:   everyKind,
			batch: []step{
				debitStep(sec(1), "a", "d", 10, "k1"), // over: 1 spent today
				debitStep(sec(1), "a", "w", 9, "k2"),  // over: 2 this week
				debitStep(sec(1), "a", "mo", 8, "k3"), // over: 3 this month
				debitStep(sec(1), "a", "t", 7, "k4"),  // over: 4 ever
				debitStep(sec(1), "a", "n", 1, "k5"),
			}},
		{name: "caps changed between kinds inside the batch",
			members: [][2]string{{"a", "d"}, {"a", "n"}},
			setup:   everyKind,
			batch: []step{
				debitStep(sec(1), "a", "d", 1, "k1"), // the day: 2
				putMemberStep(sec(1), "a", "d", capOf(10, credits.PeriodWeek)),
				debitStep(sec(1), "a", "d", 8, "k2"), // the week: 2 + 8
				debitStep(sec(1), "a", "d", 1, "k3"), // over
				putMemberStep(sec(1), "a", "d", nil),
				debitStep(sec(1), "a", "d", 50, "k4"), // all time: 4 + 50
				putMemberStep(sec(1), "a", "d", capOf(60, credits.PeriodTotal)),
				debitStep(sec(1), "a", "d", 7, "k5"), // over: 54 + 7
				debitStep(sec(1), "a", "d", 6, "k6"), // 60
				putMemberStep(sec(1), "a", "n", capOf(10, credits.PeriodMonth)),
				debitStep(sec(1), "a", "n", 8, "k7"), // over: 3 this month
				debitStep(sec(1), "a", "n", 7, "k8"),
				putMemberStep(sec(1), "a", "n", capOf(10, credits.PeriodDay)),
				debitStep(sec(1), "a", "n", 9, "k9"), // the day: 1 + 9
				debitStep(sec(1), "a", "n", 1, "k10"),
			}},
		{name: "a hold of the day used beyond it once the cap is the week's",
			members: [][2]string{{"a", "d"}},
			setup:   append(everyKind, holdStep(sec(0), "a", "d", 5, 3600, "h1")), // the day: 1 spent, 5 held
			batch: []step{
				putMemberStep(sec(1), "a", "d", capOf(10, credits.PeriodWeek)),
				debitStep(sec(1), "a", "d", 6, "k1"),      // the week: 2 + 6
				usageStep(sec(1), "a", "", 8, "h1", "u1"), // 5 captured in the day, 3 beyond: 8 + 3 > 10
				usageStep(sec(1), "a", "", 7, "h1", "u2"), // 5 captured, 2 beyond: the week's cap
				debitStep(sec(1), "a", "d", 1, "k2"),      // over
				putMemberStep(sec(1), "a", "d", capOf(7, credits.PeriodDay)),
				debitStep(sec(1), "a", "d", 1, "k3"), // the day: 1 + 5 captured + 1
				debitStep(sec(1), "a", "d", 1, "k4"), // over
			}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runMemberScenario(t, sc) })
	}
}

// TestBatchWriteOfSeveralEntries: a write of a batch that adds more than
// one entry to its account (a lot's expiry and a debit; a usage from a hold
// captured and charged beyond it; a capture and an expiry), followed in the
// batch by another write of that account. The batch took one entry id per
// write, in the order of its writes, before any ran; an entry beyond a
// write's one takes a new id, above every id the batch took, so the next
// write of the account must not be given the id taken for it: its entry
// would come before the entry it follows (ids out of the ledger's order,
// the running balances and the chain broken: invariant 2).
func TestBatchWriteOfSeveralEntries(t *testing.T) {
	t0 := time.Date(2027, 3, 10, 10, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	grantStep := func(at time.Time, account string, amount int64, expires time.Time) step {
		return step{at, func(svc *credits.Service, _ *names) error {
			_, _, err := svc.Grant(context.Background(), account, credits.GrantRequest{Amount: amount, ExpiresAt: &expires}, nil)
			return err
		}}
	}
	expired := sec(1).Add(-time.Millisecond)
	scenarios := []memberScenario{
		{name: "a lot expires in the first of two debits",
			setup: []step{grantStep(sec(0), "a", 50, expired)},
			batch: []step{debitStep(sec(1), "a", "", 6, "k1"), debitStep(sec(1), "b", "", 1, "k2"), debitStep(sec(1), "a", "", 7, "k3")}},
		{name: "a usage beyond its hold, then a debit",
			setup: []step{holdStep(sec(0), "a", "", 5, 3600, "h1")},
			batch: []step{usageStep(sec(1), "a", "", 7, "h1", "u1"), debitStep(sec(1), "a", "", 6, "k1")}},
		{name: "a usage from a hold as a lot expires, then a debit",
			setup: []step{grantStep(sec(0), "a", 50, expired), holdStep(sec(0), "a", "", 5, 3600, "h1")},
			batch: []step{usageStep(sec(1), "a", "", 2, "h1", "u1"), debitStep(sec(1), "a", "", 7, "k1")}},
		{name: "as a member: a usage beyond its hold, then the member's debit", members: [][2]string{{"a", "m"}},
			setup: []step{putMemberStep(sec(0), "a", "m", &credits.MemberCap{Credits: 20, Period: credits.PeriodDay}), holdStep(sec(0), "a", "m", 5, 3600, "h1")},
			batch: []step{usageStep(sec(1), "a", "", 7, "h1", "u1"), debitStep(sec(1), "a", "m", 6, "k1"), debitStep(sec(1), "a", "m", 8, "k2")}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runMemberScenario(t, sc) })
	}
}

// TestMemberCapChangesAcrossStores: spends as one member through two
// stores on one database (two replicas, batches reading the member ahead
// with the CASE of its cap's period) while its cap moves between kinds of
// period: no period passes the cap, and verify is clean.
func TestMemberCapChangesAcrossStores(t *testing.T) {
	url := pgtest.URL(t)
	first, second := pgtest.OpenURL(t, url), pgtest.OpenURL(t, url)
	services := []*credits.Service{credits.NewService(first), credits.NewService(second)}
	memberSetup(t, services[0], []string{"c0"}, "m", credits.MemberCap{Credits: 30, Period: credits.PeriodDay})
	storetest.RunMemberSpendsWhileCapsChange(t, services, "c0", "m", 30, 300)
}
