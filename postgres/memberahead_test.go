package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/internal/sqlstore"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/postgres"
)

// call is a service call that reaches the store's UpdateAccount once, made
// with the service's clock at at (zero: the real one).
type call struct {
	at time.Time
	do func(svc *credits.Service) error
}

// commitCalls runs calls, in order, as one batch of the group commit, and
// returns their errors.
func commitCalls(t *testing.T, db *postgres.DB, calls ...call) []error {
	t.Helper()
	g := &gathering{DB: db, arrived: make(chan struct{})}
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		svc := credits.NewService(g)
		if at := c.at; !at.IsZero() {
			svc.Now = func() time.Time { return at }
		}
		done := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			errs[i] = c.do(svc)
		}()
		select {
		case <-g.arrived:
		case <-done:
			t.Fatalf("call %d did not reach the store's UpdateAccount: %v", i, errs[i])
		}
	}
	results := postgres.CommitWrites(db, g.ws, g.fns)
	for i, err := range results {
		g.results[i] <- err
	}
	wg.Wait()
	return errs
}

// wantCodes checks each error's code ("": none).
func wantCodes(t *testing.T, errs []error, codes ...string) {
	t.Helper()
	for i, err := range errs {
		if got := credits.ErrorCode(err); (err == nil) != (codes[i] == "") || (err != nil && got != codes[i]) {
			t.Errorf("call %d: error %v, want code %q", i, err, codes[i])
		}
	}
}

func debitAs(account, member string, amount int64, key string) func(*credits.Service) error {
	return func(svc *credits.Service) error {
		var idem *credits.Idempotency
		if key != "" {
			idem = &credits.Idempotency{Scope: "debit/" + account, Key: key, RequestHash: credits.HashRequest(member, fmt.Sprint(amount))}
		}
		_, _, err := svc.Debit(context.Background(), account, credits.DebitRequest{Amount: amount, MemberID: member}, idem)
		return err
	}
}

// memberSetup makes accounts with credits and a capped member each.
func memberSetup(t *testing.T, svc *credits.Service, accounts []string, member string, c credits.MemberCap) {
	t.Helper()
	ctx := context.Background()
	for _, id := range accounts {
		if _, err := svc.CreateAccount(ctx, id, id+"@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Grant(ctx, id, credits.GrantRequest{Amount: 1000}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.PutMember(ctx, id, member, credits.MemberRequest{SetCap: true, Cap: &c}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatchMemberIDNotText: a debit whose member id PostgreSQL cannot hold as
// text (a NUL, which JSON's \u0000 decodes to) is not found, as alone; the
// writes batched with it are not failed by it.
func TestBatchMemberIDNotText(t *testing.T) {
	db := pgtest.Open(t)
	svc := credits.NewService(db)
	memberSetup(t, svc, []string{"a0", "a1"}, "m", credits.MemberCap{Credits: 100, Period: credits.PeriodDay})
	errs := commitCalls(t, db,
		call{do: debitAs("a0", "m\x00", 1, "k0")},
		call{do: debitAs("a1", "m", 1, "k1")},
		call{do: debitAs("a1", "", 1, "")},
	)
	wantCodes(t, errs, credits.ENOTFOUND, "", "")
}

// step is a service call made with the service's clock at at; ids holds
// what earlier steps named (holds), per store.
type step struct {
	at time.Time
	do func(svc *credits.Service, ids *names) error
}

// names are the ids of what steps made, by the name a test gave them; the
// steps of a batch answer side by side.
type names struct {
	mu sync.Mutex
	m  map[string]string
}

func (n *names) get(name string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m[name]
}

func (n *names) set(name, id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.m[name] = id
}

// memberScenario is a batch of writes as members, after a setup.
type memberScenario struct {
	name  string
	setup []step // alone, on both stores
	batch []step // one at a time on SQLite; one batch on PostgreSQL
	// members are compared after the batch (account, member), at the
	// batch's last step's time.
	members [][2]string
}

func atClock(store credits.Store, at time.Time) *credits.Service {
	svc := credits.NewService(store)
	svc.Now = func() time.Time { return at }
	return svc
}

func debitStep(at time.Time, account, member string, amount int64, key string) step {
	return step{at, func(svc *credits.Service, _ *names) error {
		return debitAs(account, member, amount, key)(svc)
	}}
}

func holdStep(at time.Time, account, member string, amount, seconds int64, name string) step {
	return step{at, func(svc *credits.Service, ids *names) error {
		h, _, err := svc.CreateHold(context.Background(), account, credits.HoldRequest{Amount: amount, ExpiresInSeconds: seconds, MemberID: member},
			&credits.Idempotency{Scope: "hold/" + account, Key: name, RequestHash: name})
		ids.set(name, h.ID)
		return err
	}}
}

// usageStep records a usage of n units of "unit" (a credit each), from
// the hold named hold ("": none), as member.
func usageStep(at time.Time, account, member string, n int64, hold, key string) step {
	return step{at, func(svc *credits.Service, ids *names) error {
		req := credits.UsageRequest{Feature: "unit", Quantity: &n, MemberID: member, HoldID: ids.get(hold)}
		_, _, err := svc.RecordUsage(context.Background(), account, req, &credits.Idempotency{Scope: "usage/" + account, Key: key, RequestHash: key})
		return err
	}}
}

// reserveStep checks n units as member with a reserve: a hold named name.
func reserveStep(at time.Time, account, member string, n int64, name string) step {
	return step{at, func(svc *credits.Service, ids *names) error {
		req := credits.UsageRequest{Feature: "unit", Quantity: &n, MemberID: member, Reserve: true, ExpiresInSeconds: 3600}
		res, _, err := svc.Check(context.Background(), account, req, &credits.Idempotency{Scope: "check/" + account, Key: name, RequestHash: name})
		if err == nil && !res.Allowed {
			err = credits.Errorf(res.Reason, "not allowed")
		}
		ids.set(name, res.HoldID)
		return err
	}}
}

func putMemberStep(at time.Time, account, member string, c *credits.MemberCap) step {
	return step{at, func(svc *credits.Service, _ *names) error {
		_, err := svc.PutMember(context.Background(), account, member, credits.MemberRequest{SetCap: true, Cap: c})
		return err
	}}
}

func deleteMemberStep(at time.Time, account, member string) step {
	return step{at, func(svc *credits.Service, _ *names) error {
		return svc.DeleteMember(context.Background(), account, member)
	}}
}

// commitSteps runs steps, in order, as one batch of the group commit.
func commitSteps(t *testing.T, db *postgres.DB, ids *names, steps []step) []error {
	t.Helper()
	calls := make([]call, len(steps))
	for i, s := range steps {
		calls[i] = call{at: s.at, do: func(svc *credits.Service) error { return s.do(svc, ids) }}
	}
	return commitCalls(t, db, calls...)
}

// TestBatchMembersAnswerAsAlone attacks the batch's read-ahead of members
// (a member is read once, with the accounts' lock, in the periods that hold
// at the batch's earliest time): each batch, run on PostgreSQL as one batch
// of the group commit, answers as its writes do one at a time on SQLite,
// and leaves each member the same spent and held. Every member's cap holds.
func TestBatchMembersAnswerAsAlone(t *testing.T) {
	// Monday 1 March 2027, 00:00 UTC: a day, a week and a month start.
	midnight := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	day := func(n int64) *credits.MemberCap { return &credits.MemberCap{Credits: n, Period: credits.PeriodDay} }
	t0 := midnight.Add(10 * time.Hour)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	before, after := midnight.Add(-time.Millisecond), midnight.Add(time.Millisecond)
	scenarios := []memberScenario{
		{name: "one member twice and more", members: [][2]string{{"a", "m"}},
			setup: []step{putMemberStep(sec(0), "a", "m", day(10))},
			batch: []step{
				debitStep(sec(1), "a", "m", 6, "k1"),
				debitStep(sec(1), "a", "m", 6, "k2"), // over the cap
				debitStep(sec(1), "a", "m", 4, "k3"), // exactly the cap
				holdStep(sec(1), "a", "m", 1, 60, "h1"),
				debitStep(sec(1), "a", "", 5, "k4"),
			}},
		{name: "a usage from the member's hold, then the member", members: [][2]string{{"a", "m"}},
			setup: []step{putMemberStep(sec(0), "a", "m", day(10)), reserveStep(sec(0), "a", "m", 6, "r1")},
			batch: []step{
				debitStep(sec(1), "a", "m", 4, "k1"),      // 6 held + 4 = the cap
				usageStep(sec(1), "a", "", 2, "r1", "u1"), // as the hold's member: 2 spent, 6 released
				debitStep(sec(1), "a", "m", 4, "k2"),      // 6 + 4 = the cap
				debitStep(sec(1), "a", "m", 1, "k3"),      // over
			}},
		{name: "a usage from a hold beyond it, as its member while another is named", members: [][2]string{{"a", "m"}, {"a", "n"}},
			setup: []step{putMemberStep(sec(0), "a", "m", day(10)), putMemberStep(sec(0), "a", "n", day(10)), reserveStep(sec(0), "a", "m", 6, "r1")},
			batch: []step{
				debitStep(sec(1), "a", "n", 1, "k0"),
				usageStep(sec(1), "a", "n", 7, "r1", "u0"), // refused: the hold is m's
				debitStep(sec(1), "a", "m", 3, "k1"),       // 6 held + 3
				usageStep(sec(1), "a", "", 8, "r1", "u1"),  // 6 captured, 2 beyond: 1 + 9 > 10
				usageStep(sec(1), "a", "", 7, "r1", "u2"),  // 6 captured, 1 beyond: the cap
				debitStep(sec(1), "a", "m", 1, "k2"),       // over
				reserveStep(sec(1), "a", "n", 9, "r2"),     // the cap with k0
				reserveStep(sec(1), "a", "n", 1, "r3"),     // over
			}},
		{name: "the member's hold expires in the batch", members: [][2]string{{"a", "m"}},
			setup: []step{putMemberStep(sec(0), "a", "m", day(10)), holdStep(sec(0), "a", "m", 6, 60, "h1")},
			batch: []step{
				debitStep(sec(30), "a", "m", 4, "k1"), // 6 held + 4
				debitStep(sec(90), "a", "", 1, "k2"),  // settles: the hold expired
				debitStep(sec(90), "a", "m", 6, "k3"), // 4 + 6
				debitStep(sec(90), "a", "m", 1, "k4"), // over
			}},
		{name: "the hold expires in the member's own write", members: [][2]string{{"a", "m"}},
			setup: []step{putMemberStep(sec(0), "a", "m", day(10)), holdStep(sec(0), "a", "m", 6, 60, "h1")},
			batch: []step{
				debitStep(sec(30), "a", "", 1, "k1"),
				debitStep(sec(90), "a", "m", 10, "k2"), // the hold expired: the cap is free
				debitStep(sec(90), "a", "m", 1, "k3"),
			}},
		{name: "midnight between the batch's writes", members: [][2]string{{"a", "d"}, {"a", "w"}, {"a", "mo"}, {"b", "d"}},
			setup: []step{
				putMemberStep(before.Add(-time.Hour), "a", "d", day(10)),
				putMemberStep(before.Add(-time.Hour), "a", "w", &credits.MemberCap{Credits: 10, Period: credits.PeriodWeek}),
				putMemberStep(before.Add(-time.Hour), "a", "mo", &credits.MemberCap{Credits: 10, Period: credits.PeriodMonth}),
				putMemberStep(before.Add(-time.Hour), "b", "d", day(10)),
				debitStep(before.Add(-time.Minute), "a", "d", 10, "s1"),
				debitStep(before.Add(-time.Minute), "a", "w", 10, "s2"),
				debitStep(before.Add(-time.Minute), "a", "mo", 10, "s3"),
				// b's d spent its new day's cap already (at a clock
				// ahead of the batch's).
				debitStep(after.Add(time.Millisecond), "b", "d", 10, "s4"),
			},
			batch: []step{
				debitStep(before, "a", "d", 1, "k1"), // yesterday's cap: refused
				debitStep(before, "b", "", 1, "k2"),  // the batch's earliest time is yesterday's
				debitStep(after, "a", "d", 6, "k3"),  // a new day
				debitStep(after, "a", "w", 6, "k4"),  // a new week
				debitStep(after, "a", "mo", 6, "k5"), // a new month
				debitStep(after, "a", "mo", 5, "k6"), // over the new month's
				debitStep(after, "b", "d", 1, "k7"),  // the new day's cap is spent
				debitStep(before, "a", "w", 1, "k8"), // last week's: refused
			}},
		{name: "the member deleted, put back, its cap changed, a member made, while spends wait", members: [][2]string{{"a", "m"}, {"a", "n"}},
			setup: []step{putMemberStep(sec(0), "a", "m", day(10))},
			batch: []step{
				debitStep(sec(1), "a", "m", 1, "k1"),
				deleteMemberStep(sec(1), "a", "m"),
				debitStep(sec(1), "a", "m", 1, "k2"), // not found
				putMemberStep(sec(1), "a", "m", day(3)),
				debitStep(sec(1), "a", "m", 5, "k3"), // over the new cap
				debitStep(sec(1), "a", "m", 2, "k4"),
				debitStep(sec(1), "a", "n", 1, "k5"), // not found yet
				putMemberStep(sec(1), "a", "n", day(2)),
				debitStep(sec(1), "a", "n", 2, "k6"),
				debitStep(sec(1), "a", "n", 1, "k7"), // over
				putMemberStep(sec(1), "a", "n", nil),
				debitStep(sec(1), "a", "n", 50, "k8"), // no cap now
			}},
		{name: "members of one id in two accounts, and in another case", members: [][2]string{{"a", "m"}, {"b", "m"}},
			setup: []step{
				putMemberStep(sec(0), "a", "m", day(5)), putMemberStep(sec(0), "b", "m", day(100)),
				debitStep(sec(0), "a", "m", 5, "s1"),
			},
			batch: []step{
				debitStep(sec(1), "b", "m", 3, "k1"),
				debitStep(sec(1), "a", "m", 1, "k2"), // a's m spent its cap
				debitStep(sec(1), "a", "M", 1, "k3"), // not found
				debitStep(sec(1), "b", "M", 1, "k4"), // not found
				debitStep(sec(1), "b", "m", 3, "k5"),
				debitStep(sec(1), "a", "", 1, "k6"),
			}},
		{name: "replayed and reused keys as members", members: [][2]string{{"a", "m"}, {"a", "n"}},
			setup: []step{putMemberStep(sec(0), "a", "m", day(10)), putMemberStep(sec(0), "a", "n", day(10)), debitStep(sec(0), "a", "m", 5, "s1")},
			batch: []step{
				debitStep(sec(1), "a", "m", 5, "s1"), // replayed: spends nothing
				debitStep(sec(1), "a", "n", 5, "s1"), // the key with another request
				debitStep(sec(1), "a", "m", 5, "k1"),
				debitStep(sec(1), "a", "m", 5, "k1"), // replayed
				debitStep(sec(1), "a", "m", 1, "k2"), // over
				debitStep(sec(1), "a", "m", 1, "k2"), // the refusal replayed
				debitStep(sec(1), "a", "n", 1, "k3"),
			}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runMemberScenario(t, sc) })
	}
}

// runMemberScenario runs sc's setup alone on both stores, its batch one
// write at a time on SQLite and as one batch on PostgreSQL, and wants the
// same answers, members and accounts, every cap kept and verify clean.
func runMemberScenario(t *testing.T, sc memberScenario) {
	pg := pgtest.Open(t)
	lite, _ := testkit.OpenSQLite(t)
	ctx := context.Background()
	ids := map[credits.Store]*names{pg: {m: map[string]string{}}, lite: {m: map[string]string{}}}
	for _, store := range []credits.Store{pg, lite} {
		svc := atClock(store, sc.setup[0].at.Add(-time.Hour))
		for _, account := range []string{"a", "b"} {
			if _, err := svc.CreateAccount(ctx, account, account+"@example.com"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.Grant(ctx, account, credits.GrantRequest{Amount: 1000}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.CreateFeature(ctx, credits.Feature{ID: "unit", Name: "Units", Unit: "units"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateRateCard(ctx, credits.RateCardRequest{ID: "default", Name: "Default",
			Rates: []credits.Rate{{Feature: "unit", Credits: "1"}}}); err != nil {
			t.Fatal(err)
		}
		for i, s := range sc.setup {
			if err := s.do(atClock(store, s.at), ids[store]); err != nil {
				t.Fatalf("setup %d: %v", i, err)
			}
		}
	}
	want := make([]error, len(sc.batch))
	for i, s := range sc.batch {
		want[i] = s.do(atClock(lite, s.at), ids[lite])
	}
	got := commitSteps(t, pg, ids[pg], sc.batch)
	for i := range sc.batch {
		if credits.ErrorCode(got[i]) != credits.ErrorCode(want[i]) || (got[i] == nil) != (want[i] == nil) {
			t.Errorf("write %d: batched %v, alone %v", i, got[i], want[i])
		}
	}
	last := sc.batch[len(sc.batch)-1].at
	for _, p := range sc.members {
		a, errA := atClock(lite, last).GetMember(ctx, p[0], p[1])
		b, errB := atClock(pg, last).GetMember(ctx, p[0], p[1])
		if credits.ErrorCode(errA) != credits.ErrorCode(errB) || a.Spent != b.Spent || a.Held != b.Held {
			t.Errorf("member %s of %s: batched %+v (%v), alone %+v (%v)", p[1], p[0], b, errB, a, errA)
		}
		if b.Cap != nil && b.Spent+b.Held > b.Cap.Credits {
			t.Errorf("member %s of %s spent %d and holds %d, past its cap of %d", p[1], p[0], b.Spent, b.Held, b.Cap.Credits)
		}
	}
	for _, account := range []string{"a", "b"} {
		a, errA := atClock(lite, last).GetAccount(ctx, account)
		b, errB := atClock(pg, last).GetAccount(ctx, account)
		if errA != nil || errB != nil || a.Balance != b.Balance || a.Held != b.Held {
			t.Errorf("account %s: batched %+v (%v), alone %+v (%v)", account, b, errB, a, errA)
		}
	}
	if report, err := atClock(pg, last).Verify(ctx); err != nil || len(report) > 0 {
		t.Errorf("verify: %+v (%v)", report, err)
	}
}

// TestBatchMemberAfterUndoneWrite: a write of the batch reads a member
// (from what the batch read ahead), saves its spending and fails, after its
// statements went out (rolled back to its savepoint) or with them held
// back (dropped), or at the commit (undone, and the writes after it run
// again); the member's next write reads the member as it is, untouched.
// (A member is not handed back from write to write, as an account is; were
// it, this is what an undone write must not leave behind.)
func TestBatchMemberAfterUndoneWrite(t *testing.T) {
	db := pgtest.Open(t)
	ctx := context.Background()
	svc := credits.NewService(db)
	now := time.Now().UTC().Truncate(time.Microsecond)
	svc.Now = func() time.Time { return now }
	memberSetup(t, svc, []string{"a"}, "m", credits.MemberCap{Credits: 100, Period: credits.PeriodDay})
	if _, _, err := svc.Debit(ctx, "a", credits.DebitRequest{Amount: 7, MemberID: "m"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx credits.Tx) error {
		return tx.CreateIdempotencyRecord(credits.IdempotencyRecord{Scope: "s", Key: "taken", RequestHash: "h", Result: []byte("{}"), CreatedAt: now})
	}); err != nil {
		t.Fatal(err)
	}
	starts := credits.MemberPeriodStarts(now)
	spent := func(locked credits.LockedAccount) (credits.MemberSpending, error) {
		_, sps, err := locked.MemberAt("m", starts)
		if err != nil || len(sps) != 1 {
			return credits.MemberSpending{}, fmt.Errorf("member m: %v, %d spendings", err, len(sps))
		}
		return sps[0], nil
	}
	// spendAndFail saves 50 more spent; how it fails says what went out.
	spendAndFail := func(how string) func(credits.Tx) error {
		return func(tx credits.Tx) error {
			locked, err := tx.LockAccount("a")
			if err != nil {
				return err
			}
			sp, err := spent(locked)
			if err != nil {
				return err
			}
			sp.Spent += 50
			if err := locked.SaveMemberSpending(sp); err != nil {
				return err
			}
			switch how {
			case "sent": // the save goes out with this read
				if _, err := locked.MemberSpending("m", sp.PeriodStart); err != nil {
					return err
				}
				return errors.New("failed after its statements went out")
			case "held":
				return errors.New("failed with its statements held back")
			}
			// fails when its statements go out, with the next write's
			return tx.CreateIdempotencyRecord(credits.IdempotencyRecord{Scope: "s", Key: "taken", RequestHash: "h", CreatedAt: now})
		}
	}
	var seen []int64
	runs := 0
	check := func(tx credits.Tx) error {
		runs++
		locked, err := tx.LockAccount("a")
		if err != nil {
			return err
		}
		sp, err := spent(locked)
		seen = append(seen, sp.Spent)
		if err == nil && sp.Spent != 7 {
			err = fmt.Errorf("member m spent %d, want 7: an undone write's spending", sp.Spent)
		}
		return err
	}
	w := credits.AccountWrite{AccountID: "a", Now: now, MemberID: "m"}
	ws := []credits.AccountWrite{w, w, w, w, w, w}
	errs := postgres.CommitWrites(db, ws, []func(credits.Tx) error{
		spendAndFail("sent"), check, spendAndFail("held"), check, spendAndFail("at commit"), check,
	})
	for i, want := range []bool{true, false, true, false, true, false} {
		if (errs[i] != nil) != want {
			t.Errorf("write %d: error %v, want one: %v", i, errs[i], want)
		}
	}
	if !errors.Is(errs[4], sqlstore.ErrConflictAtCommit) {
		t.Errorf("write 4: error %v, want %v", errs[4], sqlstore.ErrConflictAtCommit)
	}
	if runs != 4 || len(seen) != 3 { // the last again, once the undone write is found with its first statement
		t.Errorf("the checks ran %d times, reading %v, want 4 times, reading 3", runs, seen)
	}
	if v, err := svc.GetMember(ctx, "a", "m"); err != nil || v.Spent != 7 {
		t.Errorf("member m after the batch: %+v (%v), want 7 spent", v, err)
	}
}

// TestMemberCapAcrossStores spends as members of a few accounts through two
// stores on one database at once (two replicas, their batches reading the
// members ahead), with holds that are captured and the NUL member of a
// hostile client in between: each member's cap holds exactly, and every
// other write succeeds.
func TestMemberCapAcrossStores(t *testing.T) {
	url := pgtest.URL(t)
	first, second := pgtest.OpenURL(t, url), pgtest.OpenURL(t, url)
	ctx := context.Background()
	services := []*credits.Service{credits.NewService(first), credits.NewService(second)}
	const accounts, spends, limit = 3, 300, 40
	for i := range accounts {
		id := fmt.Sprint("c", i)
		memberSetup(t, services[0], []string{id}, "m", credits.MemberCap{Credits: limit, Period: credits.PeriodDay})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	took := map[string]int64{}
	for i := range spends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc, id := services[i%2], fmt.Sprint("c", i%accounts)
			var err error
			var spent int64
			switch i % 6 {
			case 0, 1, 2:
				err, spent = debitAs(id, "m", 1, fmt.Sprint("d", i))(svc), 1
			case 3:
				var h credits.Hold
				if h, _, err = svc.CreateHold(ctx, id, credits.HoldRequest{Amount: 2, ExpiresInSeconds: 60, MemberID: "m"}, nil); err == nil {
					_, err = svc.CaptureHold(ctx, h.ID, nil)
					spent = 2
				}
			case 4:
				err = debitAs(id, "m\x00", 1, fmt.Sprint("x", i))(svc)
				if credits.ErrorCode(err) == credits.ENOTFOUND {
					err = nil
				}
			case 5:
				err = debitAs(id, "", 1, "")(svc)
			}
			if credits.ErrorCode(err) == credits.EMEMBERCAP {
				return
			}
			if err != nil {
				t.Errorf("spend %d: %v", i, err)
				return
			}
			mu.Lock()
			took[id] += spent
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i := range accounts {
		id := fmt.Sprint("c", i)
		v, err := services[1].GetMember(ctx, id, "m")
		if err != nil || v.Spent != took[id] || v.Held != 0 || v.Spent > limit || v.Spent < limit-1 {
			t.Errorf("member m of %s: %+v (%v), want %d spent (of %d), none held", id, v, err, took[id], limit)
		}
	}
	if report, err := services[0].Verify(ctx); err != nil || len(report) > 0 {
		t.Errorf("verify: %+v (%v)", report, err)
	}
}

// TestBatchKeyNotText: a library caller's idempotency key with a NUL (or
// a scope with one) is refused as invalid_request, as the HTTP layer
// refuses it, before it reaches a batch: a batch that read it ahead would
// send it to PostgreSQL, which refuses a NUL in text, and that would fail
// every write of the batch.
func TestBatchKeyNotText(t *testing.T) {
	db := pgtest.Open(t)
	svc := credits.NewService(db)
	memberSetup(t, svc, []string{"a0"}, "m", credits.MemberCap{Credits: 100, Period: credits.PeriodDay})
	ctx := context.Background()
	for _, idem := range []*credits.Idempotency{{Scope: "debit/a0", Key: "k\x00", RequestHash: "h"}, {Scope: "debit/a0\x00", Key: "k", RequestHash: "h"}} {
		_, _, err := svc.Debit(ctx, "a0", credits.DebitRequest{Amount: 1}, idem)
		if credits.ErrorCode(err) != credits.EINVALID {
			t.Errorf("key %q in scope %q: %v, want invalid_request", idem.Key, idem.Scope, err)
		}
		_, _, err = svc.RecordUsage(ctx, "a0", credits.UsageRequest{Feature: "f", Quantities: map[string]int64{"q": 1}}, idem)
		if credits.ErrorCode(err) != credits.EINVALID {
			t.Errorf("usage with key %q in scope %q: %v, want invalid_request", idem.Key, idem.Scope, err)
		}
	}
	if a, err := svc.GetAccount(ctx, "a0"); err != nil || a.Balance != 1000 {
		t.Errorf("a0: %+v (%v), want its 1000 credits untouched", a, err)
	}
}
