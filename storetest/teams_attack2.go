package storetest

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// teamAttack2Tests are a second attack pass on transfers and members.
var teamAttack2Tests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"TeamAttackRefundInPiecesAfterRandomTransfers", testAttackRefundInPiecesAfterRandomTransfers},
	{"TeamAttackTransferReplaysAtOnce", testAttackTransferReplaysAtOnce},
	{"TeamAttackTransfersAmongMemberSpends", testAttackTransfersAmongMemberSpends},
	{"TeamAttackPartGivenBackWhereTakenLast", testAttackPartGivenBackWhereTakenLast},
}

// testAttackPartGivenBackWhereTakenLast: a dispute lost takes back all of
// a payment (its own lot's 10, then the 60 it moved to b, which b half
// spent, then 30 of a's debt); a refund of half arrives, then the dispute
// is won: half comes back, last taken first (a's debt, then b's debt), and
// both accounts stand as after a refund of half alone. The payer's account
// sorts first here: PostgreSQL took its entry's id with its lock, before
// b's entries, and the give-back read a's debt as taken before b's credits:
// it gave b 30 credits back and left a 30 in debt.
func testAttackPartGivenBackWhereTakenLast(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("a", "a@example.com")
	f.account("b", "b@example.com")
	f.buy("cs_1", "a", "pi_1", 1)
	if _, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 60}, ""); err != nil {
		t.Fatal(err)
	}
	for _, spend := range []struct {
		account string
		amount  int64
	}{{"b", 20}, {"a", 30}} {
		if _, err := f.debit(spend.account, spend.amount); err != nil {
			t.Fatal(err)
		}
	}
	f.receive(testkit.Dispute("evt_d1", credits.EventDisputeFundsWithdrawn, "du_1", "pi_1", 500, "needs_response"))
	f.wantDebt("a", -30, -30, 30)
	f.wantDebt("b", -20, -20, 20)
	f.receive(testkit.ChargeRefunded("evt_r1", "ch_1", "pi_1", 500, 250))
	f.receive(testkit.Dispute("evt_d2", credits.EventDisputeFundsReinstated, "du_1", "pi_1", 500, "won"))
	// A refund of half alone takes a's 10, then 40 of b's lot.
	f.wantDebt("a", 0, 0, 0)
	f.wantDebt("b", 0, 0, 0)
}

// testAttackTransfersAmongMemberSpends: transfers both ways between two
// accounts run at once with debits and holds of each account's capped
// member (grouped writes on PostgreSQL) and captures: none fails but for
// the credits or the cap, no credit is made or lost, and each member ends
// within its cap (the fixture verifies the rest).
func testAttackTransfersAmongMemberSpends(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := context.Background()
	f.pack("starter", 100, "")
	for _, id := range []string{"a", "b"} {
		f.account(id, id+"@example.com")
		f.member(id, "m", &credits.MemberCap{Credits: 150, Period: credits.PeriodDay})
	}
	f.buy("cs_1", "a", "pi_1", 5)
	f.buy("cs_2", "b", "pi_2", 5)
	var wg sync.WaitGroup
	var spent atomic.Int64
	errs := make(chan error, 200)
	expected := func(err error) bool {
		code := credits.ErrorCode(err)
		return err == nil || code == credits.EINSUFFICIENT || code == credits.EMEMBERCAP
	}
	for i := range 96 {
		x, y := "a", "b"
		if i%2 == 1 {
			x, y = y, x
		}
		wg.Go(func() {
			switch i % 6 {
			case 0, 1:
				if _, _, err := f.svc.Transfer(ctx, credits.TransferRequest{From: x, To: y, Credits: 7}, nil); !expected(err) {
					errs <- fmt.Errorf("transfer: %w", err)
				}
			case 2, 3:
				_, _, err := f.svc.Debit(ctx, x, credits.DebitRequest{Amount: 9, MemberID: "m"}, nil)
				if !expected(err) {
					errs <- fmt.Errorf("debit: %w", err)
				} else if err == nil {
					spent.Add(9)
				}
			default:
				h, _, err := f.svc.CreateHold(ctx, x, credits.HoldRequest{Amount: 11, ExpiresInSeconds: 600, MemberID: "m"}, nil)
				if !expected(err) {
					errs <- fmt.Errorf("hold: %w", err)
				} else if err == nil {
					n := int64(5)
					if _, err := f.svc.CaptureHold(ctx, h.ID, &n); err != nil {
						errs <- fmt.Errorf("capture: %w", err)
					} else {
						spent.Add(5)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	a, b := f.accountNow("a"), f.accountNow("b")
	if a.Balance+b.Balance != 1000-spent.Load() {
		t.Errorf("balances %d + %d after spending %d of 1000", a.Balance, b.Balance, spent.Load())
	}
	for _, id := range []string{"a", "b"} {
		m, err := f.svc.GetMember(ctx, id, "m")
		if err != nil || m.Spent+m.Held > 150 {
			t.Errorf("member m of %s: spent %d held %d over its cap of 150 (%v)", id, m.Spent, m.Held, err)
		}
	}
}

// testAttackTransferReplaysAtOnce: one Idempotency-Key sent at once by many
// clients, some with another body, moves the credits once: every answer with
// the first body is that transfer, every other body is refused.
func testAttackTransferReplaysAtOnce(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("a", "a@example.com")
	f.account("b", "b@example.com")
	f.buy("cs_1", "a", "pi_1", 10)
	req := credits.TransferRequest{From: "a", To: "b", Credits: 100}
	other := credits.TransferRequest{From: "a", To: "b", Credits: 300}
	type answer struct {
		req credits.TransferRequest
		id  string
		err error
	}
	var wg sync.WaitGroup
	answers := make(chan answer, 16)
	for i := range 16 {
		wg.Go(func() {
			r := req
			if i%4 == 3 {
				r = other
			}
			tr, _, err := f.transfer(r, "same")
			answers <- answer{r, tr.ID, err}
		})
	}
	wg.Wait()
	close(answers)
	moved := map[credits.TransferRequest]string{}
	for a := range answers {
		switch {
		case a.err == nil:
			if id, ok := moved[a.req]; ok && id != a.id {
				t.Errorf("two transfers with one key: %s and %s", id, a.id)
			}
			moved[a.req] = a.id
		case credits.ErrorCode(a.err) != credits.EIDEMPOTENCY:
			t.Errorf("transfer %+v: %v", a.req, a.err)
		}
	}
	if len(moved) != 1 {
		t.Errorf("one key answered %d bodies with a transfer, want 1: %v", len(moved), moved)
	}
	a, b := f.accountNow("a"), f.accountNow("b")
	if b.Balance != 100 && b.Balance != 300 || a.Balance+b.Balance != 1000 {
		t.Errorf("balances a %d, b %d after one transfer", a.Balance, b.Balance)
	}
}

// teamWorld runs one seed's random transfers, debits and holds between
// three accounts, two of them payers, then the Stripe events given, and
// returns each account's balance, available credits and debt.
func teamWorld(t *testing.T, open Opener, seed int64, expiring bool, events [][]byte) map[string][3]int64 {
	f := newFixture(t, open)
	ctx := context.Background()
	f.pack("starter", 100, "")
	ids := []string{"a", "b", "c"}
	for _, id := range ids {
		f.account(id, id+"@example.com")
	}
	var expires time.Time
	if expiring {
		f.expiringPack()
		expires = f.buyExpiring("cs_1", "a", "pi_1")
		f.buy("cs_3", "a", "pi_3", 1)
	} else {
		f.buy("cs_1", "a", "pi_1", 2)
	}
	f.buy("cs_2", "b", "pi_2", 1)
	f.grant("c", 50, 0, 0)
	for _, id := range ids {
		f.member(id, "m", &credits.MemberCap{Credits: 60, Period: credits.PeriodDay})
	}
	rng := rand.New(rand.NewSource(seed))
	var holds []string
	for i := range 40 {
		if expiring && i == 30 {
			f.pastExpiry(expires)
		}
		x, y := ids[rng.Intn(3)], ids[rng.Intn(3)]
		switch op := rng.Intn(10); {
		case op < 5 && x != y:
			_, _, err := f.svc.Transfer(ctx, credits.TransferRequest{From: x, To: y, Credits: 1 + rng.Int63n(80), IncludeGranted: rng.Intn(2) == 0}, nil)
			if code := credits.ErrorCode(err); err != nil && code != credits.EINSUFFICIENT {
				t.Fatal(err)
			}
		case op < 8:
			_, _, err := f.svc.Debit(ctx, x, credits.DebitRequest{Amount: 1 + rng.Int63n(40), MemberID: []string{"", "m"}[rng.Intn(2)]}, nil)
			if code := credits.ErrorCode(err); err != nil && code != credits.EINSUFFICIENT && code != credits.EMEMBERCAP {
				t.Fatal(err)
			}
		case op < 9:
			h, _, err := f.svc.CreateHold(ctx, x, credits.HoldRequest{Amount: 1 + rng.Int63n(30), ExpiresInSeconds: 3600,
				MemberID: []string{"", "m"}[rng.Intn(2)]}, nil)
			if code := credits.ErrorCode(err); err == nil {
				holds = append(holds, h.ID)
			} else if code != credits.EINSUFFICIENT && code != credits.EMEMBERCAP {
				t.Fatal(err)
			}
		default:
			if len(holds) > 0 {
				n := 1 + rng.Int63n(5)
				if _, err := f.svc.CaptureHold(ctx, holds[0], &n); err != nil && credits.ErrorCode(err) != credits.EINVALID && credits.ErrorCode(err) != credits.ECONFLICT {
					t.Fatal(err)
				}
				holds = holds[1:]
			}
		}
		f.now = f.now.Add(time.Duration(rng.Intn(120)) * time.Minute)
	}
	for _, ev := range events {
		if got := f.receive(ev); got.Status != credits.EventProcessed {
			t.Fatalf("event: %+v", got)
		}
	}
	out := map[string][3]int64{}
	for _, id := range ids {
		a := f.accountNow(id)
		out[id] = [3]int64{a.Balance, a.Available, a.Debt}
	}
	return out
}

// testAttackRefundInPiecesAfterRandomTransfers: after random transfers,
// debits and holds between accounts, a refund in pieces ends at the same
// balances as one full refund, as does a partial refund, a dispute lost then
// won, and the rest refunded; a dispute lost then won ends where no dispute
// was, also with a half refund between.
func testAttackRefundInPiecesAfterRandomTransfers(t *testing.T, open Opener) {
	// 6 seeds, each seven worlds: 40 took 36 s of PostgreSQL's package
	// under -race. The ordering bug they found fails 4 of these 6;
	// TeamAttackPartGivenBackWhereTakenLast holds it deterministically.
	for seed := range int64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			expiring := seed%2 == 1
			cents := int64(1000)
			if expiring {
				cents = 500
			}
			full := teamWorld(t, open, seed, expiring, [][]byte{testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", cents, cents)})
			pieces := teamWorld(t, open, seed, expiring, [][]byte{testkit.ChargeRefunded("evt_r1", "ch_1", "pi_1", cents, cents*3/10),
				testkit.ChargeRefunded("evt_r2", "ch_1", "pi_1", cents, cents*65/100), testkit.ChargeRefunded("evt_r3", "ch_1", "pi_1", cents, cents)})
			if fmt.Sprint(full) != fmt.Sprint(pieces) {
				t.Errorf("seed %d: one full refund ends at %v, three pieces at %v", seed, full, pieces)
			}
			none := teamWorld(t, open, seed, expiring, nil)
			lostWon := teamWorld(t, open, seed, expiring, [][]byte{
				testkit.Dispute("evt_d1", credits.EventDisputeFundsWithdrawn, "du_1", "pi_1", cents, "needs_response"),
				testkit.Dispute("evt_d2", credits.EventDisputeFundsReinstated, "du_1", "pi_1", cents, "won")})
			if fmt.Sprint(none) != fmt.Sprint(lostWon) {
				t.Errorf("seed %d: without a dispute %v, after one lost then won %v", seed, none, lostWon)
			}
			mixed := teamWorld(t, open, seed, expiring, [][]byte{testkit.ChargeRefunded("evt_r1", "ch_1", "pi_1", cents, cents*3/10),
				testkit.Dispute("evt_d1", credits.EventDisputeFundsWithdrawn, "du_1", "pi_1", cents, "needs_response"),
				testkit.Dispute("evt_d2", credits.EventDisputeFundsReinstated, "du_1", "pi_1", cents, "won"),
				testkit.ChargeRefunded("evt_r2", "ch_1", "pi_1", cents, cents)})
			if fmt.Sprint(full) != fmt.Sprint(mixed) {
				t.Errorf("seed %d: one full refund ends at %v; a partial refund, a dispute lost then won, and the rest refunded at %v", seed, full, mixed)
			}
			half := teamWorld(t, open, seed, expiring, [][]byte{testkit.ChargeRefunded("evt_r1", "ch_1", "pi_1", cents, cents/2)})
			halfDisputed := teamWorld(t, open, seed, expiring, [][]byte{
				testkit.Dispute("evt_d1", credits.EventDisputeFundsWithdrawn, "du_1", "pi_1", cents, "needs_response"),
				testkit.ChargeRefunded("evt_r1", "ch_1", "pi_1", cents, cents/2),
				testkit.Dispute("evt_d2", credits.EventDisputeFundsReinstated, "du_1", "pi_1", cents, "won")})
			if fmt.Sprint(half) != fmt.Sprint(halfDisputed) {
				t.Errorf("seed %d: half refunded ends at %v; disputed, half refunded, then won at %v", seed, half, halfDisputed)
			}
		})
	}
}
