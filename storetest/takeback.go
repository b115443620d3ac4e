package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// expiringDays is how long the credits of the "expiring" pack last.
const expiringDays = 30

// expiringPack makes the "expiring" pack: 100 credits for $5.00 that expire
// expiringDays after their purchase.
func (f *fixture) expiringPack() {
	f.t.Helper()
	days := int64(expiringDays)
	_, err := f.svc.CreatePack(context.Background(), credits.Pack{ID: "expiring", Name: "Expiring", Credits: 100, UnitAmount: 500,
		Currency: "usd", ExpiresAfterDays: &days, Active: true})
	if err != nil {
		f.t.Fatal(err)
	}
}

// buyExpiring credits a paid session of one expiring pack, paid with
// payment intent pi, and returns when its credits expire.
func (f *fixture) buyExpiring(sessionID, accountID, pi string) time.Time {
	f.t.Helper()
	f.session(sessionID, accountID, "expiring", 1)
	s := testkit.Session{ID: sessionID, PaymentStatus: "paid", AmountTotal: 500, Currency: "usd", PaymentIntent: pi}
	if ev := f.deliver("evt_buy_"+sessionID, credits.EventCheckoutCompleted, s); ev.Status != credits.EventProcessed || ev.Error != "" {
		f.t.Fatalf("purchase: %+v", ev)
	}
	return f.now.Add(expiringDays * 24 * time.Hour)
}

// pastExpiry moves the clock a day past the expiry and settles every account.
func (f *fixture) pastExpiry(expires time.Time) {
	f.t.Helper()
	f.now = expires.Add(24 * time.Hour)
	if _, err := f.svc.SweepExpired(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// ownLot returns the lot a session's purchase credited.
func (f *fixture) ownLot(accountID, sessionID string) credits.Lot {
	f.t.Helper()
	return f.lotByReference(accountID, credits.EntryPurchase, sessionID)
}

func fullRefund(id string) []byte {
	return testkit.ChargeRefunded(id, "ch_1", "pi_1", 500, 500)
}

// testRefundAfterExpiry: a take-back never takes credits of the payment's lot
// that already expired; credits of it that were spent are taken from the
// account's other credits, then become debt, as before.
func testRefundAfterExpiry(t *testing.T, open Opener) {
	tests := []struct {
		name        string
		spend       int64 // of the 100 bought, before they expire
		grant       int64 // another lot of the account (priority 5, no expiry)
		refunded    int64 // of $5.00, after the expiry
		balance     int64
		debt        int64
		grantRemain int64
	}{
		{"unused, then a full refund", 0, 0, 500, 0, 0, 0},
		{"unused, another lot untouched", 0, 300, 500, 300, 0, 300},
		{"partly spent, then a full refund: the spent part is debt", 30, 0, 500, -30, 30, 0},
		{"partly spent, another lot pays for the spent part", 30, 300, 500, 270, 0, 270},
		{"partly spent, a half refund takes no more than did not expire", 30, 0, 250, -30, 30, 0},
		{"partly spent, a small refund takes its share of what did not expire", 30, 0, 100, -20, 20, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, open)
			f.expiringPack()
			f.account("u1", "u1@example.com")
			expires := f.buyExpiring("cs_1", "u1", "pi_1")
			if tt.grant > 0 {
				f.grant("u1", tt.grant, 0, 5)
			}
			if tt.spend > 0 {
				if _, err := f.debit("u1", tt.spend); err != nil {
					t.Fatal(err)
				}
			}
			f.pastExpiry(expires)
			if ev := f.receive(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 500, tt.refunded)); ev.Status != credits.EventProcessed {
				t.Fatalf("refund: %+v", ev)
			}
			f.wantDebt("u1", tt.balance, tt.balance, tt.debt)
			if tt.grant > 0 {
				if lot := f.lotByReference("u1", credits.EntryGrant, "test"); lot.Remaining != tt.grantRemain {
					t.Errorf("the other lot keeps %d, want %d", lot.Remaining, tt.grantRemain)
				}
			}
			f.verify()
		})
	}
}

// testRefundBeforeExpiry: a refund before the credits expire takes what it
// takes, and the rest expires as it would have: the same end as a refund
// after the expiry.
func testRefundBeforeExpiry(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.expiringPack()
	f.account("u1", "u1@example.com")
	expires := f.buyExpiring("cs_1", "u1", "pi_1")
	f.receive(testkit.ChargeRefunded("evt_r1", "ch_1", "pi_1", 500, 250))
	f.wantDebt("u1", 50, 50, 0)
	f.pastExpiry(expires)
	f.wantDebt("u1", 0, 0, 0)
	f.verify()
	f.receive(fullRefund("evt_r2")) // the rest of the money, after the expiry: nothing left to take
	f.wantDebt("u1", 0, 0, 0)
}

// testRefundFailedAfterExpiry: a refund taken back before the expiry that
// fails after it gives the credits back into the payment's own lot, which
// has expired: they expire at once, as they would have.
func testRefundFailedAfterExpiry(t *testing.T, open Opener) {
	refund := func(id, eventType, status string) []byte {
		return stripeEvent(id, eventType, 1_800_000_100, map[string]any{"id": "re_1", "object": "refund", "amount": 500,
			"currency": "usd", "status": status, "charge": "ch_1", "payment_intent": "pi_1"})
	}
	f := newFixture(t, open)
	f.expiringPack()
	f.account("u1", "u1@example.com")
	f.grant("u1", 50, 0, 0)
	expires := f.buyExpiring("cs_1", "u1", "pi_1")
	if _, err := f.debit("u1", 120); err != nil { // 100 of the purchase's (it expires first), 20 of the grant
		t.Fatal(err)
	}
	f.receive(refund("evt_r1", credits.EventRefundCreated, "pending"))
	f.wantDebt("u1", -70, -70, 70) // 30 of the grant, 70 owed
	f.pastExpiry(expires)
	f.receive(refund("evt_r2", credits.EventRefundFailed, "failed"))
	// The debt is paid back; nothing of the purchase was left to expire.
	f.wantDebt("u1", 30, 30, 0)
	f.verify()
}

// testDisputeWonAfterExpiry: credits a lost dispute took back are given back,
// when it is won, into the payment's own lot, with its expiry: after that
// date they expire at once; before it they expire on it.
func testDisputeWonAfterExpiry(t *testing.T, open Opener) {
	for _, afterExpiry := range []bool{true, false} {
		t.Run(fmt.Sprintf("won after the expiry date: %t", afterExpiry), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, open)
			f.expiringPack()
			f.account("u1", "u1@example.com")
			f.grant("u1", 10, 0, 0)
			expires := f.buyExpiring("cs_1", "u1", "pi_1")
			f.receive(testkit.Dispute("evt_d1", credits.EventDisputeFundsWithdrawn, "dp_1", "pi_1", 500, "needs_response"))
			f.wantDebt("u1", 10, 10, 0)
			if afterExpiry {
				f.pastExpiry(expires)
			} else {
				f.now = f.now.Add(24 * time.Hour)
			}
			f.receive(testkit.Dispute("evt_d2", credits.EventDisputeFundsReinstated, "dp_1", "pi_1", 500, "won"))
			lot := f.ownLot("u1", "cs_1")
			if lot.ExpiresAt == nil || !lot.ExpiresAt.Equal(expires) {
				t.Errorf("the purchase's lot expires at %v, want %v", lot.ExpiresAt, expires)
			}
			if afterExpiry {
				f.wantDebt("u1", 10, 10, 0)
			} else {
				f.wantDebt("u1", 110, 110, 0)
				if lot.Remaining != 100 {
					t.Errorf("the purchase's lot holds %d, want the 100 given back", lot.Remaining)
				}
				f.pastExpiry(expires)
				f.wantDebt("u1", 10, 10, 0)
			}
			f.verify()
		})
	}
}

// testDisputeAfterExpiry: a dispute whose funds are withdrawn, then
// reinstated when it is won, after the credits expired unused, takes nothing
// and gives nothing.
func testDisputeAfterExpiry(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.expiringPack()
	f.account("u1", "u1@example.com")
	f.grant("u1", 40, 0, 0)
	expires := f.buyExpiring("cs_1", "u1", "pi_1")
	f.pastExpiry(expires)
	f.receive(testkit.Dispute("evt_d1", credits.EventDisputeFundsWithdrawn, "dp_1", "pi_1", 500, "needs_response"))
	f.wantDebt("u1", 40, 40, 0)
	f.verify()
	f.receive(testkit.Dispute("evt_d2", credits.EventDisputeUpdated, "dp_1", "pi_1", 500, "under_review"))
	f.wantDebt("u1", 40, 40, 0)
	f.receive(testkit.Dispute("evt_d3", credits.EventDisputeFundsReinstated, "dp_1", "pi_1", 500, "won"))
	f.receive(testkit.Dispute("evt_d4", credits.EventDisputeClosed, "dp_1", "pi_1", 500, "won"))
	f.wantDebt("u1", 40, 40, 0)
	view, err := f.svc.GetPayment(context.Background(), "pi_1")
	if err != nil {
		t.Fatal(err)
	}
	if view.Owed != 100 || view.Expired != 100 || view.Payment.Posted != 100 {
		t.Errorf("payment: owed %d, expired %d, posted %d; want 100 each", view.Owed, view.Expired, view.Payment.Posted)
	}
	var kinds []string
	for _, e := range view.Entries {
		kinds = append(kinds, fmt.Sprintf("%s %d", e.Kind, e.Amount))
	}
	if got, want := fmt.Sprint(kinds), "[purchase 100 expiry -100]"; got != want {
		t.Errorf("the payment's entries: %s, want %s", got, want)
	}
}

// testDisputeEventsAroundExpiryInEveryOrder delivers every permutation of a
// dispute's events to a purchase of which 30 credits were spent, some
// events before its credits expire and the rest after: every order and
// every split ends at one balance.
func testDisputeEventsAroundExpiryInEveryOrder(t *testing.T, open Opener) {
	type step struct{ eventType, status string }
	histories := []struct {
		name  string
		steps []step
		want  int64 // balance: 30 spent, 70 expired or taken back
	}{
		{"lost", []step{{credits.EventDisputeCreated, "warning_needs_response"}, {credits.EventDisputeUpdated, "needs_response"},
			{credits.EventDisputeFundsWithdrawn, "needs_response"}, {credits.EventDisputeClosed, "lost"}}, -30},
		{"won", []step{{credits.EventDisputeCreated, "warning_needs_response"}, {credits.EventDisputeUpdated, "needs_response"},
			{credits.EventDisputeFundsWithdrawn, "needs_response"}, {credits.EventDisputeFundsReinstated, "won"},
			{credits.EventDisputeClosed, "won"}}, 0},
	}
	for _, history := range histories {
		orders := permutations(len(history.steps))
		t.Run(history.name, func(t *testing.T) {
			t.Parallel()
			inParts(t, len(orders), max(1, len(orders)/40), func(t *testing.T, _, first, end int) {
				f := newFixture(t, open)
				f.expiringPack()
				for n := first; n < end; n++ {
					order := orders[n]
					id := fmt.Sprintf("%s_%d", history.name, n)
					split := n % (len(order) + 1) // how many events come before the expiry
					f.account(id, id+"@example.com")
					expires := f.buyExpiring("cs_"+id, id, "pi_"+id)
					if _, err := f.debit(id, 30); err != nil {
						t.Fatal(err)
					}
					for k, i := range order {
						if k == split {
							f.pastExpiry(expires)
						}
						s := history.steps[i]
						payload := testkit.Dispute(fmt.Sprintf("evt_%s_%d", id, i), s.eventType, "dp_"+id, "pi_"+id, 500, s.status)
						if ev := f.receive(payload); ev.Status != credits.EventProcessed {
							t.Fatalf("%s, order %v: %+v", history.name, order, ev)
						}
					}
					if split == len(order) {
						f.pastExpiry(expires)
					}
					if balance, _ := f.balance(id); balance != history.want {
						t.Errorf("%s, order %v, %d before the expiry: balance %d, want %d", history.name, order, split, balance, history.want)
					}
				}
			})
		})
	}
}

// lotByReference reads a lot of an account by its source and reference,
// spent or not.
func (f *fixture) lotByReference(accountID, source, reference string) credits.Lot {
	f.t.Helper()
	var lot credits.Lot
	err := f.db.Update(context.Background(), func(tx credits.Tx) error {
		locked, err := tx.LockAccount(accountID)
		if err != nil {
			return err
		}
		lot, err = locked.LotByReference(source, reference)
		return err
	})
	if err != nil {
		f.t.Fatalf("%s lot %s: %v", source, reference, err)
	}
	return lot
}

// testRefundWithAHoldAcrossExpiry: a refund while a hold reserves the
// purchase's credits takes them all out of the lot, the held part from
// under the hold, which keeps it unbacked; the hold outlives the lot and is
// released: nothing was spent, so nothing is owed and nothing of the
// refunded purchase is left to expire. When the refund then fails, its
// credits go back into the expired lot and expire at once: the account ends
// where it would have without the refund.
func testRefundWithAHoldAcrossExpiry(t *testing.T, open Opener) {
	refund := func(id, eventType, status string) []byte {
		return stripeEvent(id, eventType, 1_800_000_100, map[string]any{"id": "re_1", "object": "refund", "amount": 500,
			"currency": "usd", "status": status, "charge": "ch_1", "payment_intent": "pi_1"})
	}
	f := newFixture(t, open)
	f.expiringPack()
	f.account("u1", "u1@example.com")
	expires := f.buyExpiring("cs_1", "u1", "pi_1")
	f.now = f.now.Add(time.Hour)
	f.hold("u1", 60, 30*24*time.Hour) // released an hour after the lot expires
	f.receive(refund("evt_r1", credits.EventRefundCreated, "pending"))
	f.wantDebt("u1", 0, -60, 0)
	f.verify()
	f.pastExpiry(expires)
	f.wantDebt("u1", 0, 0, 0)
	f.verify()
	f.receive(refund("evt_r2", credits.EventRefundFailed, "failed"))
	f.wantDebt("u1", 0, 0, 0)
}

// testVerifyCountsExpiredCredits: verify accepts a payment that holds more
// than its facts owe by what expired of its lot, and reports it when that
// expiry is not the payment's.
func testVerifyCountsExpiredCredits(t *testing.T, open Opener) {
	db := open(t)
	f := &fixture{t: t, db: db, now: fixtureNow} // no verify at the end: this test breaks invariant 6
	f.svc = credits.NewService(db)
	f.svc.Now = func() time.Time { return f.now }
	f.expiringPack()
	f.account("u1", "u1@example.com")
	expires := f.buyExpiring("cs_1", "u1", "pi_1")
	if _, err := f.debit("u1", 30); err != nil {
		t.Fatal(err)
	}
	f.pastExpiry(expires)
	f.receive(fullRefund("evt_r"))
	f.wantDebt("u1", -30, -30, 30)
	ctx := context.Background()
	if got, err := f.svc.Verify(ctx); err != nil || len(got) != 0 {
		t.Fatalf("verify: %+v (%v), want nothing", got, err)
	}
	raw, ok := db.(execer)
	if !ok {
		t.Fatalf("%T has no Exec: the test needs raw SQL to unlink an expiry", db)
	}
	if err := raw.Exec(ctx, `DELETE FROM payment_entries WHERE entry_id IN (SELECT id FROM entries WHERE kind = 'expiry')`); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Verify(ctx)
	want := []credits.Violation{{Invariant: 6, AccountID: "u1", Message: "payment pi_1 posted 70, but its facts owe 0"}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("verify with the expiry unlinked: %+v (%v), want %+v", got, err, want)
	}
}
