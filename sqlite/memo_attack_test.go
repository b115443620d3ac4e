package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/sqlite"
)

// Attacks on the writer's memo (sqlstore.WriterMemo): each ends with ann's
// spending checked and Verify clean.

// testClock is a service clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// clocked opens a service on db whose clock starts at start.
func clocked(db *sqlite.DB, start time.Time) (*credits.Service, *testClock) {
	svc := credits.NewService(db)
	c := &testClock{now: start}
	svc.Now = c.Now
	return svc, c
}

// code is an error's code ("" for none).
func code(err error) string {
	if err == nil {
		return ""
	}
	return credits.ErrorCode(err)
}

// debitAnn debits amount as ann and returns the error's code; a code not
// among allowed fails the test.
func debitAnn(t *testing.T, svc *credits.Service, amount int64, allowed ...string) string {
	t.Helper()
	_, _, err := svc.Debit(context.Background(), "u1", credits.DebitRequest{Amount: amount, MemberID: "ann"}, nil)
	c := code(err)
	for _, a := range append(allowed, "", credits.EMEMBERCAP) {
		if c == a {
			return c
		}
	}
	t.Fatalf("debit %d as ann: %v", amount, err)
	return c
}

// wantAnn checks ann's spending in the service's current period, and that
// Verify finds nothing.
func wantAnn(t *testing.T, svc *credits.Service, spent, held int64) {
	t.Helper()
	v, err := svc.GetMember(context.Background(), "u1", "ann")
	if err != nil {
		t.Fatal(err)
	}
	if v.Spent != spent || v.Held != held {
		t.Errorf("ann spent %d and holds %d, want %d and %d", v.Spent, v.Held, spent, held)
	}
	verifyClean(t, svc)
}

func verifyClean(t *testing.T, svc *credits.Service) {
	t.Helper()
	if violations, err := svc.Verify(context.Background()); err != nil || len(violations) != 0 {
		t.Errorf("verify: %+v (%v)", violations, err)
	}
}

// inOneBatch runs each step in its own goroutine, all in one batch of the
// writer, in order: a write that waits holds the writer while each step
// queues behind it (a step must make exactly one write).
func inOneBatch(t *testing.T, db *sqlite.DB, steps ...func()) {
	t.Helper()
	entered, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = db.Update(context.Background(), func(credits.Tx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	for _, step := range steps {
		wg.Add(1)
		go func() { defer wg.Done(); step() }()
		time.Sleep(100 * time.Millisecond) // queued, in order, behind the one before (senders wait in order)
	}
	close(release)
	wg.Wait()
}

// saveAnnSpent writes ann's spending in today's period as spent, in a
// write that then fails with fail (or panics when fail is nil).
func saveAnnSpent(db *sqlite.DB, spent int64, now time.Time, fail error) error {
	return db.Update(context.Background(), func(tx credits.Tx) error {
		locked, err := tx.LockAccount("u1")
		if err != nil {
			return err
		}
		_, spendings, err := locked.MemberAt("ann", credits.MemberPeriodStarts(now))
		if err != nil || len(spendings) != 1 {
			return fmt.Errorf("ann's spending: %+v (%v)", spendings, err)
		}
		sp := spendings[0]
		sp.Spent = spent
		if err := locked.SaveMemberSpending(sp); err != nil {
			return err
		}
		if fail == nil {
			panic("the write panics after saving")
		}
		return fail
	})
}

// TestMemoAttackRollbackMidBatch: in one batch, ann spends, a write lowers
// her spending and fails (then one that panics), and more spends follow:
// the spends after the failed writes see what was committed.
func TestMemoAttackRollbackMidBatch(t *testing.T) {
	db, _ := openShared(t)
	svc := credits.NewService(db)
	capped(t, svc)
	now := time.Now()
	failed := errors.New("fails")
	var codes [4]string
	var errs [2]error
	var panicked any
	inOneBatch(t, db,
		func() { codes[0] = debitAnn(t, svc, 4) },
		func() { errs[0] = saveAnnSpent(db, 0, now, failed) },
		func() { codes[1] = debitAnn(t, svc, 7) },
		func() {
			defer func() { panicked = recover() }()
			errs[1] = saveAnnSpent(db, 0, now, nil)
		},
		func() { codes[2] = debitAnn(t, svc, 7) },
		func() { codes[3] = debitAnn(t, svc, 6) },
	)
	if !errors.Is(errs[0], failed) || panicked == nil {
		t.Fatalf("the failing writes answered %v, %v (panic %v)", errs[0], errs[1], panicked)
	}
	if want := [4]string{"", credits.EMEMBERCAP, credits.EMEMBERCAP, ""}; codes != want {
		t.Errorf("spends of 4, 7, 7, 6 under a cap of 10 answered %q, want %q", codes, want)
	}
	wantAnn(t, svc, 10, 0)
}

// TestMemoAttackMemberChangesInBatch: in one batch, ann's cap is lowered,
// removed, put back, and she is deleted and comes back, between spends.
func TestMemoAttackMemberChangesInBatch(t *testing.T) {
	ctx := context.Background()
	db, _ := openShared(t)
	svc := credits.NewService(db)
	capped(t, svc)
	setCap := func(c *credits.MemberCap) func() {
		return func() {
			if _, err := svc.PutMember(ctx, "u1", "ann", credits.MemberRequest{SetCap: true, Cap: c}); err != nil {
				t.Error(err)
			}
		}
	}
	codes := make([]string, 7)
	spends := 0
	spend := func(amount int64) func() {
		i := spends
		spends++
		return func() { codes[i] = fmt.Sprint(amount, ":", debitAnn(t, svc, amount, credits.ENOTFOUND)) }
	}
	inOneBatch(t, db,
		spend(4),
		setCap(&credits.MemberCap{Credits: 5, Period: credits.PeriodDay}),
		spend(2), // 4 + 2 > 5
		setCap(nil),
		spend(50), // no cap: over all time
		setCap(&credits.MemberCap{Credits: 10, Period: credits.PeriodDay}),
		spend(7), // 4 + 7 > 10 today
		func() {
			if err := svc.DeleteMember(ctx, "u1", "ann"); err != nil {
				t.Error(err)
			}
		},
		spend(1), // deleted
		func() {
			if _, err := svc.PutMember(ctx, "u1", "ann", credits.MemberRequest{}); err != nil {
				t.Error(err)
			}
		},
		spend(6),
		spend(1),
	)
	want := []string{"4:", "2:" + credits.EMEMBERCAP, "50:", "7:" + credits.EMEMBERCAP, "1:" + credits.ENOTFOUND, "6:", "1:" + credits.EMEMBERCAP}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("spends answered %q, want %q", codes, want)
	}
	wantAnn(t, svc, 10, 0)
}

// annHold holds amount as ann for seconds.
func annHold(t *testing.T, svc *credits.Service, amount, seconds int64) credits.Hold {
	t.Helper()
	h, _, err := svc.CreateHold(context.Background(), "u1", credits.HoldRequest{Amount: amount, ExpiresInSeconds: seconds, MemberID: "ann"}, nil)
	if err != nil {
		t.Fatalf("hold %d as ann: %v", amount, err)
	}
	return h
}

// TestMemoAttackHoldsAcrossDays: a hold expires while the writer remembers
// its day; holds made one day are released and captured the next, while
// the writer remembers ann's next day; the clock then goes back.
func TestMemoAttackHoldsAcrossDays(t *testing.T) {
	ctx := context.Background()
	db, _ := openShared(t)
	day1 := time.Date(2027, 3, 10, 23, 0, 0, 0, time.UTC)
	svc, clock := clocked(db, day1)
	capped(t, svc)
	released, captured := annHold(t, svc, 3, 7200), annHold(t, svc, 3, 7200)
	annHold(t, svc, 2, 1800) // expires at 23:30
	debitAnn(t, svc, 2)
	if c := debitAnn(t, svc, 1); c != credits.EMEMBERCAP {
		t.Fatalf("day 1, 3 + 3 + 2 held and 2 spent, a spend of 1 answered %q", c)
	}
	clock.set(day1.Add(45 * time.Minute)) // the 2 expired
	if c := debitAnn(t, svc, 2); c != "" {
		t.Fatalf("day 1, the hold of 2 expired, a spend of 2 answered %q", c)
	}
	if c := debitAnn(t, svc, 1); c != credits.EMEMBERCAP {
		t.Fatalf("day 1 full again, a spend of 1 answered %q", c)
	}
	clock.set(day1.Add(90 * time.Minute)) // day 2, 00:30
	if c := debitAnn(t, svc, 10); c != "" {
		t.Fatalf("day 2's first spend of 10 answered %q", c)
	}
	if _, err := svc.ReleaseHold(ctx, released.ID); err != nil {
		t.Fatal(err)
	}
	amount := int64(2)
	if _, err := svc.CaptureHold(ctx, captured.ID, &amount); err != nil {
		t.Fatal(err)
	}
	if c := debitAnn(t, svc, 1); c != credits.EMEMBERCAP {
		t.Fatalf("day 2, after 10 spent, a spend of 1 answered %q", c)
	}
	wantAnn(t, svc, 10, 0)
	clock.set(day1.Add(50 * time.Minute)) // back to day 1: 2 + 2 + 2 captured spent
	if c := debitAnn(t, svc, 5); c != credits.EMEMBERCAP {
		t.Fatalf("back on day 1 (6 spent), a spend of 5 answered %q", c)
	}
	if c := debitAnn(t, svc, 4); c != "" {
		t.Fatalf("back on day 1 (6 spent), a spend of 4 answered %q", c)
	}
	wantAnn(t, svc, 10, 0)
}

// TestMemoAttackWeekAndMonthBoundaries: a weekly cap, then a monthly one,
// as the clock crosses Sunday night and the end of a month, and back.
func TestMemoAttackWeekAndMonthBoundaries(t *testing.T) {
	ctx := context.Background()
	sunday := time.Date(2027, 2, 28, 23, 59, 59, 0, time.UTC) // the last day of February too
	for _, period := range []string{credits.PeriodWeek, credits.PeriodMonth} {
		db, _ := openShared(t)
		svc, clock := clocked(db, sunday)
		capped(t, svc)
		if _, err := svc.PutMember(ctx, "u1", "ann", credits.MemberRequest{SetCap: true,
			Cap: &credits.MemberCap{Credits: 10, Period: period}}); err != nil {
			t.Fatal(err)
		}
		h := annHold(t, svc, 4, 60)
		debitAnn(t, svc, 6)
		if c := debitAnn(t, svc, 1); c != credits.EMEMBERCAP {
			t.Fatalf("%s: full, a spend of 1 answered %q", period, c)
		}
		clock.set(sunday.Add(time.Second)) // Monday, March 1st
		if c := debitAnn(t, svc, 10); c != "" {
			t.Fatalf("%s: the next period's spend of 10 answered %q", period, c)
		}
		if _, err := svc.ReleaseHold(ctx, h.ID); err != nil {
			t.Fatal(err)
		}
		if c := debitAnn(t, svc, 1); c != credits.EMEMBERCAP {
			t.Fatalf("%s: the next period full, a spend of 1 answered %q", period, c)
		}
		clock.set(sunday)
		if c := debitAnn(t, svc, 4); c != "" {
			t.Fatalf("%s: back, the hold released, a spend of 4 answered %q", period, c)
		}
		if c := debitAnn(t, svc, 1); c != credits.EMEMBERCAP {
			t.Fatalf("%s: back and full, a spend of 1 answered %q", period, c)
		}
		wantAnn(t, svc, 10, 0)
	}
}

// TestMemoAttackTwoServicesAlternate: the server and the CLI take turns
// holding, spending and releasing as ann on one file.
func TestMemoAttackTwoServicesAlternate(t *testing.T) {
	ctx := context.Background()
	serverDB, cliDB := openShared(t)
	server, cli := credits.NewService(serverDB), credits.NewService(cliDB)
	capped(t, server)
	h := annHold(t, server, 3, 60)
	debitAnn(t, cli, 3)
	if _, err := cli.ReleaseHold(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	h = annHold(t, server, 4, 60) // 3 spent, 4 held
	if c := debitAnn(t, cli, 4); c != credits.EMEMBERCAP {
		t.Fatalf("the CLI's spend of 4 past the cap answered %q", c)
	}
	if _, err := cli.ReleaseHold(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	if c := debitAnn(t, server, 7); c != "" {
		t.Fatalf("the server's spend of 7 after the CLI released 4 answered %q", c)
	}
	if c := debitAnn(t, cli, 1); c != credits.EMEMBERCAP {
		t.Fatalf("the CLI's spend past the cap answered %q", c)
	}
	wantAnn(t, server, 10, 0)
}

// TestMemoAttackConcurrentSpends: 128 debits and holds of 1 as ann at once,
// under a cap of 50, half of them by the server and half by the CLI on the
// same file: exactly 50 pass.
func TestMemoAttackConcurrentSpends(t *testing.T) {
	ctx := context.Background()
	serverDB, cliDB := openShared(t)
	svc, cli := credits.NewService(serverDB), credits.NewService(cliDB)
	capped(t, svc)
	if _, err := svc.PutMember(ctx, "u1", "ann", credits.MemberRequest{SetCap: true,
		Cap: &credits.MemberCap{Credits: 50, Period: credits.PeriodDay}}); err != nil {
		t.Fatal(err)
	}
	var passed, spent, held atomic.Int64
	var wg sync.WaitGroup
	for i := range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			by := svc
			if i%4 >= 2 {
				by = cli
			}
			if i%2 == 0 {
				_, _, err = by.Debit(ctx, "u1", credits.DebitRequest{Amount: 1, MemberID: "ann"}, nil)
			} else {
				_, _, err = by.CreateHold(ctx, "u1", credits.HoldRequest{Amount: 1, ExpiresInSeconds: 600, MemberID: "ann"}, nil)
			}
			switch {
			case err == nil && i%2 == 0:
				passed.Add(1)
				spent.Add(1)
			case err == nil:
				passed.Add(1)
				held.Add(1)
			case code(err) != credits.EMEMBERCAP:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	t.Logf("passed %d spent %d held %d", passed.Load(), spent.Load(), held.Load())
	if passed.Load() != 50 {
		t.Errorf("%d of 128 spends of 1 passed a cap of 50", passed.Load())
	}
	wantAnn(t, svc, spent.Load(), held.Load())
}

// TestMemoAttackRawSpending: DB.Exec raising ann's spending is seen by the
// next spend.
func TestMemoAttackRawSpending(t *testing.T) {
	db, svc := cappedDB(t)
	debitAnn(t, svc, 2)
	if err := db.Exec(context.Background(), "UPDATE member_spending SET spent = spent + 7 WHERE account_id = 'u1' AND member_id = 'ann'"); err != nil {
		t.Fatal(err)
	}
	if c := debitAnn(t, svc, 2); c != credits.EMEMBERCAP {
		t.Fatalf("with 9 spent, a spend of 2 answered %q", c)
	}
	if c := debitAnn(t, svc, 1); c != "" {
		t.Fatalf("with 9 spent, a spend of 1 answered %q", c)
	}
}

// usageAt records a usage of one image at the clock's time and returns its
// credits, or its error's code.
func usageAt(t *testing.T, svc *credits.Service, n *int) string {
	t.Helper()
	*n++
	one := int64(1)
	key := fmt.Sprint("u", *n)
	r, _, err := svc.RecordUsage(context.Background(), "a", credits.UsageRequest{Feature: "image", Quantity: &one},
		&credits.Idempotency{Scope: "usage/a", Key: key, RequestHash: key})
	if err != nil {
		return code(err)
	}
	return fmt.Sprint(r.Credits)
}

// TestMemoAttackPricing: the account is first priced before the default
// card exists (no version: refused, and that answer kept); the card is
// then made with a version in the future, the clock crosses it and goes
// back, and the account moves to its own card and back.
func TestMemoAttackPricing(t *testing.T) {
	ctx := context.Background()
	db, _ := openShared(t)
	t0 := time.Date(2027, 3, 10, 10, 0, 0, 0, time.UTC)
	svc, clock := clocked(db, t0)
	openAccounts(t, svc, 1000, "a")
	if _, err := svc.CreateFeature(ctx, credits.Feature{ID: "image", Name: "Images", Unit: "image"}); err != nil {
		t.Fatal(err)
	}
	n := 0
	var got []string
	use := func(sec int) {
		clock.set(t0.Add(time.Duration(sec) * time.Second))
		got = append(got, fmt.Sprint(sec, ":", usageAt(t, svc, &n)))
	}
	rates := func(c string) []credits.Rate { return []credits.Rate{{Feature: "image", Credits: c}} }
	at := func(sec int) *time.Time { x := t0.Add(time.Duration(sec) * time.Second); return &x }
	use(0) // no default card
	clock.set(t0)
	if _, err := svc.CreateRateCard(ctx, credits.RateCardRequest{ID: credits.DefaultRateCard, Name: "Default", Rates: rates("3"), EffectiveAt: at(5)}); err != nil {
		t.Fatal(err)
	}
	use(1) // version 1 not yet in effect
	use(5)
	if _, err := svc.AddRateCardVersion(ctx, credits.DefaultRateCard, credits.RateCardRequest{Rates: rates("5"), EffectiveAt: at(20)}); err != nil {
		t.Fatal(err)
	}
	use(19)
	use(20)
	use(19) // back
	use(4)  // back before version 1
	if _, err := svc.CreateRateCard(ctx, credits.RateCardRequest{ID: "own", Name: "Own", Rates: rates("1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetAccountRateCard(ctx, "a", "own"); err != nil {
		t.Fatal(err)
	}
	use(20)
	if _, err := svc.SetAccountRateCard(ctx, "a", credits.DefaultRateCard); err != nil {
		t.Fatal(err)
	}
	use(20)
	use(6)
	want := []string{"0:" + credits.ENORATE, "1:" + credits.ENORATE, "5:3", "19:3", "20:5", "19:3", "4:" + credits.ENORATE, "20:1", "20:5", "6:3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("usages priced %q, want %q", got, want)
	}
	verifyClean(t, svc)
}
