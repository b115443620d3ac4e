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
			t.Parallel()
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
		t.Parallel()
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

// reconcilingStripe answers the first charge with a 500 that Stripe saves
// under the key, and makes its payment intent only later: Stripe documents
// a 500 as an outcome it cannot vouch for (docs.stripe.com/error-handling:
// "a server error ... leaves the outcome unknown: reconcile the request
// before starting another operation"); during an incident Stripe
// reconciles such requests afterwards and sends the events of the objects
// they made, while the key keeps replaying the 500.
type reconcilingStripe struct {
	*cardPayments
	first *credits.OffSessionCharge
}

func (p *reconcilingStripe) ChargeOffSession(ctx context.Context, c credits.OffSessionCharge) (credits.ChargeResult, error) {
	if p.first == nil {
		p.first = &c
		p.mu.Lock()
		p.charges = append(p.charges, c)
		p.remember500(c.IdempotencyKey)
		p.mu.Unlock()
		return credits.ChargeResult{}, &credits.PaymentFailure{Treatment: credits.TreatLookUpNewKey, HTTPStatus: 500, Code: "api_error", Message: "An unknown error occurred"}
	}
	return p.cardPayments.ChargeOffSession(ctx, c)
}

// reconcile makes the first charge's payment intent, succeeded, as Stripe
// does once it has reconciled the request that answered 500.
func (p *reconcilingStripe) reconcile() credits.StripePaymentIntent {
	p.mu.Lock()
	defer p.mu.Unlock()
	pi := credits.StripePaymentIntent{ID: "pi_reconciled", Status: "succeeded", Amount: p.first.Amount, Currency: p.first.Currency,
		Customer: p.first.CustomerID, Metadata: p.first.Metadata}
	p.intents = append(p.intents, pi)
	return pi
}

// testAttackNewKeyAfterAnIndeterminate500: after a saved 500 the worker
// looks the payment up 30 seconds later and, finding nothing, charges
// under the next key at once. Stripe's 500 is indeterminate: the payment
// may appear later (Stripe reconciles the failed request and sends its
// payment_intent.succeeded), and then the card was charged twice for one
// recharge. The service notices only afterwards (the second payment is
// kept "unmatched" for an operator to refund): two charges, per 500.
func testAttackNewKeyAfterAnIndeterminate500(t *testing.T, open Opener) {
	f, card := rechargeFixture(t, open, 100, 50, 5000)
	pay := &reconcilingStripe{cardPayments: card}
	f.svc.Payments = pay
	f.debit("u1", 60)
	f.workRecharges()
	for range 4 { // the next 44 minutes
		f.now = f.now.Add(RechargeRound)
		f.workRecharges()
	}
	pi := pay.reconcile() // Stripe's incident is over: the first request did charge
	ev := f.receive(testkit.PaymentIntent("evt_reconciled", credits.EventPaymentIntentSucceeded, pi.ID, pi.Amount, pi.Metadata, "", ""))
	if n := card.succeeded(); n != 1 {
		t.Errorf("the card was charged %d times for one recharge (keys %v, 44 minutes after a 500); the late payment: %s %q",
			n, card.chargeKeys(), ev.Status, ev.Error)
	}
	f.verify()
}

// linkStripe makes Checkout links as Stripe keeps idempotency keys: the
// first request for a key runs (and its answer may be lost), a request
// with the same key and other parameters answers idempotency_error, the
// same parameters replay the first answer. With refuse set, every link is
// refused (as Stripe refuses a session for a customer deleted in Stripe,
// or a price archived in the Dashboard).
type linkStripe struct {
	*cardPayments
	loseFirst bool
	refuse    error
	saved     map[string]credits.CheckoutRequest
	attempts  int
}

func (p *linkStripe) CreateCheckoutSession(ctx context.Context, req credits.CheckoutRequest) (string, string, error) {
	p.attempts++
	if p.refuse != nil {
		return "", "", p.refuse
	}
	if p.saved == nil {
		p.saved = map[string]credits.CheckoutRequest{}
	}
	if first, ok := p.saved[req.IdempotencyKey]; ok {
		if !first.ExpiresAt.Equal(req.ExpiresAt) {
			return "", "", fmt.Errorf("stripe: create checkout session: {\"type\":\"idempotency_error\",\"message\":\"Keys for idempotent requests can only be used with the same parameters they were first used with (expires_at %d, now %d)\"}",
				first.ExpiresAt.Unix(), req.ExpiresAt.Unix())
		}
		return "cs_link_1", "https://checkout.test/1", nil
	}
	p.saved[req.IdempotencyKey] = req
	id, url, err := p.cardPayments.CreateCheckoutSession(ctx, req)
	if p.loseFirst {
		p.loseFirst = false
		return "", "", errors.New("stripe: create checkout session: read: connection reset by peer")
	}
	return id, url, err
}

// testAttackLinkNeverMade: a recharge that waits for the customer and
// whose Checkout link cannot be made is retried every 30 seconds with no
// end. (1) With CREDITS_CHECKOUT_EXPIRES_IN set, expires_at is computed
// anew at each try while the idempotency key stays
// "credits-recharge-checkout-<id>": once the first request ran (its answer
// lost), every later one carries other parameters and Stripe answers
// idempotency_error until it prunes the key (24 hours or more): no link
// for a day, auto-recharge blocked. (2) A link Stripe refuses for good (the
// customer deleted in the Dashboard while customer.deleted never came, the
// pack's price archived) is asked for every 30 seconds for ever: the
// recharge stays action_required without a link, and every later recharge
// is refused by the one-in-flight rule.
func testAttackLinkNeverMade(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		pay  func(*cardPayments) *linkStripe
	}{
		{"first answer lost, expires_at changes", func(c *cardPayments) *linkStripe { return &linkStripe{cardPayments: c, loseFirst: true} }},
		{"refused for good", func(c *cardPayments) *linkStripe {
			return &linkStripe{cardPayments: c, refuse: errors.New("stripe: create checkout session: {\"status\":400,\"message\":\"No such customer: 'cus_test'\",\"code\":\"resource_missing\"}")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, card := rechargeFixture(t, open, 100, 50, 5000)
			f.svc.CheckoutExpiresIn = time.Hour
			pay := tc.pay(card)
			f.svc.Payments = pay
			card.script = []credits.ChargeResult{needsAuth}
			f.debit("u1", 60)
			f.workRecharges()
			for end := f.now.Add(6 * time.Hour); f.now.Before(end); f.now = f.now.Add(time.Minute) {
				f.workRecharges()
			}
			r := f.recharges("u1")[0]
			v, _ := f.svc.GetAutoRecharge(context.Background(), "u1")
			if r.Status == credits.RechargeActionRequired && r.ActionURL == "" && v.Enabled {
				t.Errorf("six hours on, the recharge still waits for a link that is never made (%d requests to Stripe); auto-recharge on and blocked",
					pay.attempts)
			}
		})
	}
}

// testAttackOtherPaymentFailsTheRecharge: events are matched to a recharge
// by its metadata only, not to the payment intent it is waiting on. Once a
// recharge has two payment intents (the next key after a 500, above), the
// first one's payment_intent.payment_failed (Stripe reconciled it as a
// decline; events come in any order, docs.stripe.com/webhooks "event
// ordering") fails the recharge while Stripe is still processing the
// second. A failed recharge is never read back: the second payment's money
// is taken and, unless its event arrives, never credited, while a retry
// charges the card once more.
func testAttackOtherPaymentFailsTheRecharge(t *testing.T, open Opener) {
	f, card := rechargeFixture(t, open, 100, 50, 5000)
	pay := &reconcilingStripe{cardPayments: card}
	f.svc.Payments = pay
	card.script = []credits.ChargeResult{stillPending} // the next key's charge: processing
	f.debit("u1", 60)
	f.workRecharges()
	f.now = f.now.Add(3*time.Hour + time.Minute) // a 500 waits three hours before the next key
	f.workRecharges()
	r := f.recharges("u1")[0]
	if r.Status != credits.RechargeProcessing {
		t.Fatalf("after a 500 and the next key: %+v", r)
	}
	first := pay.reconcile()
	card.setStatus(first.ID, "requires_payment_method")
	ev := f.receive(testkit.PaymentIntent("evt_first_failed", credits.EventPaymentIntentFailed, first.ID, first.Amount, first.Metadata,
		"card_declined", "generic_decline"))
	card.setStatus(r.PaymentIntent, "succeeded") // the payment the recharge waits on goes through; its event is lost
	for range 6 * 60 {
		f.now = f.now.Add(time.Minute)
		f.workRecharges()
	}
	got := f.recharges("u1")
	if got[len(got)-1].Status != credits.RechargeSucceeded || card.succeeded() != 1 {
		t.Errorf("recharges %q; Stripe took %d payments; the other payment's failure was applied: %s %q", statuses(got), card.succeeded(), ev.Status, ev.Error)
	}
	if a := f.accountNow("u1"); a.Balance != 40+100*int64(card.succeeded()) {
		t.Errorf("balance %d for %d payments taken", a.Balance, card.succeeded())
	}
	f.verify()
}

// testAttackAuthenticationAsDeclineCode: Stripe lists authentication_required
// as a card decline code (docs.stripe.com/declines/codes: "the card was
// declined because the transaction requires authentication ... for
// off-session payments, bring the customer back"), i.e. code card_declined,
// decline_code authentication_required. needsAuthentication reads only the
// code and the status: such a decline is retried an hour later, declined
// again the same way, and auto-recharge turns off without the customer
// ever getting the link that would have let them pay.
func testAttackAuthenticationAsDeclineCode(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 50, 5000)
	asDecline := credits.ChargeResult{Status: "requires_payment_method", Code: "card_declined", DeclineCode: "authentication_required",
		Message: "Your card was declined. This transaction requires authentication."}
	pay.script = []credits.ChargeResult{asDecline, asDecline}
	f.debit("u1", 60)
	f.workRecharges()
	rs := f.recharges("u1")
	if r := rs[len(rs)-1]; r.Status != credits.RechargeActionRequired || r.ActionURL == "" {
		f.now = f.now.Add(credits.RechargeRetryDelay + time.Minute)
		f.workRecharges()
		v, _ := f.svc.GetAutoRecharge(context.Background(), "u1")
		t.Errorf("an authentication decline is %s (%s), no link; an hour later: recharges %q, auto-recharge on %v (%s)",
			r.Status, r.Error, statuses(v.Recharges), v.Enabled, v.DisabledReason)
	}
}

// skewedStripe stamps each payment intent with Stripe's clock and answers
// the look-up as Stripe's list does with created[gte]: by that clock.
type skewedStripe struct {
	*cardPayments
	clock   func() time.Time
	created map[string]time.Time
}

func (p *skewedStripe) ChargeOffSession(ctx context.Context, c credits.OffSessionCharge) (credits.ChargeResult, error) {
	before := len(p.intents)
	res, err := p.cardPayments.ChargeOffSession(ctx, c)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pi := range p.intents[before:] {
		p.created[pi.ID] = p.clock().Truncate(time.Second)
	}
	return res, err
}

func (p *skewedStripe) RechargePayments(ctx context.Context, customerID, rechargeID string, since time.Time) ([]credits.StripePaymentIntent, error) {
	all, err := p.cardPayments.RechargePayments(ctx, customerID, rechargeID, since)
	var found []credits.StripePaymentIntent
	for _, pi := range all {
		if !p.created[pi.ID].Before(since.Truncate(time.Second)) {
			found = append(found, pi)
		}
	}
	return found, err
}

// testAttackLookUpWindowAndClockSkew: the look-up asks Stripe for the
// customer's payment intents created since ten minutes before the
// recharge, by the service's clock; Stripe filters created[gte] by its
// own. A host clock eleven minutes fast (a VM resumed from a snapshot, a
// stopped NTP) hides the payment: after a lost answer and a day down (the
// key pruned), the look-up finds nothing, the recharge is given up as
// "Stripe has no payment for it", and its retry charges the card again.
// The recharge's own money is never credited unless its event arrives.
func testAttackLookUpWindowAndClockSkew(t *testing.T, open Opener) {
	f, card := rechargeFixture(t, open, 100, 50, 5000)
	pay := &skewedStripe{cardPayments: card, clock: func() time.Time { return f.now.Add(-11 * time.Minute) }, created: map[string]time.Time{}}
	f.svc.Payments = pay
	card.faults = []chargeFault{lostAnswer}
	f.debit("u1", 60)
	f.workRecharges()
	f.now = f.now.Add(25 * time.Hour)
	card.prune()
	f.workRecharges()
	f.now = f.now.Add(credits.RechargeRetryDelay + time.Minute)
	f.workRecharges()
	if n := card.succeeded(); n != 1 {
		t.Errorf("Stripe took %d payments for one need (recharges %q, keys %v); credited %d credits",
			n, statuses(f.recharges("u1")), card.chargeKeys(), f.accountNow("u1").Balance-40)
	}
}

// testAttackGiveUpCountsFromCreation: "Stripe gave no usable answer for a
// day" is decided from the recharge's creation, not from its first send.
// A recharge made before the worker was down for a day (an outage, a
// deploy that failed) is sent once on restart; a 429 (Stripe's rate limit,
// likely when every account's recharge goes out at once; nothing ran) and
// the very next round gives it up as declined, without a second send: an
// attempt counted against a card that was never refused, and the second
// such 429 turns the customer's auto-recharge off.
func testAttackGiveUpCountsFromCreation(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 50, 5000)
	f.debit("u1", 60) // the recharge is made; the worker is down
	f.now = f.now.Add(25 * time.Hour)
	pay.faults = []chargeFault{rateLimited}
	f.workRecharges()
	f.now = f.now.Add(time.Minute)
	f.workRecharges()
	rs := f.recharges("u1")
	if first := rs[len(rs)-1]; first.Status != credits.RechargeSucceeded {
		t.Errorf("sent once, answered 429, then %s (%s) without a second send (keys %v)", first.Status, first.Error, pay.chargeKeys())
	}
}
