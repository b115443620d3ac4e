package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

func (f *fixture) grant(accountID string, amount int64, expiresIn time.Duration, priority int64) credits.GrantResult {
	f.t.Helper()
	req := credits.GrantRequest{Amount: amount, Priority: priority, Reason: "test"}
	if expiresIn > 0 {
		at := f.now.Add(expiresIn)
		req.ExpiresAt = &at
	}
	r, _, err := f.svc.Grant(context.Background(), accountID, req, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) debit(accountID string, amount int64) (credits.DebitResult, error) {
	f.t.Helper()
	r, _, err := f.svc.Debit(context.Background(), accountID, credits.DebitRequest{Amount: amount}, nil)
	return r, err
}

func (f *fixture) hold(accountID string, amount int64, expiresIn time.Duration) credits.Hold {
	f.t.Helper()
	h, _, err := f.svc.CreateHold(context.Background(), accountID, credits.HoldRequest{Amount: amount, ExpiresInSeconds: int64(expiresIn / time.Second)}, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

func (f *fixture) accountNow(id string) credits.Account {
	f.t.Helper()
	a, err := f.svc.GetAccount(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *fixture) wantAccount(id string, balance, available int64) {
	f.t.Helper()
	a := f.accountNow(id)
	if a.Balance != balance || a.Available != available {
		f.t.Errorf("account %s: balance %d available %d, want %d and %d", id, a.Balance, a.Available, balance, available)
	}
}

func testBurnDownOrder(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	day := 24 * time.Hour
	a := f.grant("u1", 10, 0, 0)      // no expiry, oldest
	b := f.grant("u1", 10, 10*day, 5) // later expiry, high priority number
	c := f.grant("u1", 10, 5*day, 5)  // earliest expiry
	d := f.grant("u1", 10, 10*day, 1) // same expiry as b, lower priority number
	e := f.grant("u1", 10, 0, 0)      // no expiry, newest
	g := f.grant("u1", 10, 10*day, 1) // same expiry and priority as d, newer
	want := []int64{c.LotID, d.LotID, g.LotID, b.LotID, a.LotID, e.LotID}
	var got []int64
	for range 6 {
		r, err := f.debit("u1", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Lots) != 1 || r.Lots[0].Amount != 10 {
			t.Fatalf("debit drew %+v, want one lot", r.Lots)
		}
		got = append(got, r.Lots[0].LotID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lots drawn in order %v, want %v", got, want)
	}
}

func testDebitSpansLots(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	first := f.grant("u1", 30, time.Hour, 0)
	second := f.grant("u1", 50, 0, 0)
	r, err := f.debit("u1", 45)
	if err != nil {
		t.Fatal(err)
	}
	want := []credits.LotAmount{{LotID: first.LotID, Amount: 30}, {LotID: second.LotID, Amount: 15}}
	if fmt.Sprint(r.Lots) != fmt.Sprint(want) || r.Balance != 35 || r.Available != 35 {
		t.Errorf("debit = %+v, want lots %v and balance 35", r, want)
	}
}

func testDebitRefusedWhenShort(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 10, 0, 0)
	f.hold("u1", 4, time.Hour)
	_, err := f.debit("u1", 7)
	if got := credits.ErrorCode(err); got != credits.EINSUFFICIENT {
		t.Fatalf("code = %q, want %q", got, credits.EINSUFFICIENT)
	}
	f.wantAccount("u1", 10, 6) // nothing taken: no partial debit
	if _, err := f.debit("u1", 6); err != nil {
		t.Errorf("debit of exactly what is available: %v", err)
	}
	f.wantAccount("u1", 4, 0)
}

func testLotExpiry(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 50, time.Hour, 0)
	f.grant("u1", 20, 0, 0)
	f.now = f.now.Add(2 * time.Hour)
	f.wantAccount("u1", 20, 20) // a read settles expiry: never stale
	entries, err := f.svc.ListEntries(context.Background(), "u1", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if e := entries.Data[0]; e.Kind != credits.EntryExpiry || e.Amount != -50 || e.BalanceAfter != 20 {
		t.Errorf("newest entry = %+v, want an expiry of 50", e)
	}
	if _, err := f.debit("u1", 21); credits.ErrorCode(err) != credits.EINSUFFICIENT {
		t.Errorf("debit beyond the unexpired credits: %v", err)
	}
}

func testSweepSettlesUntouchedAccounts(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 50, time.Hour, 0)
	f.hold("u1", 10, 30*time.Minute)
	f.now = f.now.Add(2 * time.Hour)
	n, err := f.svc.SweepExpired(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("sweep settled %d accounts (%v), want 1", n, err)
	}
	var a credits.Account
	if err := f.db.View(context.Background(), func(tx credits.Tx) (err error) { a, err = tx.Account("u1"); return err }); err != nil {
		t.Fatal(err)
	}
	if a.ID != "u1" || a.Balance != 0 || a.Held != 0 {
		t.Errorf("stored account after the sweep: %+v", a)
	}
}

func testExpiryDuringHold(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, time.Hour, 0)
	h := f.hold("u1", 80, 2*time.Hour)
	f.now = f.now.Add(90 * time.Minute) // the lot expired; the hold has not
	f.wantAccount("u1", 80, 0)          // the unreserved 20 expired; the held 80 did not
	captured, err := f.svc.CaptureHold(context.Background(), h.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if captured.Status != credits.HoldCaptured || captured.Captured != 80 {
		t.Errorf("hold = %+v", captured)
	}
	f.wantAccount("u1", 0, 0)
}

func testHoldOutlivesItsLot(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, time.Hour, 0)
	f.grant("u1", 5, 0, 0)
	h := f.hold("u1", 80, 2*time.Hour)
	f.now = f.now.Add(90 * time.Minute)
	if _, err := f.svc.ReleaseHold(context.Background(), h.ID); err != nil {
		t.Fatal(err)
	}
	f.wantAccount("u1", 5, 5) // released credits of an expired lot expire at once
}

func testPartialCapture(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	h := f.hold("u1", 60, time.Hour)
	f.wantAccount("u1", 100, 40)
	captured, err := f.svc.CaptureHold(context.Background(), h.ID, captureAmount(25))
	if err != nil {
		t.Fatal(err)
	}
	if captured.Captured != 25 || captured.Status != credits.HoldCaptured {
		t.Errorf("hold = %+v", captured)
	}
	f.wantAccount("u1", 75, 75)
	again, err := f.svc.CaptureHold(context.Background(), h.ID, captureAmount(25))
	if err != nil || again.Captured != 25 {
		t.Errorf("capture repeated with the same amount: %+v %v, want the same answer", again, err)
	}
	f.wantAccount("u1", 75, 75)
}

func testHoldStateConflicts(t *testing.T, open Opener) {
	tests := []struct {
		name   string
		first  func(f *fixture, id string) error
		second func(f *fixture, id string) error
	}{
		{"capture after release", release, capture(0)},
		{"release after capture", capture(0), release},
		{"capture of another amount after capture", capture(10), capture(20)},
		{"capture after expiry", expire, capture(0)},
		{"release after expiry", expire, release},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, open)
			f.account("u1", "u1@example.com")
			f.grant("u1", 100, 0, 0)
			h := f.hold("u1", 50, time.Hour)
			if err := tt.first(f, h.ID); err != nil {
				t.Fatal(err)
			}
			before := f.accountNow("u1")
			if err := tt.second(f, h.ID); credits.ErrorCode(err) != credits.ECONFLICT {
				t.Errorf("err = %v, want a conflict", err)
			}
			if after := f.accountNow("u1"); after != before {
				t.Errorf("a refused operation changed the account: %+v -> %+v", before, after)
			}
		})
	}
}

func capture(amount int64) func(f *fixture, id string) error {
	return func(f *fixture, id string) error {
		_, err := f.svc.CaptureHold(context.Background(), id, captureAmount(amount))
		return err
	}
}

func release(f *fixture, id string) error {
	_, err := f.svc.ReleaseHold(context.Background(), id)
	return err
}

func expire(f *fixture, id string) error {
	f.now = f.now.Add(2 * time.Hour)
	h, err := f.svc.GetHold(context.Background(), id)
	if err == nil && h.Status != credits.HoldExpired {
		err = fmt.Errorf("hold is %s after its expiry, want expired", h.Status)
	}
	f.wantAccount("u1", 100, 100)
	return err
}

func testReleaseTwiceAnswersTheSame(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	h := f.hold("u1", 50, time.Hour)
	for range 2 {
		r, err := f.svc.ReleaseHold(context.Background(), h.ID)
		if err != nil || r.Status != credits.HoldReleased {
			t.Fatalf("release: %+v %v", r, err)
		}
	}
	f.wantAccount("u1", 100, 100)
}

func testHoldRefusedWhenShort(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 10, 0, 0)
	_, _, err := f.svc.CreateHold(context.Background(), "u1", credits.HoldRequest{Amount: 11, ExpiresInSeconds: 60}, nil)
	if credits.ErrorCode(err) != credits.EINSUFFICIENT {
		t.Errorf("err = %v, want insufficient_credits", err)
	}
}

func testAdjustments(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	if _, _, err := f.svc.Adjust(context.Background(), "u1", credits.AdjustmentRequest{Amount: 30, Reason: "goodwill"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Adjust(context.Background(), "u1", credits.AdjustmentRequest{Amount: -12, Reason: "correction"}, nil); err != nil {
		t.Fatal(err)
	}
	f.wantAccount("u1", 18, 18)
	_, _, err := f.svc.Adjust(context.Background(), "u1", credits.AdjustmentRequest{Amount: -19, Reason: "too much"}, nil)
	if credits.ErrorCode(err) != credits.EINSUFFICIENT {
		t.Errorf("negative adjustment beyond available: %v", err)
	}
	if _, _, err := f.svc.Adjust(context.Background(), "u1", credits.AdjustmentRequest{Amount: 5}, nil); credits.ErrorCode(err) != credits.EINVALID {
		t.Errorf("adjustment without a reason: %v", err)
	}
}

func testGrantOverflowRefused(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	for range 9 {
		f.grant("u1", credits.MaxAmount, 0, 0)
	}
	_, _, err := f.svc.Grant(context.Background(), "u1", credits.GrantRequest{Amount: credits.MaxAmount}, nil)
	if credits.ErrorCode(err) != credits.EINVALID {
		t.Errorf("grant past int64: %v, want invalid", err)
	}
	f.wantAccount("u1", 9*credits.MaxAmount, 9*credits.MaxAmount)
}

func testTrialCredits(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.svc.TrialCredits, f.svc.TrialDays = 25, 7
	f.account("u1", "u1@example.com")
	a := f.accountNow("u1")
	if a.Balance != 25 || !a.Trial {
		t.Errorf("new account = %+v, want 25 trial credits and trial true", a)
	}
	f.now = f.now.Add(8 * 24 * time.Hour)
	f.wantAccount("u1", 0, 0)
}

func testPackExpiryAppliesToPurchases(t *testing.T, open Opener) {
	f := newFixture(t, open)
	days := int64(30)
	if _, err := f.svc.CreatePack(context.Background(), credits.Pack{ID: "p", Name: "P", Credits: 100, UnitAmount: 100, Currency: "usd", ExpiresAfterDays: &days, Active: true}); err != nil {
		t.Fatal(err)
	}
	f.account("u1", "u1@example.com")
	f.session("cs_1", "u1", "p", 1)
	f.deliver("evt_1", credits.EventCheckoutCompleted, paid("cs_1"))
	f.wantAccount("u1", 100, 100)
	f.now = f.now.Add(31 * 24 * time.Hour)
	f.wantAccount("u1", 0, 0)
}

func testIdempotentDebit(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	idem := &credits.Idempotency{Scope: "k/u1", Key: "order-1", RequestHash: credits.HashRequest("debit", "10")}
	first, replayed, err := f.svc.Debit(context.Background(), "u1", credits.DebitRequest{Amount: 10}, idem)
	if err != nil || replayed {
		t.Fatal(err, replayed)
	}
	f.now = f.now.Add(time.Minute)
	again, replayed, err := f.svc.Debit(context.Background(), "u1", credits.DebitRequest{Amount: 10}, idem)
	if err != nil || !replayed || fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("repeat = %+v replayed %t err %v; want the first answer %+v", again, replayed, err, first)
	}
	other := *idem
	other.RequestHash = credits.HashRequest("debit", "11")
	if _, _, err := f.svc.Debit(context.Background(), "u1", credits.DebitRequest{Amount: 11}, &other); credits.ErrorCode(err) != credits.EIDEMPOTENCY {
		t.Errorf("same key, other request: %v, want %s", err, credits.EIDEMPOTENCY)
	}
	f.wantAccount("u1", 90, 90)

	// A refusal is an answer too: the same key answers 402 again, even after a top-up.
	short := &credits.Idempotency{Scope: "k/u1", Key: "order-2", RequestHash: credits.HashRequest("debit", "1000")}
	if _, _, err := f.svc.Debit(context.Background(), "u1", credits.DebitRequest{Amount: 1000}, short); credits.ErrorCode(err) != credits.EINSUFFICIENT {
		t.Fatal(err)
	}
	f.grant("u1", 2000, 0, 0)
	if _, replayed, err := f.svc.Debit(context.Background(), "u1", credits.DebitRequest{Amount: 1000}, short); credits.ErrorCode(err) != credits.EINSUFFICIENT || !replayed {
		t.Errorf("replayed refusal: %v replayed %t", err, replayed)
	}
	// After the retention period the key is forgotten.
	f.now = f.now.Add(credits.IdempotencyKeyRetention + time.Hour)
	if _, replayed, err := f.svc.Debit(context.Background(), "u1", credits.DebitRequest{Amount: 1000}, short); err != nil || replayed {
		t.Errorf("after 30 days: %v replayed %t, want a new debit", err, replayed)
	}
}

func testConcurrentSameIdempotencyKey(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	idem := &credits.Idempotency{Scope: "k/u1", Key: "same", RequestHash: credits.HashRequest("debit", "7")}
	const requests = 50
	results := make([]credits.DebitResult, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, err := f.svc.Debit(context.Background(), "u1", credits.DebitRequest{Amount: 7}, idem)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	for _, r := range results[1:] {
		if fmt.Sprint(r) != fmt.Sprint(results[0]) {
			t.Fatalf("answers differ: %+v and %+v", r, results[0])
		}
	}
	f.wantAccount("u1", 93, 93)
}

// testRandomOperations runs random sequences of grants, purchases, refunds,
// debits, holds, captures, releases and clock moves (some concurrent), and
// checks after each step that the invariants hold and that available never
// went below zero but by a refund's debt.
func testRandomOperations(t *testing.T, open Opener) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, open)
			rng := rand.New(rand.NewPCG(seed, 42))
			accounts := []string{"a", "b"}
			for _, id := range accounts {
				f.account(id, id+"@example.com")
			}
			f.pack("starter", 100, "")
			type payment struct {
				pi             string
				paid, refunded int64
			}
			var payments []*payment
			var holds []string
			stepsInDebt := 0
			defer func() { t.Logf("%d of 300 account checks found a debt", stepsInDebt) }()
			for step := range 150 {
				id := accounts[rng.IntN(len(accounts))]
				before := f.accountNow(id)
				switch op := rng.IntN(9); op {
				case 7:
					n := 1 + rng.Int64N(2)
					p := &payment{pi: fmt.Sprintf("pi_%d", step), paid: 500 * n}
					f.buy(fmt.Sprintf("cs_%d", step), id, p.pi, n)
					payments = append(payments, p)
				case 8:
					if len(payments) == 0 {
						continue
					}
					p := payments[rng.IntN(len(payments))]
					p.refunded = min(p.paid, p.refunded+1+rng.Int64N(p.paid))
					f.receive(testkit.ChargeRefunded(fmt.Sprintf("evt_refund_%d", step), "ch_"+p.pi, p.pi, p.paid, p.refunded))
				case 0:
					f.grant(id, 1+rng.Int64N(50), time.Duration(rng.IntN(3))*time.Hour, rng.Int64N(3))
				case 1:
					amount := 1 + rng.Int64N(40)
					_, err := f.debit(id, amount)
					checkDebit(t, step, before, amount, err)
				case 2:
					amount := 1 + rng.Int64N(30)
					h, _, err := f.svc.CreateHold(context.Background(), id, credits.HoldRequest{Amount: amount, ExpiresInSeconds: 1 + rng.Int64N(7200)}, nil)
					checkDebit(t, step, before, amount, err)
					if err == nil {
						holds = append(holds, h.ID)
					}
				case 3, 4:
					if len(holds) == 0 {
						continue
					}
					h := holds[rng.IntN(len(holds))]
					var err error
					if op == 3 {
						_, err = f.svc.CaptureHold(context.Background(), h, captureAmount(rng.Int64N(5)))
					} else {
						_, err = f.svc.ReleaseHold(context.Background(), h)
					}
					if code := credits.ErrorCode(err); err != nil && code != credits.ECONFLICT && code != credits.EINVALID {
						t.Fatalf("step %d: %v", step, err)
					}
				case 5:
					f.now = f.now.Add(time.Duration(rng.IntN(90)) * time.Minute)
				case 6:
					concurrentDebits(t, f, id, 1+rng.IntN(10), 1+rng.Int64N(10))
				}
				for _, id := range accounts {
					a := f.accountNow(id)
					if a.Debt == 0 && (a.Available < 0 || a.Balance < 0) {
						t.Fatalf("step %d: account %s went below zero without a refund's debt: %+v", step, id, a)
					}
					if a.Debt > 0 {
						stepsInDebt++
					}
				}
				f.verify()
				if t.Failed() {
					t.FailNow()
				}
			}
		})
	}
}

// checkDebit checks that an operation that takes amount succeeded exactly when
// the credits were available.
func checkDebit(t *testing.T, step int, before credits.Account, amount int64, err error) {
	t.Helper()
	switch code := credits.ErrorCode(err); {
	case err == nil:
	case before.Debt > 0 && code != credits.EINDEBT:
		t.Fatalf("step %d: in debt %d: %v, want account_in_debt", step, before.Debt, err)
	case before.Debt == 0 && code != credits.EINSUFFICIENT:
		t.Fatalf("step %d: %v", step, err)
	}
	if (err == nil) != (amount <= before.Available) {
		t.Fatalf("step %d: taking %d with %d available answered %v", step, amount, before.Available, err)
	}
}

func concurrentDebits(t *testing.T, f *fixture, id string, n int, amount int64) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := f.svc.Debit(context.Background(), id, credits.DebitRequest{Amount: amount}, nil)
			if code := credits.ErrorCode(err); err != nil && code != credits.EINSUFFICIENT && code != credits.EINDEBT {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// captureAmount is what CaptureHold takes: nil (all) for 0.
func captureAmount(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

// testTakeFromLots checks AddEntryTakingFromLots against what
// SpendableLots lists, in a write confined to the account (UpdateAccount:
// PostgreSQL reads the lots with the lock it sends ahead) and in a plain
// Update: it takes in burn-down order, never from an expired lot or reserved
// credits, marks a lot left with nothing unreserved as spent, records each
// draw against the entry, and adds the entry with the balance it was given.
func testTakeFromLots(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	first := f.grant("u1", 10, time.Hour, 0) // expires first: drawn first
	second := f.grant("u1", 50, 0, 0)
	f.hold("u1", 4, 30*time.Minute) // reserves 4 of the first lot
	errUndo := errors.New("undo")
	tests := []struct {
		name   string
		at     time.Time
		amount int64
		draws  []credits.LotAmount
		// wantLots is SpendableLots afterwards, as lot:remaining/reserved
		wantLots string
	}{
		{"fits in the first lot", f.now, 5, []credits.LotAmount{{LotID: first.LotID, Amount: 5}}, fmt.Sprintf("[%d:5/4 %d:50/0]", first.LotID, second.LotID)},
		{"all the first lot has unreserved", f.now, 6, []credits.LotAmount{{LotID: first.LotID, Amount: 6}}, fmt.Sprintf("[%d:50/0]", second.LotID)},
		{"more than the first lot has unreserved", f.now, 7, []credits.LotAmount{{LotID: first.LotID, Amount: 6}, {LotID: second.LotID, Amount: 1}}, fmt.Sprintf("[%d:49/0]", second.LotID)},
		{"the first lot has expired", f.now.Add(2 * time.Hour), 7, []credits.LotAmount{{LotID: second.LotID, Amount: 7}}, fmt.Sprintf("[%d:43/0]", second.LotID)},
	}
	for _, tt := range tests {
		for _, confined := range []bool{false, true} {
			name := tt.name
			update := func(fn func(credits.Tx) error) error { return f.db.Update(context.Background(), fn) }
			if confined {
				name += " (UpdateAccount)"
				update = func(fn func(credits.Tx) error) error {
					return f.db.UpdateAccount(context.Background(), credits.AccountWrite{AccountID: "u1", Now: tt.at}, fn)
				}
			}
			t.Run(name, func(t *testing.T) {
				err := update(func(tx credits.Tx) error {
					locked, err := tx.LockAccount("u1")
					if err != nil {
						return err
					}
					balance := locked.Account().Balance - tt.amount
					entryID, draws, err := locked.AddEntryTakingFromLots(credits.Entry{Amount: -tt.amount, Kind: credits.EntryDebit,
						Reference: "test", BalanceAfter: balance, CreatedAt: tt.at})
					if err != nil {
						return err
					}
					if got, want := fmt.Sprint(draws), fmt.Sprint(tt.draws); got != want {
						t.Errorf("AddEntryTakingFromLots(%d) drew %s, want %s", tt.amount, got, want)
					}
					entries, err := tx.Entries("u1", 0, 1)
					if err != nil {
						return err
					}
					if len(entries) != 1 || entries[0].ID != entryID || entries[0].BalanceAfter != balance {
						t.Errorf("latest entry %+v, want id %d with balance %d", entries, entryID, balance)
					}
					recorded, err := tx.EntryDraws(entryID)
					if err != nil {
						return err
					}
					if got, want := fmt.Sprint(recorded), fmt.Sprint(tt.draws); got != want {
						t.Errorf("draws of the entry = %s, want %s", got, want)
					}
					lots, err := locked.SpendableLots(tt.at, 10)
					if err != nil {
						return err
					}
					var got []string
					for _, l := range lots {
						got = append(got, fmt.Sprintf("%d:%d/%d", l.ID, l.Remaining, l.Reserved))
					}
					if fmt.Sprint(got) != tt.wantLots {
						t.Errorf("spendable lots after = %v, want %s", got, tt.wantLots)
					}
					return errUndo
				})
				if !errors.Is(err, errUndo) {
					t.Fatal(err)
				}
			})
		}
	}
}

// testLockAhead: in a write confined to one account (UpdateAccount, whose
// account's lock PostgreSQL sends ahead with the next statement),
// LockAccount answers with the account as it is, whether a statement went
// out before it or not; an account that does not exist is not found. (The
// 1,000-way debit race, half with idempotency keys, checks that the lock
// sent ahead keeps writers apart.)
func testLockAhead(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.account("u2", "u2@example.com")
	f.grant("u1", 10, 0, 0)
	f.grant("u2", 20, 0, 0)
	tests := []struct {
		name      string
		account   string
		statement bool   // a statement runs before LockAccount
		want      string // the locked account's id and balance, or the error
	}{
		{"answered with the next statement", "u1", true, "u1 10"},
		{"not yet answered", "u1", false, "u1 10"},
		{"another account", "u2", true, "u2 20"},
		{"no such account", "nobody", true, credits.ErrNotFound.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			err := f.db.UpdateAccount(context.Background(), credits.AccountWrite{AccountID: tt.account, Now: f.now}, func(tx credits.Tx) error {
				if tt.statement {
					if _, err := tx.IdempotencyRecord("k/u1", "never-used"); !errors.Is(err, credits.ErrNotFound) {
						return fmt.Errorf("lookup with the lock: %v", err)
					}
				}
				locked, err := tx.LockAccount(tt.account)
				switch {
				case errors.Is(err, credits.ErrNotFound):
					got = credits.ErrNotFound.Error()
					return nil
				case err != nil:
					return err
				}
				got = fmt.Sprint(locked.Account().ID, " ", locked.Account().Balance)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("LockAccount(%s) = %s, want %s", tt.account, got, tt.want)
			}
		})
	}
	t.Run("what is read with the lock follows the transaction's writes", func(t *testing.T) {
		errUndo := errors.New("undo")
		err := f.db.UpdateAccount(context.Background(), credits.AccountWrite{AccountID: "u1", Now: f.now}, func(tx credits.Tx) error {
			if _, err := tx.IdempotencyRecord("k/u1", "never-used"); !errors.Is(err, credits.ErrNotFound) {
				return fmt.Errorf("lookup with the lock: %v", err)
			}
			locked, err := tx.LockAccount("u1")
			if err != nil {
				return err
			}
			spendable := func() string {
				lots, err := locked.SpendableLots(f.now, 10)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, l := range lots {
					out = append(out, fmt.Sprintf("%d/%d", l.Remaining, l.Reserved))
				}
				return fmt.Sprint(out)
			}
			if got, want := spendable(), "[10/0]"; got != want {
				t.Errorf("spendable lots before = %s, want %s", got, want)
			}
			first, draws, err := locked.AddEntryTakingFromLots(credits.Entry{Amount: -3, Kind: credits.EntryDebit, Reference: "a", BalanceAfter: 7, CreatedAt: f.now})
			if err != nil || len(draws) != 1 {
				return fmt.Errorf("draw: %v, %v", draws, err)
			}
			if got, want := spendable(), "[7/0]"; got != want {
				t.Errorf("spendable lots after the draw = %s, want %s", got, want)
			}
			second, err := locked.AddEntry(credits.Entry{Amount: 0, Kind: credits.EntryAdjustment, Reference: "b", BalanceAfter: 7, CreatedAt: f.now})
			if err != nil {
				return err
			}
			entries, err := tx.Entries("u1", 0, 3)
			if err != nil {
				return err
			}
			var got []string
			for _, e := range entries {
				got = append(got, fmt.Sprint(e.Reference, " ", e.BalanceAfter))
			}
			if want := "[b 7 a 7 lot_1 10]"; fmt.Sprint(got) != want || second <= first || entries[0].ID != second || entries[1].ID != first {
				t.Errorf("ledger = %v (ids %d then %d), want %s, newest first, ids rising", got, first, second, want)
			}
			return errUndo
		})
		if !errors.Is(err, errUndo) {
			t.Fatal(err)
		}
	})
}
