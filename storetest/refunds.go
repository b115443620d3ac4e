package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// buy credits a paid session of n starter packs (100 credits, $5 each),
// paid with payment intent pi.
func (f *fixture) buy(sessionID, accountID, pi string, n int64) {
	f.t.Helper()
	f.session(sessionID, accountID, "starter", n)
	s := testkit.Session{ID: sessionID, PaymentStatus: "paid", AmountTotal: 500 * n, Currency: "usd", PaymentIntent: pi}
	if ev := f.deliver("evt_buy_"+sessionID, credits.EventCheckoutCompleted, s); ev.Status != credits.EventProcessed || ev.Error != "" {
		f.t.Fatalf("purchase: %+v", ev)
	}
}

func (f *fixture) receive(payload []byte) credits.Event {
	f.t.Helper()
	ev, err := f.svc.HandleEvent(context.Background(), testkit.MustEvent(f.t, payload))
	if err != nil {
		f.t.Fatal(err)
	}
	return ev
}

func (f *fixture) wantDebt(id string, balance, available, debt int64) {
	f.t.Helper()
	a := f.accountNow(id)
	if a.Balance != balance || a.Available != available || a.Debt != debt {
		f.t.Errorf("account %s: balance %d available %d debt %d; want %d, %d, %d", id, a.Balance, a.Available, a.Debt, balance, available, debt)
	}
}

func testRefunds(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.buy("cs_1", "u1", "pi_1", 2) // 200 credits for $10.00

	// A partial refund of $2.50 takes 50 credits; Stripe then sends the total refunded so far.
	if ev := f.receive(testkit.ChargeRefunded("evt_r1", "ch_1", "pi_1", 1000, 250)); ev.Status != credits.EventProcessed {
		t.Fatalf("partial refund: %+v", ev)
	}
	f.wantDebt("u1", 150, 150, 0)
	f.receive(testkit.ChargeRefunded("evt_r1", "ch_1", "pi_1", 1000, 250)) // a redelivery
	if ev := f.receive(testkit.ChargeRefunded("evt_r2", "ch_1", "pi_1", 1000, 250)); ev.Error != "nothing new about charge ch_1" {
		t.Errorf("a second event with the same total: %+v", ev)
	}
	f.wantDebt("u1", 150, 150, 0)
	f.receive(testkit.ChargeRefunded("evt_r3", "ch_1", "pi_1", 1000, 1000))
	f.wantDebt("u1", 0, 0, 0)
	entries, err := f.svc.ListEntries(context.Background(), "u1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if e := entries.Data[0]; e.Kind != credits.EntryRefund || e.Amount != -150 || e.Reference != "ch_1" {
		t.Errorf("newest entry = %+v, want a refund of 150", e)
	}
	// A refund of a payment whose purchase is not known yet waits in the
	// payment, and counts when the purchase lands.
	if ev := f.receive(testkit.ChargeRefunded("evt_r4", "ch_x", "pi_later", 500, 500)); ev.Status != credits.EventProcessed ||
		ev.Error != "recorded; the payment's purchase is not known yet" {
		t.Errorf("refund of a payment not known yet: %+v, want processed and waiting", ev)
	}
	f.buy("cs_later", "u1", "pi_later", 1)
	f.wantDebt("u1", 0, 0, 0)
}

func testRefundAfterSpendingLeavesDebt(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.buy("cs_1", "u1", "pi_1", 1)
	if _, err := f.debit("u1", 80); err != nil {
		t.Fatal(err)
	}
	f.receive(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 500, 500))
	f.wantDebt("u1", -80, -80, 80)
	if _, err := f.debit("u1", 1); credits.ErrorCode(err) != credits.EINDEBT {
		t.Errorf("a debit while in debt: %v, want account_in_debt", err)
	}
	if _, _, err := f.svc.CreateHold(context.Background(), "u1", credits.HoldRequest{Amount: 1}, nil); credits.ErrorCode(err) != credits.EINDEBT {
		t.Errorf("a hold while in debt: %v, want account_in_debt", err)
	}
	// New credits pay the debt back first.
	f.buy("cs_2", "u1", "pi_2", 1)
	f.wantDebt("u1", 20, 20, 0)
	if _, err := f.debit("u1", 20); err != nil {
		t.Errorf("a debit after paying back: %v", err)
	}
}

func testRefundWithAHoldOpen(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.buy("cs_1", "u1", "pi_1", 1)
	h := f.hold("u1", 60, time.Hour)
	f.receive(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 500, 500))
	// All 100 leave the purchase's lot; the hold keeps its 60, unbacked: a
	// capture would take them from other credits, or leave them as debt.
	f.wantDebt("u1", 0, -60, 0)
	f.verify()
	if _, err := f.svc.ReleaseHold(context.Background(), h.ID); err != nil {
		t.Fatal(err)
	}
	f.wantDebt("u1", 0, 0, 0) // released: nothing was spent, nothing is owed
}

// testRefundWithAHoldCaptured: a hold whose credits a refund took is
// captured: what it holds unbacked comes from the account's other credits,
// then as debt.
func testRefundWithAHoldCaptured(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.buy("cs_1", "u1", "pi_1", 1)
	h := f.hold("u1", 60, time.Hour)
	f.receive(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 500, 500))
	f.grant("u1", 50, 0, 0)
	f.wantDebt("u1", 50, -10, 0)
	f.verify()
	if _, err := f.svc.CaptureHold(context.Background(), h.ID, nil); err != nil {
		t.Fatal(err)
	}
	f.wantDebt("u1", -10, -10, 10) // 60 spent of the refunded purchase: 50 of the grant, 10 owed
	f.verify()
	f.buy("cs_2", "u1", "pi_2", 1)
	f.wantDebt("u1", 90, 90, 0)
}

// testRefundFailedDuringAHold: a refund that takes held credits of an
// expiring purchase from under a hold, then fails while the hold is still
// open, ends where no refund would have: released, the purchase's credits
// expire on their date; captured, the hold spent them.
func testRefundFailedDuringAHold(t *testing.T, open Opener) {
	refund := func(id, eventType, status string) []byte {
		return stripeEvent(id, eventType, 1_800_000_100, map[string]any{"id": "re_1", "object": "refund", "amount": 500,
			"currency": "usd", "status": status, "charge": "ch_1", "payment_intent": "pi_1"})
	}
	for _, capture := range []bool{false, true} {
		t.Run(fmt.Sprintf("captured: %t", capture), func(t *testing.T) {
			f := newFixture(t, open)
			f.expiringPack()
			f.account("u1", "u1@example.com")
			expires := f.buyExpiring("cs_1", "u1", "pi_1")
			h := f.hold("u1", 60, time.Hour)
			f.grant("u1", 50, 0, 0)
			f.receive(refund("evt_r1", credits.EventRefundCreated, "pending"))
			f.wantDebt("u1", 50, -10, 0)
			f.verify()
			f.receive(refund("evt_r2", credits.EventRefundFailed, "failed"))
			f.wantDebt("u1", 150, 90, 0)
			f.verify()
			var err error
			if capture {
				_, err = f.svc.CaptureHold(context.Background(), h.ID, nil)
			} else {
				_, err = f.svc.ReleaseHold(context.Background(), h.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
			if capture {
				f.wantDebt("u1", 90, 90, 0)
			} else {
				f.wantDebt("u1", 150, 150, 0)
			}
			f.pastExpiry(expires)
			f.wantDebt("u1", 50, 50, 0) // the grant; the purchase's credits spent or expired
		})
	}
}

func testDisputes(t *testing.T, open Opener) {
	tests := []struct {
		name   string
		events func(pi string) [][]byte
		want   int64 // balance at the end, of 100 bought
		status string
	}{
		{"open", func(pi string) [][]byte {
			return [][]byte{testkit.Dispute("evt_d1", credits.EventDisputeCreated, "dp_1", pi, 500, "needs_response")}
		}, 0, "needs_response"},
		{"won", func(pi string) [][]byte {
			return [][]byte{
				testkit.Dispute("evt_d1", credits.EventDisputeCreated, "dp_1", pi, 500, "needs_response"),
				testkit.Dispute("evt_d2", credits.EventDisputeClosed, "dp_1", pi, 500, "won"),
				testkit.Dispute("evt_d3", credits.EventDisputeClosed, "dp_1", pi, 500, "won"),
			}
		}, 100, "won"},
		{"lost", func(pi string) [][]byte {
			return [][]byte{
				testkit.Dispute("evt_d1", credits.EventDisputeCreated, "dp_1", pi, 500, "needs_response"),
				testkit.Dispute("evt_d2", credits.EventDisputeClosed, "dp_1", pi, 500, "lost"),
			}
		}, 0, "lost"},
		{"won before it was seen to open", func(pi string) [][]byte {
			return [][]byte{
				testkit.Dispute("evt_d2", credits.EventDisputeClosed, "dp_1", pi, 500, "won"),
				testkit.Dispute("evt_d1", credits.EventDisputeCreated, "dp_1", pi, 500, "needs_response"),
			}
		}, 100, "won"},
		{"lost before it was seen to open", func(pi string) [][]byte {
			return [][]byte{
				testkit.Dispute("evt_d2", credits.EventDisputeClosed, "dp_1", pi, 500, "lost"),
				testkit.Dispute("evt_d1", credits.EventDisputeCreated, "dp_1", pi, 500, "needs_response"),
			}
		}, 0, "lost"},
		{"partial amount", func(pi string) [][]byte {
			return [][]byte{testkit.Dispute("evt_d1", credits.EventDisputeCreated, "dp_1", pi, 125, "needs_response")}
		}, 75, "needs_response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, open)
			f.pack("starter", 100, "")
			f.account("u1", "u1@example.com")
			f.buy("cs_1", "u1", "pi_1", 1)
			for _, payload := range tt.events("pi_1") {
				if ev := f.receive(payload); ev.Status != credits.EventProcessed {
					t.Fatalf("event: %+v", ev)
				}
			}
			if balance, _ := f.balance("u1"); balance != tt.want {
				t.Errorf("balance = %d, want %d", balance, tt.want)
			}
			var d credits.PaymentDispute
			err := f.db.View(context.Background(), func(tx credits.Tx) (err error) { d, err = tx.PaymentDispute("dp_1"); return err })
			if err != nil || d.Status != tt.status {
				t.Errorf("dispute = %+v (%v), want status %s", d, err, tt.status)
			}
		})
	}
}
