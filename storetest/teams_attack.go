package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// teamAttackTests are the members' and transfers' behaviours an attack
// pass found wanting, or checked.
var teamAttackTests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"TeamAttackExpiredMovedCreditsAreNotTakenBack", testAttackExpiredMovedCreditsNotTakenBack},
	{"TeamAttackHoldAcrossPeriods", testAttackHoldAcrossPeriods},
	{"TeamAttackTransferRefusals", testAttackTransferRefusals},
	{"TeamAttackDisputeWonGivesBackWhereTaken", testAttackDisputeWonGivesBackWhereTaken},
	{"TeamAttackRefundTakesCreditsMovedBack", testAttackRefundTakesCreditsMovedBack},
	{"TeamAttackCapUnderClosingHolds", testAttackCapUnderClosingHolds},
	{"TeamAttackStripeOrdersAfterTransfer", testAttackStripeOrdersAfterTransfer},
	{"TeamAttackMemberDeletedWithHolds", testAttackMemberDeletedWithHolds},
	{"TeamAttackRefundWhileTransfersRun", testAttackRefundWhileTransfersRun},
}

// testAttackExpiredMovedCreditsNotTakenBack: credits that expired after
// they moved left the ledger on their date, as they would have in the
// payment's account: a later refund takes them back from nobody (without
// the transfer the refund takes 40 and a's debt is 40; with it, the same).
func testAttackExpiredMovedCreditsNotTakenBack(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.expiringPack()
	f.account("a", "a@example.com")
	f.account("b", "b@example.com")
	expires := f.buyExpiring("cs_1", "a", "pi_1")
	if _, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 60}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.debit("a", 40); err != nil {
		t.Fatal(err)
	}
	f.grant("b", 30, 0, 0)
	f.pastExpiry(expires)
	f.wantDebt("b", 30, 30, 0)
	if ev := f.receive(fullRefund("evt_r")); ev.Status != credits.EventProcessed {
		t.Fatalf("refund: %+v", ev)
	}
	f.wantDebt("a", -40, -40, 40) // what a spent of its own 40
	f.wantDebt("b", 30, 30, 0)    // b spent none of the 60: they expired
}

// testAttackHoldAcrossPeriods: a hold made as a member in one day and
// captured (or left to expire) in the next counts in the day it was made:
// the next day's allowance is whole, and the share a release gives back goes
// to the day that held it.
func testAttackHoldAcrossPeriods(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("team", "team@example.com")
	f.grant("team", 1000, 0, 0)
	f.member("team", "ann", &credits.MemberCap{Credits: 10, Period: credits.PeriodDay})
	day := f.now.UTC().Truncate(24 * time.Hour)
	f.now = day.Add(23 * time.Hour)
	captured, err := f.memberHold("team", "ann", 6, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expiring, err := f.memberHold("team", "ann", 4, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "past the day's cap", f.memberDebit("team", "ann", 1), credits.EMEMBERCAP)
	f.now = day.Add(24*time.Hour + 30*time.Minute) // the next day
	f.wantMember("team", "ann", 0, 0, 10)
	amount := int64(5)
	if _, err := f.svc.CaptureHold(context.Background(), captured.ID, &amount); err != nil {
		t.Fatal(err)
	}
	f.wantMember("team", "ann", 0, 0, 10)
	if err := f.memberDebit("team", "ann", 10); err != nil {
		t.Fatal(err)
	}
	f.now = day.Add(26 * time.Hour) // the second hold expired
	if _, err := f.svc.SweepExpired(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h, err := f.svc.GetHold(context.Background(), expiring.ID); err != nil || h.Status != credits.HoldExpired {
		t.Fatalf("hold %+v, %v; want expired", h, err)
	}
	f.wantMember("team", "ann", 10, 0, 0)
	f.now = day.Add(23 * time.Hour)
	f.wantMember("team", "ann", 5, 0, 5) // the first day: 5 captured, the rest given back
}

// testAttackTransferRefusals: a transfer that cannot be made moves nothing:
// held credits, expired ones, granted ones (unless asked), a sender in
// debt, an unknown account.
func testAttackTransferRefusals(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("a", "a@example.com")
	f.account("b", "b@example.com")
	f.buy("cs_1", "a", "pi_1", 1)
	f.grant("a", 50, time.Hour, 0)
	if _, err := f.memberHold("a", "", 70, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		req  credits.TransferRequest
		code string
	}{
		{"held credits", credits.TransferRequest{From: "a", To: "b", Credits: 81}, credits.EINSUFFICIENT},
		{"granted credits", credits.TransferRequest{From: "a", To: "b", Credits: 31, IncludeGranted: true}, ""},
		{"unknown receiver", credits.TransferRequest{From: "a", To: "nobody", Credits: 1}, credits.ENOTFOUND},
		{"unknown sender", credits.TransferRequest{From: "nobody", To: "a", Credits: 1}, credits.ENOTFOUND},
		{"to itself", credits.TransferRequest{From: "a", To: "a", Credits: 1}, credits.EINVALID},
		{"zero", credits.TransferRequest{From: "a", To: "b", Credits: 0}, credits.EINVALID},
		{"negative", credits.TransferRequest{From: "a", To: "b", Credits: -5}, credits.EINVALID},
	} {
		_, _, err := f.transfer(c.req, "")
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.what, err)
			}
			continue
		}
		wantCode(t, c.what, err, c.code)
	}
	f.wantAccount("a", 119, 49) // 31 moved, 70 held
	f.wantAccount("b", 31, 31)
	f.now = f.now.Add(2 * time.Hour) // the grant and the hold expired
	if _, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 69, IncludeGranted: true}, ""); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "expired grant", func() error {
		_, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 1, IncludeGranted: true}, "")
		return err
	}(), credits.EINSUFFICIENT)
	f.wantAccount("a", 0, 0)
	f.wantAccount("b", 100, 100)
}

// testAttackDisputeWonGivesBackWhereTaken: a dispute lost, then won (or a
// refund that failed), gives the credits back to the accounts the take-back
// took them from: the receiver that spent moved credits is out of debt
// again, and the payer gets back only what was taken from it. Duplicated
// events change nothing more.
func testAttackDisputeWonGivesBackWhereTaken(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	for _, id := range []string{"a", "b", "c"} {
		f.account(id, id+"@example.com")
	}
	f.buy("cs_1", "a", "pi_1", 1)
	for _, tr := range []credits.TransferRequest{{From: "a", To: "b", Credits: 70}, {From: "b", To: "c", Credits: 20}} {
		if _, _, err := f.transfer(tr, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.debit("b", 50); err != nil {
		t.Fatal(err)
	}
	if _, err := f.debit("c", 5); err != nil {
		t.Fatal(err)
	}
	withdrawn := testkit.Dispute("evt_d1", credits.EventDisputeFundsWithdrawn, "du_1", "pi_1", 500, "needs_response")
	won := testkit.Dispute("evt_d2", credits.EventDisputeFundsReinstated, "du_1", "pi_1", 500, "won")
	for _, ev := range [][]byte{withdrawn, withdrawn} {
		f.receive(ev)
	}
	f.wantDebt("a", 0, 0, 0)
	f.wantDebt("b", -50, -50, 50)
	f.wantDebt("c", -5, -5, 5)
	for _, ev := range [][]byte{won, won, withdrawn} {
		f.receive(ev)
	}
	f.wantDebt("a", 30, 30, 0)
	f.wantDebt("b", 0, 0, 0)
	f.wantDebt("c", 15, 15, 0)
}

// testAttackRefundTakesCreditsMovedBack: credits that moved away and back
// are the payment's credits in its own account: a refund takes them, not
// another purchase's (here one that expires, which would have left the
// account non-expiring credits in place of expiring ones).
func testAttackRefundTakesCreditsMovedBack(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.expiringPack()
	f.account("a", "a@example.com")
	f.account("b", "b@example.com")
	f.buy("cs_1", "a", "pi_1", 1)
	if _, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 100}, ""); err != nil {
		t.Fatal(err)
	}
	expires := f.buyExpiring("cs_2", "a", "pi_2")
	if _, _, err := f.transfer(credits.TransferRequest{From: "b", To: "a", Credits: 100}, ""); err != nil {
		t.Fatal(err)
	}
	if ev := f.receive(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 500, 500)); ev.Status != credits.EventProcessed {
		t.Fatalf("refund: %+v", ev)
	}
	if lot := f.ownLot("a", "cs_2"); lot.Remaining != 100 {
		t.Errorf("the lot of cs_2 holds %d, want its 100: the refund of cs_1 took another purchase's credits", lot.Remaining)
	}
	f.wantDebt("b", 0, 0, 0)
	f.pastExpiry(expires)
	f.wantDebt("a", 0, 0, 0)
}

// testAttackCapUnderClosingHolds: captures (smaller than their holds) and
// releases racing with new debits of the same member: what they give back
// may be spent again, never more than the cap.
func testAttackCapUnderClosingHolds(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := context.Background()
	f.account("team", "team@example.com")
	f.grant("team", 1000, 0, 0)
	f.member("team", "ann", &credits.MemberCap{Credits: 50, Period: credits.PeriodDay})
	var holds []credits.Hold
	for range 10 {
		h, err := f.memberHold("team", "ann", 5, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		holds = append(holds, h)
	}
	var wg sync.WaitGroup
	var debited atomic.Int64
	errs := make(chan error, 60)
	for i, h := range holds {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				three := int64(3)
				_, err = f.svc.CaptureHold(ctx, h.ID, &three)
			} else {
				_, err = f.svc.ReleaseHold(ctx, h.ID)
			}
			errs <- err
		})
	}
	for range 40 {
		wg.Go(func() {
			_, _, err := f.svc.Debit(ctx, "team", credits.DebitRequest{Amount: 1, MemberID: "ann"}, nil)
			if err == nil {
				debited.Add(1)
			} else if credits.ErrorCode(err) != credits.EMEMBERCAP {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	v, err := f.svc.GetMember(ctx, "team", "ann")
	if err != nil {
		t.Fatal(err)
	}
	if v.Held != 0 || v.Spent != 15+debited.Load() || v.Spent > 50 {
		t.Errorf("ann spent %d and holds %d; want 15 captured and %d debited, at most 50", v.Spent, v.Held, debited.Load())
	}
	f.wantAccount("team", 1000-v.Spent, 1000-v.Spent)
}

// testAttackStripeOrdersAfterTransfer: refunds and disputes in any order,
// duplicated, end with the credits of a payment whose credits partly moved
// (and were partly spent where they went) where they end without the
// transfer: the two accounts' balances and debts sum to the payer's alone.
func testAttackStripeOrdersAfterTransfer(t *testing.T, open Opener) {
	withdrawn := testkit.Dispute("evt_d1", credits.EventDisputeFundsWithdrawn, "du_1", "pi_1", 500, "needs_response")
	won := testkit.Dispute("evt_d2", credits.EventDisputeFundsReinstated, "du_1", "pi_1", 500, "won")
	half := testkit.ChargeRefunded("evt_r1", "ch_1", "pi_1", 500, 250)
	full := testkit.ChargeRefunded("evt_r2", "ch_1", "pi_1", 500, 500)
	for i, events := range [][][]byte{
		{half, half, full},
		{withdrawn, withdrawn, won, won},
		{half, withdrawn, won, full},
		{withdrawn, half, won, half},
		{full, half, full},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			end := func(moved bool) (balance, debt int64) {
				f := newFixture(t, open)
				f.pack("starter", 100, "")
				f.account("a", "a@example.com")
				f.account("b", "b@example.com")
				f.buy("cs_1", "a", "pi_1", 1)
				spender := "a"
				if moved {
					if _, _, err := f.transfer(credits.TransferRequest{From: "a", To: "b", Credits: 70}, ""); err != nil {
						t.Fatal(err)
					}
					spender = "b"
				}
				if _, err := f.debit(spender, 40); err != nil {
					t.Fatal(err)
				}
				for _, ev := range events {
					f.receive(ev)
				}
				for _, id := range []string{"a", "b"} {
					a := f.accountNow(id)
					balance, debt = balance+a.Balance, debt+a.Debt
				}
				return balance, debt
			}
			wantBalance, wantDebt := end(false)
			if balance, debt := end(true); balance != wantBalance || debt != wantDebt {
				t.Errorf("after a transfer: balances sum to %d, debts to %d; without: %d and %d", balance, debt, wantBalance, wantDebt)
			}
		})
	}
}

// testAttackMemberDeletedWithHolds: a member deleted while it holds credits
// spends no more, but its holds still close (captured or expired) and count
// in its period; brought back in the same period, it finds what it spent.
func testAttackMemberDeletedWithHolds(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := context.Background()
	f.account("team", "team@example.com")
	f.grant("team", 100, 0, 0)
	f.member("team", "ann", &credits.MemberCap{Credits: 20, Period: credits.PeriodMonth})
	captured, err := f.memberHold("team", "ann", 8, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.memberHold("team", "ann", 7, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteMember(ctx, "team", "ann"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a deleted member's debit", f.memberDebit("team", "ann", 1), credits.ENOTFOUND)
	_, err = f.memberHold("team", "ann", 1, time.Hour)
	wantCode(t, "a deleted member's hold", err, credits.ENOTFOUND)
	if _, err := f.svc.CaptureHold(ctx, captured.ID, nil); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(2 * time.Hour) // the other hold expires
	if _, err := f.svc.SweepExpired(ctx); err != nil {
		t.Fatal(err)
	}
	f.member("team", "ann", &credits.MemberCap{Credits: 20, Period: credits.PeriodMonth})
	f.wantMember("team", "ann", 8, 0, 12)
	wantCode(t, "past the cap after coming back", f.memberDebit("team", "ann", 13), credits.EMEMBERCAP)
	f.wantAccount("team", 92, 92)
}

// testAttackRefundWhileTransfersRun: a refund that takes back from the
// account its credits moved to locks the payer, then the receiver; the
// transfers between them running at once lock them by id, the receiver
// first here: each waits for the other (or a deadlock is retried), none
// fails, and what ends is consistent (the fixture verifies).
func testAttackRefundWhileTransfersRun(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := context.Background()
	f.pack("starter", 100, "")
	f.account("z", "z@example.com") // the payer, locked after "a" by id
	f.account("a", "a@example.com")
	f.buy("cs_1", "z", "pi_1", 10)
	if _, _, err := f.transfer(credits.TransferRequest{From: "z", To: "a", Credits: 600}, ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 16 {
		wg.Go(func() {
			req := credits.TransferRequest{From: "a", To: "z", Credits: 10}
			if i%2 == 1 {
				req.From, req.To = "z", "a"
			}
			_, _, err := f.svc.Transfer(ctx, req, nil)
			if code := credits.ErrorCode(err); err != nil && code != credits.EINSUFFICIENT && code != credits.EINDEBT {
				errs <- fmt.Errorf("transfer %s to %s: %w", req.From, req.To, err)
			}
		})
	}
	wg.Go(func() {
		ev, err := f.svc.HandleEvent(ctx, testkit.MustEvent(t, testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 5000, 5000)))
		if err != nil || ev.Status != credits.EventProcessed {
			errs <- fmt.Errorf("refund: %+v, %v", ev, err)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	z, a := f.accountNow("z"), f.accountNow("a")
	if z.Balance+a.Balance != 0 {
		t.Errorf("balances %d and %d after a full refund of all their credits, want a sum of 0", z.Balance, a.Balance)
	}
}
