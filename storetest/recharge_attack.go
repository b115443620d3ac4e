package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// The tests in this file attack the recharge worker's talk with Stripe
// (issue 29) as Stripe and a hostile client would. Each one fails on the
// code it was written against; each names the money at stake.

// testAttackSentRechargeNotCanceledBlind: a recharge whose charge went to
// Stripe and whose answer was lost (sent_at set, no payment intent known)
// is canceled as if it had never been sent when auto-recharge turns off
// (by the customer, by payment_method.detached, by customer.deleted):
// cancelWaitingRecharge only spares a pending recharge that has a payment
// intent. Stripe did take the money; a canceled recharge is never looked
// up, so unless payment_intent.succeeded arrives (Stripe gives up after
// three days, and an endpoint can be disabled: the very case issue 29 is
// about) the customer paid and got nothing. Turned back on, a second
// recharge is charged, and the month's total does not count the first:
// two charges under a one-pack limit.
func testAttackSentRechargeNotCanceledBlind(t *testing.T, open Opener) {
	offs := map[string]func(f *fixture){
		"turned off by the customer": func(f *fixture) {
			if _, err := f.svc.SetAutoRecharge(context.Background(), "u1", credits.AutoRechargeSettings{
				Enabled: false, Threshold: 50, PackID: "starter", Quantity: 1, MonthlyLimit: 500}); err != nil {
				f.t.Fatal(err)
			}
		},
		"card detached in Stripe": func(f *fixture) {
			f.receive(testkit.Object("evt_detached", credits.EventPaymentMethodDetached,
				map[string]any{"id": "pm_test_4242", "object": "payment_method", "customer": nil}))
		},
		"customer deleted in Stripe": func(f *fixture) {
			f.receive(testkit.Object("evt_gone", credits.EventCustomerDeleted,
				map[string]any{"id": "cus_test", "object": "customer", "deleted": true}))
		},
	}
	for _, name := range []string{"turned off by the customer", "card detached in Stripe", "customer deleted in Stripe"} {
		t.Run(name, func(t *testing.T) {
			f, pay := rechargeFixture(t, open, 100, 50, 500)
			pay.faults = []chargeFault{lostAnswer} // Stripe charged; the answer never came back
			f.debit("u1", 60)
			f.workRecharges()
			if r := f.recharges("u1")[0]; r.Status != credits.RechargePending || r.SentAt == nil || r.PaymentIntent != "" {
				t.Fatalf("after a lost answer: %+v", r)
			}
			offs[name](f)
			// No payment_intent.succeeded ever arrives; the worker runs for two days.
			for range 48 {
				f.now = f.now.Add(time.Hour)
				f.workRecharges()
			}
			if pay.succeeded() != 1 {
				t.Fatalf("Stripe holds %d payments that took money, want 1", pay.succeeded())
			}
			r := f.recharges("u1")[0]
			if r.Status != credits.RechargeSucceeded {
				t.Errorf("the recharge Stripe charged is %s (%s) after two days and was never looked up (%d look-ups)", r.Status, r.Error, pay.lookUps)
			}
			f.wantAccount("u1", 140, 140) // $5.00 taken: 100 credits owed
			f.verify()
		})
	}
	t.Run("turned off and on again: charged twice under a one-pack limit", func(t *testing.T) {
		f, pay := rechargeFixture(t, open, 100, 50, 500)
		pay.faults = []chargeFault{lostAnswer}
		f.debit("u1", 60)
		f.workRecharges()
		ctx := context.Background()
		if _, err := f.svc.SetAutoRecharge(ctx, "u1", credits.AutoRechargeSettings{Enabled: false, Threshold: 50, PackID: "starter", Quantity: 1, MonthlyLimit: 500}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.SetAutoRecharge(ctx, "u1", credits.AutoRechargeSettings{Enabled: true, Threshold: 50, PackID: "starter", Quantity: 1, MonthlyLimit: 500}); err != nil {
			t.Fatal(err)
		}
		f.debit("u1", 1)
		for range 4 {
			f.workRecharges()
			f.now = f.now.Add(RechargeRound)
		}
		if n := pay.succeeded(); n > 1 {
			t.Errorf("%d payments of $5.00 taken in a month limited to $5.00 (recharges %q, keys %v)", n, statuses(f.recharges("u1")), pay.chargeKeys())
		}
		v, _ := f.svc.GetAutoRecharge(ctx, "u1")
		if got := int64(pay.succeeded()) * 500; v.MonthTotal != got {
			t.Errorf("this month's total %d, Stripe took %d", v.MonthTotal, got)
		}
		f.verify()
	})
}

// failingLookUp is Stripe whose list of a customer's payment intents
// cannot answer: the real client's answer for a customer with more than
// 300 payment intents in the window (stripe/recharge.go:
// maxRechargePayments), or a list refused for good.
type failingLookUp struct {
	*cardPayments
	err error
}

func (p *failingLookUp) RechargePayments(ctx context.Context, customerID, rechargeID string, since time.Time) ([]credits.StripePaymentIntent, error) {
	p.mu.Lock()
	p.lookUps++
	p.mu.Unlock()
	return nil, p.err
}

// testAttackLookUpThatNeverAnswers: the give-up after a day is checked
// only after a look-up that answered. A look-up that fails every time
// (a customer with more than 300 payment intents since the recharge was
// made, which RechargePayments refuses to read past; a list refused with
// 400/401/403 for good) keeps the recharge pending for ever: the list is
// read again every 30 seconds (a 300-item list, 3 pages, 2,880 times a
// day, against Stripe's rate limits), the account's auto-recharge is
// wedged (the one-in-flight rule refuses every later recharge), and
// nothing turns it off or tells anyone.
func testAttackLookUpThatNeverAnswers(t *testing.T, open Opener) {
	f, card := rechargeFixture(t, open, 100, 50, 5000)
	pay := &failingLookUp{cardPayments: card, err: errors.New("stripe: customer cus_test has more than 300 payment intents since 2026-12-07T00:00:00Z")}
	f.svc.Payments = pay
	card.faults = []chargeFault{lostAnswer}
	f.debit("u1", 60)
	f.workRecharges()
	rounds := 0
	for end := f.now.Add(72 * time.Hour); f.now.Before(end); f.now = f.now.Add(time.Minute) {
		f.workRecharges()
		rounds++
	}
	rs := f.recharges("u1")
	v, _ := f.svc.GetAutoRecharge(context.Background(), "u1")
	if rs[0].Status == credits.RechargePending && v.Enabled {
		t.Errorf("three days later the recharge is still pending (%s), auto-recharge on and wedged; Stripe's list read %d times in %d rounds",
			rs[0].Error, card.lookUps, rounds)
	}
	f.debit("u1", 30)
	if got := statuses(f.recharges("u1")); got == "pending" && v.Enabled {
		t.Errorf("a debit three days later starts no recharge: %q", got)
	}
}

var _ = fmt.Sprint
