package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// The tests in this file hold the recharge worker to what Stripe remembers
// and forgets (issue 29): a charge whose answer was lost is looked up
// before it is sent again, each kind of answer gets its treatment, and
// nothing waits for an event forever.

var (
	lostAnswer   = chargeFault{err: errors.New("read: connection reset by peer"), ran: true}
	saved500     = chargeFault{err: &credits.PaymentFailure{Treatment: credits.TreatLookUpNewKey, HTTPStatus: 500, Code: "api_error", Message: "An unknown error occurred"}}
	keyInUse     = chargeFault{err: &credits.PaymentFailure{Treatment: credits.TreatRetry, HTTPStatus: 409, Code: "idempotency_key_in_use", Message: "in use"}}
	rateLimited  = chargeFault{err: &credits.PaymentFailure{Treatment: credits.TreatRetry, HTTPStatus: 429, Code: "rate_limit", Message: "Too many requests"}}
	keyMisused   = chargeFault{err: &credits.PaymentFailure{Treatment: credits.TreatLookUpNewKey, HTTPStatus: 400, Code: "idempotency_error", Message: "Keys for idempotent requests can only be used with the same parameters"}}
	tooSmall     = chargeFault{err: &credits.PaymentFailure{Treatment: credits.TreatFail, HTTPStatus: 400, Code: "amount_too_small", Message: "Amount must be at least $0.50 usd"}}
	lostCard     = credits.ChargeResult{Status: "requires_payment_method", Code: "card_declined", DeclineCode: "lost_card", Message: "Your card was declined."}
	issuerAbsent = credits.ChargeResult{Status: "requires_payment_method", Code: "card_declined", DeclineCode: "issuer_not_available", Message: "Your card was declined."}
)

// testRechargeNotChargedTwiceAfterADay: the answer to a charge is lost,
// the worker is down for more than a day and Stripe forgot the key: the
// payment is looked up and credited, not charged again.
func testRechargeNotChargedTwiceAfterADay(t *testing.T, open Opener) {
	for _, pruned := range []bool{false, true} {
		t.Run(fmt.Sprint("keys pruned: ", pruned), func(t *testing.T) {
			t.Parallel()
			f, pay := rechargeFixture(t, open, 100, 50, 5000)
			pay.faults = []chargeFault{lostAnswer}
			f.debit("u1", 60)
			f.workRecharges()
			if got := statuses(f.recharges("u1")); got != "pending" {
				t.Fatalf("after a lost answer: %q", got)
			}
			f.now = f.now.Add(25 * time.Hour)
			if pruned {
				pay.prune()
			}
			f.workRecharges()
			if n := pay.succeeded(); n != 1 {
				t.Fatalf("Stripe holds %d payments that took money, want 1", n)
			}
			if keys := pay.chargeKeys(); len(keys) != 1 {
				t.Errorf("charges sent: %v, want only the first", keys)
			}
			f.wantAccount("u1", 140, 140)
			r := f.recharges("u1")[0]
			if r.Status != credits.RechargeSucceeded || r.PaymentIntent != "pi_"+r.ID {
				t.Errorf("recharge %+v", r)
			}
			// The first charge's event then arrives: credited once.
			ev := f.receive(testkit.PaymentIntent("evt_late", credits.EventPaymentIntentSucceeded, r.PaymentIntent, 500,
				map[string]string{credits.RechargeMetadataKey: r.ID}, "", ""))
			if ev.Status != credits.EventProcessed {
				t.Errorf("late event %s %s", ev.Status, ev.Error)
			}
			f.wantAccount("u1", 140, 140)
			f.verify()
		})
	}
}

// testRechargeSecondPaymentWaitsForAnOperator: a second payment intent that
// succeeded for a recharge already paid is kept for an operator with the
// refund to make, never answered with a failure Stripe retries for days.
func testRechargeSecondPaymentWaitsForAnOperator(t *testing.T, open Opener) {
	f, _ := rechargeFixture(t, open, 100, 50, 5000)
	f.debit("u1", 60)
	f.workRecharges()
	r := f.recharges("u1")[0]
	for i := range 2 {
		ev := f.receive(testkit.PaymentIntent(fmt.Sprint("evt_second_", i), credits.EventPaymentIntentSucceeded, "pi_second", 500,
			map[string]string{credits.RechargeMetadataKey: r.ID}, "", ""))
		if ev.Status != credits.EventUnmatched || !strings.Contains(ev.Error, "charged twice") || !strings.Contains(ev.Error, "pi_second") {
			t.Errorf("delivery %d: %s %q, want unmatched naming the refund", i, ev.Status, ev.Error)
		}
	}
	f.wantAccount("u1", 140, 140)
	f.verify()
}

// testRechargeAnswersTreated holds each kind of Stripe answer to its
// treatment (the table in docs/stripe.md).
func testRechargeAnswersTreated(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name     string
		faults   []chargeFault
		script   []credits.ChargeResult
		statuses string // after the first round, then after every round that is due within two hours
		keys     []string
		credited bool
		enabled  bool
	}{
		{"409 in use: the same key later", []chargeFault{keyInUse}, nil, "succeeded", []string{"", ""}, true, true},
		{"429: the same key later", []chargeFault{rateLimited}, nil, "succeeded", []string{"", ""}, true, true},
		{"lost answer: looked up, not sent again", []chargeFault{lostAnswer}, nil, "succeeded", []string{""}, true, true},
		{"saved 500: nothing sent again for hours", []chargeFault{saved500}, nil, "pending", []string{""}, false, true},
		{"idempotency_error: looked up, then a new key", []chargeFault{keyMisused}, nil, "succeeded", []string{"", "-1"}, true, true},
		{"other 400: the attempt fails with Stripe's message", []chargeFault{tooSmall}, nil, "failed pending", []string{""}, false, true},
		{"hard decline: no retry, auto-recharge off", nil, []credits.ChargeResult{lostCard}, "failed", []string{""}, false, false},
		{"soft decline: one sooner retry that does not count", nil, []credits.ChargeResult{issuerAbsent, issuerAbsent},
			"failed failed pending", []string{"", "next"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, pay := rechargeFixture(t, open, 100, 50, 5000)
			pay.faults, pay.script = tc.faults, tc.script
			f.debit("u1", 60)
			for range 4 {
				f.workRecharges()
				f.now = f.now.Add(RechargeRound)
			}
			rs := f.recharges("u1")
			if got := statuses(rs); got != tc.statuses {
				t.Errorf("recharges %q, want %q", got, tc.statuses)
			}
			keys := pay.chargeKeys()
			if len(keys) != len(tc.keys) {
				t.Fatalf("charges sent with %v, want %d", keys, len(tc.keys))
			}
			first := rs[len(rs)-1].ID
			for i, suffix := range tc.keys {
				switch {
				case suffix == "next" && strings.HasPrefix(keys[i], first):
					t.Errorf("charge %d sent with %s, want another recharge's key", i, keys[i])
				case suffix != "next" && keys[i] != first+suffix:
					t.Errorf("charge %d sent with %s, want %s", i, keys[i], first+suffix)
				}
			}
			if tc.credited != (f.accountNow("u1").Balance == 140) || pay.succeeded() > 1 {
				t.Errorf("balance %d, %d payments took money", f.accountNow("u1").Balance, pay.succeeded())
			}
			v, _ := f.svc.GetAutoRecharge(context.Background(), "u1")
			if v.Enabled != tc.enabled {
				t.Errorf("auto-recharge on: %v (%s), want %v", v.Enabled, v.DisabledReason, tc.enabled)
			}
			f.verify()
		})
	}
}

// testRechargeNewKeyHoursAfterA500: Stripe cannot vouch for the outcome
// of a 5xx and may make the payment later, so a recharge it answered with
// one waits three hours, is looked up, and only then goes out under the
// next key (the old one replays the 500).
func testRechargeNewKeyHoursAfterA500(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 50, 5000)
	pay.faults = []chargeFault{saved500}
	f.debit("u1", 60)
	f.workRecharges()
	f.now = f.now.Add(3*time.Hour - time.Minute)
	f.workRecharges()
	if keys := pay.chargeKeys(); len(keys) != 1 {
		t.Fatalf("sent again within three hours of a 500: %v", keys)
	}
	f.now = f.now.Add(2 * time.Minute)
	f.workRecharges()
	r := f.recharges("u1")[0]
	if keys := pay.chargeKeys(); len(keys) != 2 || keys[1] != r.ID+"-1" || r.Status != credits.RechargeSucceeded {
		t.Errorf("keys %v, recharge %s", keys, r.Status)
	}
	f.wantAccount("u1", 140, 140)
	f.verify()
}

// RechargeRound is how far the treatment tests move the clock between the
// worker's rounds: past a transient retry, short of the hour a decline waits.
const RechargeRound = 11 * time.Minute

// testRechargeSoftDeclineRetriesOnce: the sooner retry after a transient
// decline keeps the attempt's number and is due in minutes, not an hour.
func testRechargeSoftDeclineRetriesOnce(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 50, 5000)
	pay.script = []credits.ChargeResult{issuerAbsent}
	f.debit("u1", 60)
	f.workRecharges()
	rs := f.recharges("u1")
	if got := statuses(rs); got != "failed pending" || rs[0].Attempt != 1 || !rs[0].SoftRetry || rs[0].NextAttemptAt.Sub(f.now) > 15*time.Minute {
		t.Fatalf("after a transient decline: %q %+v", got, rs[0])
	}
	f.now = f.now.Add(11 * time.Minute)
	f.workRecharges()
	if got := statuses(f.recharges("u1")); got != "failed succeeded" {
		t.Errorf("after the sooner retry: %q", got)
	}
	f.wantAccount("u1", 140, 140)
}

// testRechargeProcessingReadBack: a payment Stripe is processing whose
// event never comes is read back and moved on.
func testRechargeProcessingReadBack(t *testing.T, open Opener) {
	for _, end := range []string{"succeeded", "requires_payment_method", "processing"} {
		t.Run(end, func(t *testing.T) {
			t.Parallel()
			f, pay := rechargeFixture(t, open, 100, 50, 5000)
			pay.script = []credits.ChargeResult{stillPending}
			f.debit("u1", 60)
			f.workRecharges()
			r := f.recharges("u1")[0]
			pay.setStatus(r.PaymentIntent, end)
			f.now = f.now.Add(credits.DefaultRechargeCheckAfter - time.Minute)
			f.workRecharges()
			if got := statuses(f.recharges("u1")); got != "processing" {
				t.Fatalf("read back before its time: %q", got)
			}
			f.now = f.now.Add(2 * time.Minute)
			f.workRecharges()
			want := map[string]string{"succeeded": "succeeded", "requires_payment_method": "failed pending", "processing": "processing"}[end]
			if got := statuses(f.recharges("u1")); got != want {
				t.Errorf("after an hour: %q, want %q", got, want)
			}
			f.verify()
		})
	}
}

// testRechargeCanceledPaymentIntent: payment_intent.canceled ends a recharge.
func testRechargeCanceledPaymentIntent(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 50, 5000)
	pay.script = []credits.ChargeResult{stillPending}
	f.debit("u1", 60)
	f.workRecharges()
	r := f.recharges("u1")[0]
	payload := testkit.Object("evt_canceled", credits.EventPaymentIntentCanceled, map[string]any{"id": r.PaymentIntent, "object": "payment_intent",
		"amount": 500, "currency": "usd", "status": "canceled", "metadata": map[string]string{credits.RechargeMetadataKey: r.ID}})
	if ev := f.receive(payload); ev.Status != credits.EventProcessed {
		t.Fatalf("event %s %s", ev.Status, ev.Error)
	}
	if got := statuses(f.recharges("u1")); got != "failed pending" {
		t.Errorf("recharges %q", got)
	}
}

// testRechargeLinkEnds: the link of a recharge that waits for the customer
// is made for the account's customer, cards only; it ends on expired and on
// async_payment_failed; a canceled recharge has its link expired in Stripe;
// and a link paid all the same counts toward the month.
func testRechargeLinkEnds(t *testing.T, open Opener) {
	start := func(t *testing.T) (*fixture, *cardPayments, credits.Recharge) {
		f, pay := rechargeFixture(t, open, 100, 50, 500)
		pay.script = []credits.ChargeResult{needsAuth}
		f.debit("u1", 60)
		f.workRecharges()
		r := f.recharges("u1")[0]
		if len(pay.requests) != 1 || pay.requests[0].CustomerID != "cus_test" || !pay.requests[0].CardOnly {
			t.Fatalf("link requests %+v", pay.requests)
		}
		return f, pay, r
	}
	t.Run("async payment failed", func(t *testing.T) {
		t.Parallel()
		f, _, r := start(t)
		link := testkit.Session{ID: r.CheckoutSessionID, PaymentStatus: "unpaid", AmountTotal: 500, Currency: "usd",
			Metadata: map[string]string{"credits_checkout": r.ID}}
		f.deliver("evt_async_failed", credits.EventCheckoutAsyncFailed, link)
		if got := statuses(f.recharges("u1")); got != "failed" {
			t.Errorf("recharges %q", got)
		}
		f.debit("u1", 1)
		if got := statuses(f.recharges("u1")); got != "failed pending" {
			t.Errorf("a new recharge is blocked: %q", got)
		}
	})
	t.Run("its event never comes, and Stripe has no such session", func(t *testing.T) {
		t.Parallel()
		f, pay, r := start(t)
		delete(pay.sessions, r.CheckoutSessionID)
		f.now = f.now.Add(24*time.Hour + 16*time.Minute) // past the link's expiry and the margin
		f.workRecharges()
		if got := statuses(f.recharges("u1")); got != "canceled" {
			t.Errorf("recharges %q, want the link's recharge ended", got)
		}
	})
	t.Run("its event never comes, and the link expired", func(t *testing.T) {
		t.Parallel()
		f, pay, r := start(t)
		f.now = f.now.Add(24*time.Hour + 14*time.Minute)
		f.workRecharges()
		if got := statuses(f.recharges("u1")); got != "action_required" {
			t.Fatalf("read back before the margin: %q", got)
		}
		pay.sessions[r.CheckoutSessionID] = "expired"
		f.now = f.now.Add(2 * time.Minute)
		f.workRecharges()
		if got := statuses(f.recharges("u1")); got != "canceled" {
			t.Errorf("recharges %q", got)
		}
	})
	t.Run("canceled: the link is expired, and paid anyway it counts", func(t *testing.T) {
		t.Parallel()
		f, pay, r := start(t)
		ctx := context.Background()
		v, err := f.svc.SetAutoRecharge(ctx, "u1", credits.AutoRechargeSettings{Enabled: false, Threshold: 50, PackID: "starter", Quantity: 1, MonthlyLimit: 500})
		if err != nil || v.Recharges[0].Status != credits.RechargeCanceled {
			t.Fatalf("turning off: %+v %v", v.Recharges, err)
		}
		f.workRecharges()
		if len(pay.expired) != 1 || pay.expired[0] != r.CheckoutSessionID {
			t.Errorf("links expired in Stripe: %v", pay.expired)
		}
		// The customer had paid a moment before it expired.
		f.deliver("evt_link_paid", credits.EventCheckoutCompleted, testkit.Session{ID: r.CheckoutSessionID, PaymentStatus: "paid",
			AmountTotal: 500, Currency: "usd", PaymentIntent: "pi_link", Metadata: map[string]string{"credits_checkout": r.ID}})
		f.wantAccount("u1", 140, 140)
		if _, err := f.svc.SetAutoRecharge(ctx, "u1", credits.AutoRechargeSettings{Enabled: true, Threshold: 200, PackID: "starter", Quantity: 1, MonthlyLimit: 500}); err != nil {
			t.Fatal(err)
		}
		if got := statuses(f.recharges("u1")); got != "succeeded limit_reached" {
			t.Errorf("the paid link does not count toward the month: %q", got)
		}
	})
}

// testRechargeCustomerAfterDeletion: after customer.deleted, saving a card
// makes a new customer under a new idempotency key.
func testRechargeCustomerAfterDeletion(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 50, 500)
	f.receive(testkit.Object("evt_gone", credits.EventCustomerDeleted, map[string]any{"id": "cus_test", "object": "customer", "deleted": true}))
	if _, err := f.svc.CreateSetupSession(context.Background(), "u1", credits.ReturnURLs{Success: "https://x/ok", Cancel: "https://x/no"}); err != nil {
		t.Fatal(err)
	}
	v, _ := f.svc.GetAutoRecharge(context.Background(), "u1")
	if v.CustomerID != "cus_test_1" || fmt.Sprint(pay.customers) != "[1]" {
		t.Errorf("customer %q, created with generations %v", v.CustomerID, pay.customers)
	}
}

// testRechargeOneCurrencyAMonth: the monthly limit counts every recharge of
// the month; a pack in another currency waits for the next month.
func testRechargeOneCurrencyAMonth(t *testing.T, open Opener) {
	f, _ := rechargeFixture(t, open, 100, 50, 1000)
	f.debit("u1", 60)
	f.workRecharges()
	eur := credits.Pack{ID: "euro", Name: "Euro", Credits: 100, UnitAmount: 500, Currency: "eur", Active: true}
	if _, err := f.svc.CreatePack(context.Background(), eur); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.SetAutoRecharge(context.Background(), "u1", credits.AutoRechargeSettings{Enabled: true, Threshold: 50, PackID: "euro", Quantity: 1, MonthlyLimit: 1000})
	if credits.ErrorCode(err) != credits.ECONFLICT || !strings.Contains(err.Error(), "EUR") {
		t.Errorf("a pack in another currency mid-month: %v", err)
	}
	f.now = time.Date(f.now.Year(), f.now.Month()+1, 1, 0, 0, 1, 0, time.UTC)
	if _, err := f.svc.SetAutoRecharge(context.Background(), "u1", credits.AutoRechargeSettings{Enabled: true, Threshold: 50, PackID: "euro", Quantity: 1, MonthlyLimit: 1000}); err != nil {
		t.Errorf("next month: %v", err)
	}
}

// testRechargeCallsEndWithinTheLease: every Stripe call made under a claim
// ends before the claim runs out.
func testRechargeCallsEndWithinTheLease(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 50, 500)
	f.debit("u1", 60)
	f.workRecharges()
	if len(pay.deadlines) != 1 || pay.deadlines[0] <= 0 || pay.deadlines[0] > f.svc.RechargeLease {
		t.Errorf("the charge's time left: %v, want within the lease %v", pay.deadlines, f.svc.RechargeLease)
	}
}

// testRechargeView: the view shows the last finished attempt's outcome and
// the next retry's time, and this month's total counts only money taken.
func testRechargeView(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 50, 5000)
	pay.script = []credits.ChargeResult{declined}
	f.debit("u1", 60)
	f.workRecharges()
	v, err := f.svc.GetAutoRecharge(context.Background(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if v.LastOutcome == nil || v.LastOutcome.Status != credits.RechargeFailed || !strings.Contains(v.LastOutcome.Error, "insufficient_funds") {
		t.Errorf("last outcome %+v", v.LastOutcome)
	}
	if v.NextAttemptAt == nil || !v.NextAttemptAt.Equal(f.now.Add(credits.RechargeRetryDelay)) {
		t.Errorf("next attempt %v", v.NextAttemptAt)
	}
	if v.MonthTotal != 0 {
		t.Errorf("month total %d counts the unpaid retry", v.MonthTotal)
	}
}

// testSavedCardOfAnotherCustomer: a card attached to another customer than
// the account's is not kept for its recharges.
func testSavedCardOfAnotherCustomer(t *testing.T, open Opener) {
	f := newFixture(t, open)
	pay := &cardPayments{cardOwner: "cus_someone_else"}
	f.svc.Payments = pay
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.deliver("evt_setup", credits.EventCheckoutCompleted, testkit.Session{ID: "cs_setup", Mode: "setup", PaymentStatus: "no_payment_required",
		SetupIntent: "seti_1", Customer: "cus_test", Metadata: map[string]string{"account_id": "u1"}})
	if _, err := f.svc.ReadSavedCards(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.svc.GetAutoRecharge(context.Background(), "u1"); v.Card != nil || v.CustomerID != "cus_test" {
		t.Errorf("kept card %+v of customer %s", v.Card, v.CustomerID)
	}
}
