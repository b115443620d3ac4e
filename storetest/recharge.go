package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// cardPayments stands in for Stripe's off-session payments in the store
// suite, keeping what Stripe keeps: a payment intent per idempotency key
// (answered again for the same key, until the keys are pruned as Stripe
// may after 24 hours), found again by a look-up of the customer's payment
// intents. It answers charges from a script (succeeded when the script is
// empty) and records each one. The stripe package checks the real requests
// against stripe-mock and a stateful stand-in; here the stores and the
// domain are under test.
type cardPayments struct {
	credits.Payments // what it does not fake panics, should a test reach it
	mu               sync.Mutex
	script           []credits.ChargeResult
	// faults, when set, answer the next charges instead: a fault with ran
	// set makes the charge first (the answer is lost), as a dropped
	// connection after the request reached Stripe.
	faults     []chargeFault
	charges    []credits.OffSessionCharge
	intents    []credits.StripePaymentIntent
	byKey      map[string]int // idempotency key → index in intents
	saved500   map[string]bool
	links      int
	sessions   map[string]string // link id → its status in Stripe
	expired    []string
	unanswered bool
	lookUps    int
	deadlines  []time.Duration // what was left of each charge's deadline
	requests   []credits.CheckoutRequest
	customers  []int64 // the generation of each customer created
	cardOwner  string  // the customer a saved card is attached to (cus_test)
}

type chargeFault struct {
	err error
	ran bool
}

func (p *cardPayments) ChargeOffSession(ctx context.Context, c credits.OffSessionCharge) (credits.ChargeResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.charges = append(p.charges, c)
	if deadline, ok := ctx.Deadline(); ok {
		p.deadlines = append(p.deadlines, time.Until(deadline))
	}
	if p.unanswered {
		return credits.ChargeResult{}, errors.New("connection reset")
	}
	if p.saved500[c.IdempotencyKey] {
		return credits.ChargeResult{}, &credits.PaymentFailure{Treatment: credits.TreatLookUpNewKey, HTTPStatus: 500, Code: "api_error", Message: "saved 500"}
	}
	if i, ok := p.byKey[c.IdempotencyKey]; ok {
		return resultOf(p.intents[i]), nil
	}
	var fault chargeFault
	if len(p.faults) > 0 {
		fault, p.faults = p.faults[0], p.faults[1:]
		if !fault.ran {
			var f *credits.PaymentFailure
			if errors.As(fault.err, &f) && f.HTTPStatus >= 500 {
				p.remember500(c.IdempotencyKey)
			}
			return credits.ChargeResult{}, fault.err
		}
	}
	res := credits.ChargeResult{Status: "succeeded"}
	if len(p.script) > 0 {
		res, p.script = p.script[0], p.script[1:]
	}
	res.PaymentIntent, res.Amount, res.Currency = "pi_"+c.IdempotencyKey, c.Amount, c.Currency
	for _, pi := range p.intents {
		if pi.ID == res.PaymentIntent { // the key was pruned and sent again: Stripe made another
			res.PaymentIntent = fmt.Sprintf("pi_%s_%d", c.IdempotencyKey, len(p.intents)+1)
		}
	}
	if p.byKey == nil {
		p.byKey = map[string]int{}
	}
	p.byKey[c.IdempotencyKey] = len(p.intents)
	p.intents = append(p.intents, credits.StripePaymentIntent{ID: res.PaymentIntent, Status: res.Status, Amount: c.Amount, Currency: c.Currency,
		Customer: c.CustomerID, Metadata: c.Metadata, Code: res.Code, DeclineCode: res.DeclineCode, Message: res.Message})
	if fault.ran {
		return credits.ChargeResult{}, fault.err
	}
	return res, nil
}

func (p *cardPayments) remember500(key string) {
	if p.saved500 == nil {
		p.saved500 = map[string]bool{}
	}
	p.saved500[key] = true
}

func resultOf(pi credits.StripePaymentIntent) credits.ChargeResult {
	return credits.ChargeResult{PaymentIntent: pi.ID, Status: pi.Status, Amount: pi.Amount, Currency: pi.Currency, Code: pi.Code,
		DeclineCode: pi.DeclineCode, Message: pi.Message}
}

// prune forgets every idempotency key, as Stripe may after 24 hours.
func (p *cardPayments) prune() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byKey, p.saved500 = nil, nil
}

// setStatus moves a payment intent on, as Stripe does behind the service's back.
func (p *cardPayments) setStatus(id, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.intents {
		if p.intents[i].ID == id {
			p.intents[i].Status = status
		}
	}
}

// succeeded counts the payment intents that took money.
func (p *cardPayments) succeeded() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, pi := range p.intents {
		if pi.Status == "succeeded" {
			n++
		}
	}
	return n
}

func (p *cardPayments) RechargePayments(_ context.Context, customerID, rechargeID string, _ time.Time) ([]credits.StripePaymentIntent, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lookUps++
	var found []credits.StripePaymentIntent
	for _, pi := range p.intents {
		if pi.Customer == customerID && pi.Metadata[credits.RechargeMetadataKey] == rechargeID {
			found = append(found, pi)
		}
	}
	return found, nil
}

func (p *cardPayments) RetrievePaymentIntent(_ context.Context, id string) (credits.StripePaymentIntent, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pi := range p.intents {
		if pi.ID == id {
			return pi, nil
		}
	}
	return credits.StripePaymentIntent{}, &credits.PaymentFailure{Treatment: credits.TreatFail, HTTPStatus: 404, Code: "resource_missing"}
}

func (p *cardPayments) CreateCheckoutSession(_ context.Context, req credits.CheckoutRequest) (string, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.links++
	p.requests = append(p.requests, req)
	id := fmt.Sprintf("cs_link_%d", p.links)
	if p.sessions == nil {
		p.sessions = map[string]string{}
	}
	p.sessions[id] = "open"
	return id, fmt.Sprintf("https://checkout.test/%d", p.links), nil
}

func (p *cardPayments) ExpireCheckoutSession(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sessions[id] != "open" {
		return fmt.Errorf("session %s is %s, not open", id, p.sessions[id])
	}
	p.sessions[id] = "expired"
	p.expired = append(p.expired, id)
	return nil
}

func (p *cardPayments) RetrieveSession(_ context.Context, id string, _ bool) (credits.StripeSession, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.sessions[id]; !ok {
		return credits.StripeSession{}, &credits.PaymentFailure{Treatment: credits.TreatFail, HTTPStatus: 404, Code: "resource_missing"}
	}
	return credits.StripeSession{ID: id, Status: p.sessions[id], PaymentStatus: "unpaid", Mode: "payment"}, nil
}

func (p *cardPayments) CreateCustomer(_ context.Context, _ credits.Account, generation int64) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.customers = append(p.customers, generation)
	if generation > 0 {
		return fmt.Sprintf("cus_test_%d", generation), nil
	}
	return "cus_test", nil
}

func (p *cardPayments) CreateSetupSession(context.Context, credits.SetupRequest) (string, string, error) {
	return "cs_setup_test", "https://checkout.test/setup", nil
}

func (p *cardPayments) SavedCard(_ context.Context, intent string) (credits.SavedCard, string, error) {
	owner := "cus_test"
	if p.cardOwner != "" {
		owner = p.cardOwner
	}
	return credits.SavedCard{PaymentMethodID: "pm_test_4242", Brand: "visa", Last4: "4242"}, owner, nil
}

func (p *cardPayments) chargeKeys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var keys []string
	for _, c := range p.charges {
		keys = append(keys, c.IdempotencyKey)
	}
	return keys
}

var (
	declined     = credits.ChargeResult{Status: "requires_payment_method", Code: "card_declined", DeclineCode: "insufficient_funds", Message: "Your card has insufficient funds."}
	needsAuth    = credits.ChargeResult{Status: "requires_payment_method", Code: "authentication_required", Message: "This transaction requires authentication."}
	stillPending = credits.ChargeResult{Status: "processing"}
)

// rechargeFixture is an account u1 with a saved card (through a setup
// session's event, as Stripe sends it) and auto-recharge on: below
// threshold, buy one starter pack (100 credits for $5.00), up to limit a month.
func rechargeFixture(t *testing.T, open Opener, balance, threshold, limit int64) (*fixture, *cardPayments) {
	f := newFixture(t, open)
	pay := &cardPayments{}
	f.svc.Payments = pay
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	if balance > 0 {
		f.grant("u1", balance, 0, 0)
	}
	f.deliver("evt_setup", credits.EventCheckoutCompleted, testkit.Session{ID: "cs_setup", Mode: "setup", PaymentStatus: "no_payment_required",
		SetupIntent: "seti_1", Customer: "cus_test", Metadata: map[string]string{"account_id": "u1"}})
	if n, err := f.svc.ReadSavedCards(context.Background()); err != nil || n != 1 {
		t.Fatalf("read %d saved cards: %v", n, err)
	}
	if _, err := f.svc.SetAutoRecharge(context.Background(), "u1", credits.AutoRechargeSettings{
		Enabled: true, Threshold: threshold, PackID: "starter", Quantity: 1, MonthlyLimit: limit}); err != nil {
		t.Fatal(err)
	}
	return f, pay
}

func (f *fixture) recharges(accountID string) []credits.Recharge {
	f.t.Helper()
	v, err := f.svc.GetAutoRecharge(context.Background(), accountID)
	if err != nil {
		f.t.Fatal(err)
	}
	return v.Recharges
}

func (f *fixture) workRecharges() int {
	f.t.Helper()
	n, err := f.svc.ProcessRecharges(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// outboxTypes lists the types of the events written for the application, in order.
func (f *fixture) outboxTypes(prefix string) []string {
	f.t.Helper()
	var events []credits.OutboxEvent
	if err := f.db.View(context.Background(), func(tx credits.Tx) (err error) { events, err = tx.OutboxEventsAfter(0, 1000); return err }); err != nil {
		f.t.Fatal(err)
	}
	var types []string
	for _, e := range events {
		if strings.HasPrefix(e.Type, prefix) {
			types = append(types, e.Type)
		}
	}
	return types
}

func statuses(rs []credits.Recharge) string {
	var out []string
	for i := len(rs) - 1; i >= 0; i-- { // oldest first
		out = append(out, rs[i].Status)
	}
	return strings.Join(out, " ")
}

func testAutoRechargeSettings(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.svc.Payments = &cardPayments{}
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	ctx := context.Background()
	set := func(in credits.AutoRechargeSettings) string {
		if _, err := f.svc.SetAutoRecharge(ctx, "u1", in); err != nil {
			return credits.ErrorCode(err)
		}
		return ""
	}
	valid := credits.AutoRechargeSettings{Enabled: false, Threshold: 50, PackID: "starter", Quantity: 1, MonthlyLimit: 1000}
	for _, tc := range []struct {
		name string
		edit func(*credits.AutoRechargeSettings)
		want string
	}{
		{"no monthly limit", func(s *credits.AutoRechargeSettings) { s.MonthlyLimit = 0 }, credits.EINVALID},
		{"limit below one recharge", func(s *credits.AutoRechargeSettings) { s.MonthlyLimit = 499 }, credits.EINVALID},
		{"no threshold", func(s *credits.AutoRechargeSettings) { s.Threshold = 0 }, credits.EINVALID},
		{"unknown pack", func(s *credits.AutoRechargeSettings) { s.PackID = "nope" }, credits.ENOTFOUND},
		{"quantity zero", func(s *credits.AutoRechargeSettings) { s.Quantity = 0 }, credits.EINVALID},
		{"on without a card", func(s *credits.AutoRechargeSettings) { s.Enabled = true }, credits.ECONFLICT},
		{"off, valid", func(*credits.AutoRechargeSettings) {}, ""},
	} {
		in := valid
		tc.edit(&in)
		if got := set(in); got != tc.want {
			t.Errorf("%s: code %q, want %q", tc.name, got, tc.want)
		}
	}
	v, err := f.svc.GetAutoRecharge(ctx, "u1")
	if err != nil || v.Enabled || v.Threshold != 50 || v.MonthlyLimit != 1000 || v.Card != nil || v.Currency != "usd" {
		t.Errorf("settings = %+v (%v)", v, err)
	}
}

func testOneRechargeForConcurrentDebits(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 1000, 500, 100_000)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.debit("u1", 15); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rs := f.recharges("u1")
	if len(rs) != 1 || rs[0].Status != credits.RechargePending || rs[0].Amount != 500 || rs[0].Credits != 100 {
		t.Fatalf("after 50 debits across the threshold: %d recharges %+v, want one pending", len(rs), rs)
	}
	if n := f.workRecharges(); n != 1 {
		t.Fatalf("worked %d recharges", n)
	}
	if keys := pay.chargeKeys(); len(keys) != 1 || keys[0] != rs[0].ID {
		t.Fatalf("charges sent with keys %v, want [%s]", keys, rs[0].ID)
	}
	f.wantAccount("u1", 1000-750+100, 1000-750+100)
	rs = f.recharges("u1")
	// Still below the threshold after 100 credits: the next one waits.
	if got := statuses(rs); got != "succeeded pending" {
		t.Errorf("recharges %q, want succeeded then pending", got)
	}
	if got := f.outboxTypes("recharge."); len(got) != 1 || got[0] != credits.OutRechargeSucceeded {
		t.Errorf("recharge events %v", got)
	}
}

// testRechargeCreditedOnce: the confirm answer and payment_intent.succeeded
// meet on the payment intent, in either order, however often the event comes.
func testRechargeCreditedOnce(t *testing.T, open Opener) {
	t.Run("answer first", func(t *testing.T) {
		t.Parallel()
		f, _ := rechargeFixture(t, open, 100, 50, 500)
		f.debit("u1", 60)
		f.workRecharges()
		r := f.recharges("u1")[0]
		for i := range 3 {
			ev := f.receive(testkit.PaymentIntent(fmt.Sprint("evt_pi_", i%2), credits.EventPaymentIntentSucceeded, r.PaymentIntent, 500,
				map[string]string{credits.RechargeMetadataKey: r.ID}, "", ""))
			if ev.Status != credits.EventProcessed {
				t.Errorf("delivery %d: %s %s", i, ev.Status, ev.Error)
			}
		}
		f.wantAccount("u1", 140, 140)
	})
	t.Run("event first", func(t *testing.T) {
		t.Parallel()
		f, _ := rechargeFixture(t, open, 100, 50, 500)
		f.debit("u1", 60)
		r := f.recharges("u1")[0]
		// The webhook outruns the worker's own answer.
		f.receive(testkit.PaymentIntent("evt_pi", credits.EventPaymentIntentSucceeded, "pi_"+r.ID, 500, map[string]string{credits.RechargeMetadataKey: r.ID}, "", ""))
		f.wantAccount("u1", 140, 140)
		f.workRecharges() // answers succeeded for the same payment intent
		f.wantAccount("u1", 140, 140)
		if got := statuses(f.recharges("u1")); got != "succeeded" {
			t.Errorf("recharges %q", got)
		}
	})
	t.Run("processing, then the event", func(t *testing.T) {
		t.Parallel()
		f, pay := rechargeFixture(t, open, 100, 50, 500)
		pay.script = []credits.ChargeResult{stillPending}
		f.debit("u1", 60)
		f.workRecharges()
		f.wantAccount("u1", 40, 40)
		r := f.recharges("u1")[0]
		if r.Status != credits.RechargeProcessing {
			t.Fatalf("status %s", r.Status)
		}
		f.debit("u1", 1) // in flight: nothing new
		for i := range 2 {
			f.receive(testkit.PaymentIntent(fmt.Sprint("evt_pi_", i), credits.EventPaymentIntentSucceeded, r.PaymentIntent, 500, map[string]string{credits.RechargeMetadataKey: r.ID}, "", ""))
		}
		f.wantAccount("u1", 139, 139)
		if got := statuses(f.recharges("u1")); got != "succeeded" {
			t.Errorf("recharges %q", got)
		}
	})
	t.Run("a paid amount that differs", func(t *testing.T) {
		t.Parallel()
		f, pay := rechargeFixture(t, open, 100, 50, 500)
		pay.script = []credits.ChargeResult{stillPending}
		f.debit("u1", 60)
		f.workRecharges()
		r := f.recharges("u1")[0]
		ev := f.receive(testkit.PaymentIntent("evt_pi", credits.EventPaymentIntentSucceeded, r.PaymentIntent, 1, map[string]string{credits.RechargeMetadataKey: r.ID}, "", ""))
		if ev.Status != credits.EventUnmatched {
			t.Errorf("event %s %s, want unmatched", ev.Status, ev.Error)
		}
		f.wantAccount("u1", 40, 40)
	})
}

func testRechargeMonthlyLimit(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 500, 1000) // two recharges of $5.00 a month
	f.debit("u1", 10)
	for f.workRecharges() > 0 {
	}
	if got := statuses(f.recharges("u1")); got != "succeeded succeeded limit_reached" {
		t.Fatalf("recharges %q", got)
	}
	if len(pay.chargeKeys()) != 2 {
		t.Errorf("%d charges, want 2", len(pay.chargeKeys()))
	}
	f.debit("u1", 10) // told once a month
	if got := f.outboxTypes("recharge.limit"); len(got) != 1 {
		t.Errorf("limit events %v, want one", got)
	}
	v, _ := f.svc.GetAutoRecharge(context.Background(), "u1")
	if v.MonthTotal != 1000 || v.Last == nil || v.Last.Status != credits.RechargeLimitReached {
		t.Errorf("view: month total %d, last %+v", v.MonthTotal, v.Last)
	}
	f.now = time.Date(f.now.Year(), f.now.Month()+1, 1, 0, 0, 1, 0, time.UTC) // a new month, in UTC
	f.debit("u1", 1)
	if rs := f.recharges("u1"); rs[0].Status != credits.RechargePending {
		t.Errorf("in a new month: %q", statuses(rs))
	}
	f.wantAccount("u1", 100-10+200-10-1, 100-10+200-10-1)
}

func testRechargeNeedsTheCustomer(t *testing.T, open Opener) {
	for _, ending := range []string{"paid", "expired"} {
		t.Run(ending, func(t *testing.T) {
			t.Parallel()
			f, pay := rechargeFixture(t, open, 100, 50, 5000)
			pay.script = []credits.ChargeResult{needsAuth}
			f.debit("u1", 60)
			f.workRecharges()
			r := f.recharges("u1")[0]
			if r.Status != credits.RechargeActionRequired || r.ActionURL != "https://checkout.test/1" || r.CheckoutSessionID != "cs_link_1" {
				t.Fatalf("recharge %+v", r)
			}
			if got := f.outboxTypes("recharge."); len(got) != 1 || got[0] != credits.OutRechargeActionRequired {
				t.Errorf("events %v", got)
			}
			f.debit("u1", 1) // waits for the customer: nothing new, nothing charged
			f.workRecharges()
			if len(pay.chargeKeys()) != 1 || len(f.recharges("u1")) != 1 {
				t.Fatalf("charges %v, recharges %q", pay.chargeKeys(), statuses(f.recharges("u1")))
			}
			link := testkit.Session{ID: "cs_link_1", PaymentStatus: "paid", AmountTotal: 500, Currency: "usd", PaymentIntent: "pi_link",
				Metadata: map[string]string{"credits_checkout": r.ID}}
			if ending == "paid" {
				f.deliver("evt_link", credits.EventCheckoutCompleted, link)
				f.wantAccount("u1", 139, 139)
				if got := statuses(f.recharges("u1")); got != "succeeded" {
					t.Errorf("recharges %q", got)
				}
				return
			}
			link.PaymentStatus = "unpaid"
			f.deliver("evt_link", credits.EventCheckoutExpired, link)
			if got := statuses(f.recharges("u1")); got != "canceled" {
				t.Errorf("recharges %q", got)
			}
			f.debit("u1", 1) // a new one may start
			if got := statuses(f.recharges("u1")); got != "canceled pending" {
				t.Errorf("recharges %q", got)
			}
		})
	}
}

func testRechargeDeclinedTwiceTurnsOff(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 50, 5000)
	pay.script = []credits.ChargeResult{declined, declined}
	f.debit("u1", 60)
	f.workRecharges()
	if got := statuses(f.recharges("u1")); got != "failed pending" {
		t.Fatalf("after one decline: %q", got)
	}
	if n := f.workRecharges(); n != 0 {
		t.Fatalf("the retry ran before its back-off (%d)", n)
	}
	f.now = f.now.Add(credits.RechargeRetryDelay)
	f.workRecharges()
	rs := f.recharges("u1")
	if got := statuses(rs); got != "failed failed" || rs[0].Attempt != 2 || !strings.Contains(rs[0].Error, "insufficient_funds") {
		t.Fatalf("after two declines: %q %+v", got, rs[0])
	}
	if keys := pay.chargeKeys(); len(keys) != 2 || keys[0] == keys[1] {
		t.Errorf("keys %v: one per attempt", keys)
	}
	v, _ := f.svc.GetAutoRecharge(context.Background(), "u1")
	if v.Enabled || !strings.Contains(v.DisabledReason, "insufficient_funds") {
		t.Errorf("auto-recharge %+v, want off with the reason", v.AutoRecharge)
	}
	want := []string{credits.OutRechargeFailed, credits.OutRechargeFailed, credits.OutAutoRechargeDisabled}
	if got := append(f.outboxTypes("recharge."), f.outboxTypes("auto_recharge.")...); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", got, want)
	}
	f.debit("u1", 1)
	if len(f.recharges("u1")) != 2 {
		t.Error("a recharge started while auto-recharge is off")
	}
	f.wantAccount("u1", 39, 39)
}

// testRechargeFailedEvent: payment_intent.payment_failed is a decline too.
func testRechargeFailedEvent(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 50, 5000)
	pay.script = []credits.ChargeResult{stillPending}
	f.debit("u1", 60)
	f.workRecharges()
	r := f.recharges("u1")[0]
	for i := range 2 {
		f.receive(testkit.PaymentIntent(fmt.Sprint("evt_fail_", i), credits.EventPaymentIntentFailed, r.PaymentIntent, 500,
			map[string]string{credits.RechargeMetadataKey: r.ID}, "card_declined", "generic_decline"))
	}
	if got := statuses(f.recharges("u1")); got != "failed pending" {
		t.Errorf("recharges %q", got)
	}
	if got := f.outboxTypes("recharge."); len(got) != 1 {
		t.Errorf("events %v, want one recharge.failed", got)
	}
}

func testRechargeRefundedLikeAPurchase(t *testing.T, open Opener) {
	f, _ := rechargeFixture(t, open, 100, 50, 500)
	f.debit("u1", 60)
	f.workRecharges()
	f.wantAccount("u1", 140, 140)
	r := f.recharges("u1")[0]
	ev := f.receive(testkit.ChargeRefunded("evt_refund", "ch_1", r.PaymentIntent, 500, 500))
	if ev.Status != credits.EventProcessed {
		t.Fatalf("refund: %s %s", ev.Status, ev.Error)
	}
	f.wantAccount("u1", 40, 40)
	view, err := f.svc.GetPayment(context.Background(), r.PaymentIntent)
	if err != nil || view.Owed != 0 || view.Payment.SessionID != r.ID {
		t.Errorf("payment %+v (%v)", view.Payment, err)
	}
}

func testSavedCardRemoved(t *testing.T, open Opener) {
	for _, eventType := range []string{credits.EventPaymentMethodDetached, credits.EventCustomerDeleted} {
		t.Run(eventType, func(t *testing.T) {
			t.Parallel()
			f, _ := rechargeFixture(t, open, 100, 50, 500)
			object := map[string]any{"id": "pm_test_4242", "object": "payment_method", "customer": nil}
			if eventType == credits.EventCustomerDeleted {
				object = map[string]any{"id": "cus_test", "object": "customer", "deleted": true}
			}
			f.receive(testkit.Object("evt_gone", eventType, object))
			v, _ := f.svc.GetAutoRecharge(context.Background(), "u1")
			if v.Card != nil || v.Enabled || v.DisabledReason == "" {
				t.Errorf("after %s: %+v", eventType, v.AutoRecharge)
			}
			f.debit("u1", 60)
			if len(f.recharges("u1")) != 0 {
				t.Error("a recharge without a card")
			}
		})
	}
}

// testRechargeClaims: a claimed recharge is not worked by another replica
// until the claim runs out; then the same idempotency key goes to Stripe.
func testRechargeClaims(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 50, 500)
	pay.unanswered = true
	f.debit("u1", 60)
	r := f.recharges("u1")[0]
	var claimed []credits.Recharge
	if err := f.db.Update(context.Background(), func(tx credits.Tx) (err error) {
		claimed, err = tx.ClaimRecharges(f.now, time.Minute, 10)
		return err
	}); err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %d (%v)", len(claimed), err)
	}
	// The claiming replica died here, between the record and the call.
	if n := f.workRecharges(); n != 0 {
		t.Fatalf("claimed again during the lease: %d", n)
	}
	f.now = f.now.Add(time.Minute)
	f.workRecharges() // no answer: kept, same key next time
	f.now = f.now.Add(time.Minute)
	pay.unanswered = false
	f.workRecharges()
	if keys := pay.chargeKeys(); fmt.Sprint(keys) != fmt.Sprint([]string{r.ID, r.ID}) {
		t.Errorf("keys %v, want the recharge id twice", keys)
	}
	f.wantAccount("u1", 140, 140)
}
