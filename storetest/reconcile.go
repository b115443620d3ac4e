package storetest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// ReconcileTests are the reconcile cases of the suite, for Run.
var reconcileTests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"ReconcilePaidNotCredited", testReconcilePaidNotCredited},
	{"ReconcileFixRacesTheRealEvent", testReconcileFixRacesTheRealEvent},
	{"ReconcileRefundNotTaken", testReconcileRefundNotTaken},
	{"ReconcileDisputeNotTaken", testReconcileDisputeNotTaken},
	{"ReconcileCreditedNotPaidAndAmounts", testReconcileCreditedNotPaidAndAmounts},
	{"ReconcileRechargeChargedTwice", testReconcileRechargeChargedTwice},
	{"ReconcileRechargePaidNotCreditedAndStuck", testReconcileRechargePaidNotCreditedAndStuck},
	{"ReconcileStuckEvent", testReconcileStuckEvent},
	{"ReconcileResumes", testReconcileResumes},
	{"ReconcileWorkerSchedule", testReconcileWorkerSchedule},
	{"ReconcileCursorGone", testReconcileCursorGone},
	{"ReconcileChargeRefundedWentDown", testReconcileChargeRefundedWentDown},
	{"ReconcileRetrievesUnsettled", testReconcileRetrievesUnsettled},
	{"ReconcileResumeKeepsWhatItSaw", testReconcileResumeKeepsWhatItSaw},
}

// memoryStripe stands in for Stripe's lists in the store suite: objects by
// type, newest first, as Stripe lists them. The stripe package reads the
// real lists (against the stateful stand-in); here the stores are under test.
type memoryStripe struct {
	mu      sync.Mutex
	objects map[string][]credits.StripeObject
	// failAfter, when positive, fails a list after that many objects (once).
	failAfter int
	// asked records each list's startingAfter.
	asked []string
	// retrieved records each object retrieved by id.
	retrieved []string
}

func (m *memoryStripe) add(o credits.StripeObject) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objects == nil {
		m.objects = map[string][]credits.StripeObject{}
	}
	if o.ID == "" {
		panic("an object needs an id")
	}
	m.objects[o.Type] = append([]credits.StripeObject{o}, m.objects[o.Type]...) // newest first
}

func (m *memoryStripe) ListStripe(_ context.Context, objectType string, since time.Time, startingAfter string) iter.Seq2[credits.StripeObject, error] {
	return func(yield func(credits.StripeObject, error) bool) {
		m.mu.Lock()
		list := slices.Clone(m.objects[objectType])
		m.asked = append(m.asked, objectType+":"+startingAfter)
		m.mu.Unlock()
		skipping := startingAfter != ""
		for _, o := range list {
			if skipping {
				skipping = o.ID != startingAfter
				continue
			}
			if o.Created.Before(since) {
				continue
			}
			m.mu.Lock()
			fail := m.failAfter == 1
			if m.failAfter > 0 {
				m.failAfter--
			}
			m.mu.Unlock()
			if fail {
				yield(credits.StripeObject{}, errors.New("stripe: 503 after retries"))
				return
			}
			if !yield(o, nil) {
				return
			}
		}
	}
}

// RetrieveStripe reads one object by id, whenever it was created, as
// Stripe's retrieve does.
func (m *memoryStripe) RetrieveStripe(_ context.Context, objectType, id string) (credits.StripeObject, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retrieved = append(m.retrieved, objectType+":"+id)
	for _, o := range m.objects[objectType] {
		if o.ID == id {
			return o, nil
		}
	}
	return credits.StripeObject{}, fmt.Errorf("stripe: 404 resource_missing: No such %s: '%s': %w", objectType, id, credits.ErrNotFound)
}

func paidSession(f *fixture, id, pi string, amount int64, metadata map[string]string) credits.StripeObject {
	return credits.StripeObject{Type: credits.StripeCheckoutSessions, ID: id, Created: f.now, Session: &credits.StripeSession{
		ID: id, Mode: "payment", Status: "complete", PaymentStatus: "paid", AmountTotal: amount, AmountSubtotal: amount,
		Currency: "usd", PaymentIntent: pi, Metadata: metadata}}
}

func refundObject(f *fixture, id, pi string, amount int64, status string) credits.StripeObject {
	return credits.StripeObject{Type: credits.StripeRefunds, ID: id, Created: f.now, Refund: &credits.StripeRefund{
		ID: id, PaymentIntent: pi, Charge: "ch_" + pi, Amount: amount, Currency: "usd", Status: status}}
}

func piObject(f *fixture, id string, amount int64, status string, metadata map[string]string) credits.StripeObject {
	return credits.StripeObject{Type: credits.StripePaymentIntents, ID: id, Created: f.now, Metadata: metadata,
		PaymentIntent: &credits.StripePaymentIntent{ID: id, Status: status, Amount: amount, Currency: "usd", Metadata: metadata}}
}

// reconcile runs reconcile over the last day and reads what it found.
func (f *fixture) reconcile(lister credits.StripeLister, fix bool) credits.Reconciliation {
	f.t.Helper()
	if _, err := f.svc.Reconcile(context.Background(), lister, credits.ReconcileOptions{Window: 24 * time.Hour, Fix: fix}); err != nil {
		f.t.Fatalf("reconcile: %v", err)
	}
	got, err := f.svc.Reconciliation(context.Background(), 0)
	if err != nil {
		f.t.Fatal(err)
	}
	if got.Run.Status != credits.ReconcileSucceeded || got.Run.FinishedAt == nil || got.Run.Fix != fix {
		f.t.Errorf("run %+v, want succeeded, finished, fix %t", got.Run, fix)
	}
	return got
}

// kinds lists the items as kind:object, fixed ones marked.
func kinds(r credits.Reconciliation) string {
	var out []string
	for _, it := range r.Items {
		s := it.Kind + ":" + it.Object
		if it.Fixed {
			s += "(fixed)"
		}
		out = append(out, s)
	}
	return fmt.Sprint(out)
}

// ledger is what reconcile without --fix must leave as it was: every
// account's balance and entries, and the events received.
func (f *fixture) ledger() string {
	f.t.Helper()
	var out string
	err := f.db.View(context.Background(), func(tx credits.Tx) error {
		totals, err := tx.AccountTotals()
		if err != nil {
			return err
		}
		events, err := tx.Events(credits.EventFilter{Limit: 1000})
		out = fmt.Sprintf("%+v %d events", totals, len(events))
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// testReconcilePaidNotCredited: a session paid whose event never came is
// reported, left alone without --fix, and credited once by --fix however
// often it runs and when the real event comes after all.
func testReconcilePaidNotCredited(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.session("cs_1", "u1", "starter", 1)
	stripe := &memoryStripe{}
	stripe.add(paidSession(f, "cs_1", "pi_1", 500, map[string]string{"account_id": "u1"}))
	stripe.add(paidSession(f, "cs_other", "pi_other", 900, nil)) // not ours: no metadata, not recorded

	before := f.ledger()
	got := f.reconcile(stripe, false)
	if k := kinds(got); k != "[paid_not_credited:cs_1]" {
		t.Errorf("items %s", k)
	}
	if got.Run.Counts[credits.ItemPaidNotCredited] != 1 || got.Run.Listed() != 2 {
		t.Errorf("counts %v, listed %d", got.Run.Counts, got.Run.Listed())
	}
	if after := f.ledger(); after != before {
		t.Errorf("reconcile without --fix changed the ledger:\n%s\n%s", before, after)
	}
	for range 2 {
		got = f.reconcile(stripe, true)
		f.wantAccount("u1", 100, 100)
	}
	if k := kinds(got); k != "[]" {
		t.Errorf("items after the fix %s, want none", k)
	}
	if ev := f.deliver("evt_late", credits.EventCheckoutCompleted, testkit.Session{ID: "cs_1", PaymentStatus: "paid", AmountTotal: 500, Currency: "usd", PaymentIntent: "pi_1"}); ev.Error != "session already credited: nothing added" {
		t.Errorf("the real event after the fix: %+v", ev)
	}
	f.wantAccount("u1", 100, 100)
	if n := len(f.purchases("u1")); n != 1 {
		t.Errorf("%d purchases, want 1", n)
	}
}

// testReconcileFixRacesTheRealEvent: --fix and the real event, at once,
// credit once.
func testReconcileFixRacesTheRealEvent(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	stripe := &memoryStripe{}
	const sessions = 5
	for i := range sessions {
		id := fmt.Sprint("cs_race_", i)
		f.session(id, "u1", "starter", 1)
		stripe.add(paidSession(f, id, "pi_race_"+fmt.Sprint(i), 500, nil))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := f.svc.Reconcile(context.Background(), stripe, credits.ReconcileOptions{Window: time.Hour, Fix: true}); err != nil {
			t.Error(err)
		}
	}()
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := testkit.Session{ID: fmt.Sprint("cs_race_", i), PaymentStatus: "paid", AmountTotal: 500, Currency: "usd", PaymentIntent: fmt.Sprint("pi_race_", i)}
			if _, err := f.svc.HandleEvent(context.Background(), testkit.MustEvent(t, testkit.Event(fmt.Sprint("evt_race_", i), credits.EventCheckoutCompleted, false, s))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	f.wantAccount("u1", 100*sessions, 100*sessions)
	if n := len(f.purchases("u1")); n != sessions {
		t.Errorf("%d purchases, want %d", n, sessions)
	}
}

// testReconcileRefundNotTaken: a refund whose event was lost is taken once.
func testReconcileRefundNotTaken(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.buy("cs_1", "u1", "pi_1", 2) // 200 credits for $10.00
	stripe := &memoryStripe{}
	stripe.add(paidSession(f, "cs_1", "pi_1", 1000, nil))
	stripe.add(refundObject(f, "re_1", "pi_1", 250, "succeeded"))
	stripe.add(refundObject(f, "re_failed", "pi_1", 100, "failed"))               // took nothing: no item
	stripe.add(refundObject(f, "re_theirs", "pi_someone_else", 300, "succeeded")) // not ours

	before := f.ledger()
	if k := kinds(f.reconcile(stripe, false)); k != "[refund_not_taken:re_1]" {
		t.Errorf("items %s", k)
	}
	if f.ledger() != before {
		t.Error("reconcile without --fix changed the ledger")
	}
	if k := kinds(f.reconcile(stripe, true)); k != "[refund_not_taken:re_1(fixed)]" {
		t.Errorf("items of the fix %s", k)
	}
	f.wantDebt("u1", 150, 150, 0)
	if k := kinds(f.reconcile(stripe, true)); k != "[]" {
		t.Errorf("items after the fix %s", k)
	}
	// The real event, late, and the charge's total: nothing more.
	if ev := f.receive(testkit.Object("evt_r1", credits.EventChargeRefundUpdated, map[string]any{"id": "re_1", "object": "refund",
		"amount": 250, "currency": "usd", "status": "succeeded", "payment_intent": "pi_1", "charge": "ch_pi_1"})); ev.Status != credits.EventProcessed {
		t.Errorf("the real event: %+v", ev)
	}
	stripe.add(credits.StripeObject{Type: credits.StripeCharges, ID: "ch_pi_1", Created: f.now,
		Charge: &credits.StripeCharge{ID: "ch_pi_1", PaymentIntent: "pi_1", Amount: 1000, AmountRefunded: 250, Currency: "usd"}})
	if k := kinds(f.reconcile(stripe, true)); k != "[]" {
		t.Errorf("items after the real event %s", k)
	}
	f.wantDebt("u1", 150, 150, 0)
	// A second refund that only the charge's total shows.
	stripe.objects[credits.StripeCharges] = []credits.StripeObject{{Type: credits.StripeCharges, ID: "ch_pi_1", Created: f.now,
		Charge: &credits.StripeCharge{ID: "ch_pi_1", PaymentIntent: "pi_1", Amount: 1000, AmountRefunded: 500, Currency: "usd"}}}
	if k := kinds(f.reconcile(stripe, true)); k != "[refund_not_taken:ch_pi_1(fixed)]" {
		t.Errorf("items of a charge's refunded total %s", k)
	}
	f.wantDebt("u1", 100, 100, 0)
}

// testReconcileDisputeNotTaken: a dispute never delivered, its funds
// withdrawn, takes the credits once; its later loss is a new state.
func testReconcileDisputeNotTaken(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.buy("cs_1", "u1", "pi_1", 1)
	stripe := &memoryStripe{}
	dispute := credits.StripeObject{Type: credits.StripeDisputes, ID: "du_1", Created: f.now, FundsWithdrawn: true,
		Dispute: &credits.StripeDispute{ID: "du_1", PaymentIntent: "pi_1", Charge: "ch_1", Amount: 500, Currency: "usd", Status: "needs_response"}}
	stripe.add(dispute)
	if k := kinds(f.reconcile(stripe, false)); k != "[dispute_not_taken:du_1]" {
		t.Errorf("items %s", k)
	}
	f.wantDebt("u1", 100, 100, 0)
	for range 2 {
		f.reconcile(stripe, true)
		f.wantDebt("u1", 0, 0, 0)
	}
	// Won later: the funds come back, through the same path.
	won := dispute
	won.FundsReinstated = true
	won.Dispute = &credits.StripeDispute{ID: "du_1", PaymentIntent: "pi_1", Charge: "ch_1", Amount: 500, Currency: "usd", Status: "won"}
	stripe.objects[credits.StripeDisputes] = []credits.StripeObject{won}
	if k := kinds(f.reconcile(stripe, true)); k != "[dispute_not_taken:du_1(fixed)]" {
		t.Errorf("items of the won dispute %s", k)
	}
	f.wantDebt("u1", 100, 100, 0)
	if k := kinds(f.reconcile(stripe, true)); k != "[]" {
		t.Errorf("items after it %s", k)
	}
}

// testReconcileCreditedNotPaidAndAmounts: a purchase whose session Stripe
// says is unpaid, and one paid another amount, are reported, never fixed.
func testReconcileCreditedNotPaidAndAmounts(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.buy("cs_1", "u1", "pi_1", 1)
	f.buy("cs_2", "u1", "pi_2", 1)
	f.session("cs_3", "u1", "starter", 1) // sold for $5.00, paid $1.00, event lost
	stripe := &memoryStripe{}
	unpaid := paidSession(f, "cs_1", "pi_1", 500, nil)
	unpaid.Session.PaymentStatus, unpaid.Session.Status = "unpaid", "expired"
	stripe.add(unpaid)
	stripe.add(paidSession(f, "cs_2", "pi_2", 700, nil))
	stripe.add(paidSession(f, "cs_3", "pi_3", 100, nil))
	got := f.reconcile(stripe, true)
	if k := kinds(got); k != "[amount_mismatch:cs_3 amount_mismatch:cs_2 credited_not_paid:cs_1]" {
		t.Errorf("items %s", k)
	}
	f.wantAccount("u1", 200, 200)
	// The mismatched session's event is recorded for an operator to accept.
	if ev := f.event(got.Items[0].EventID); ev.Status != credits.EventUnmatched {
		t.Errorf("event of the mismatch: %+v", ev)
	}
}

// rechargeCredited is a recharge paid off-session and credited, through
// the fixture's card.
func rechargeCredited(t *testing.T, open Opener) (*fixture, credits.Recharge) {
	f, _ := rechargeFixture(t, open, 100, 50, 5000)
	f.debit("u1", 60)
	f.workRecharges()
	r := f.recharges("u1")[0]
	if r.Status != credits.RechargeSucceeded {
		t.Fatalf("recharge %+v", r)
	}
	return f, r
}

// testReconcileRechargeChargedTwice: a second payment intent made behind
// the service's back for one recharge is reported with the refund to
// make, and never refunded nor credited.
func testReconcileRechargeChargedTwice(t *testing.T, open Opener) {
	f, r := rechargeCredited(t, open)
	f.wantAccount("u1", 140, 140)
	meta := map[string]string{credits.RechargeMetadataKey: r.ID, "account_id": "u1"}
	stripe := &memoryStripe{}
	stripe.add(piObject(f, r.PaymentIntent, 500, "succeeded", meta))
	stripe.add(piObject(f, "pi_behind", 500, "succeeded", meta))
	stripe.add(piObject(f, "pi_unrelated", 500, "succeeded", nil))
	before := f.ledger()
	got := f.reconcile(stripe, true)
	if k := kinds(got); k != "[charged_twice:pi_behind]" {
		t.Fatalf("items %s", k)
	}
	if got.Items[0].Command != "stripe refunds create --payment-intent pi_behind" || got.Items[0].AccountID != "u1" {
		t.Errorf("item %+v", got.Items[0])
	}
	if f.ledger() != before {
		t.Error("--fix changed the ledger for a payment charged twice")
	}
}

// testReconcileRechargePaidNotCreditedAndStuck: a recharge left processing
// is stuck after a day; its payment, succeeded in Stripe, is credited once
// through payment_intent.succeeded's path.
func testReconcileRechargePaidNotCreditedAndStuck(t *testing.T, open Opener) {
	f, pay := rechargeFixture(t, open, 100, 50, 5000)
	pay.script = []credits.ChargeResult{stillPending}
	f.debit("u1", 60)
	f.workRecharges()
	r := f.recharges("u1")[0]
	if r.Status != credits.RechargeProcessing {
		t.Fatalf("recharge %+v", r)
	}
	f.now = f.now.Add(credits.StuckRechargeAfter + time.Minute)
	stripe := &memoryStripe{}
	if k := kinds(f.reconcile(stripe, false)); k != "[stuck:"+r.ID+"]" {
		t.Errorf("items %s", k)
	}
	stripe.add(piObject(f, r.PaymentIntent, 500, "succeeded", map[string]string{credits.RechargeMetadataKey: r.ID, "account_id": "u1"}))
	if k := kinds(f.reconcile(stripe, false)); k != "[paid_not_credited:"+r.PaymentIntent+" stuck:"+r.ID+"]" {
		t.Errorf("items %s", k)
	}
	// --fix racing the real payment_intent.succeeded, then once more.
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if _, err := f.svc.Reconcile(context.Background(), stripe, credits.ReconcileOptions{Window: time.Hour, Fix: true}); err != nil {
			t.Error(err)
		}
	}()
	go func() {
		defer wg.Done()
		payload := testkit.PaymentIntent("evt_pi_real", credits.EventPaymentIntentSucceeded, r.PaymentIntent, 500,
			map[string]string{credits.RechargeMetadataKey: r.ID}, "", "")
		if _, err := f.svc.HandleEvent(context.Background(), testkit.MustEvent(t, payload)); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
	f.wantAccount("u1", 140, 140)
	f.reconcile(stripe, true)
	f.wantAccount("u1", 140, 140)
	if got := statuses(f.recharges("u1")); got != "succeeded" {
		t.Errorf("recharges %q", got)
	}
}

// testReconcileStuckEvent: an event still pending an hour after it came
// is reported.
func testReconcileStuckEvent(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.svc.Payments = unreachable{}
	f.account("u1", "u1@example.com")
	f.deliver("evt_foreign", credits.EventCheckoutCompleted, testkit.Session{ID: "cs_foreign", PaymentStatus: "paid", CustomerEmail: "u1@example.com"})
	if k := kinds(f.reconcile(&memoryStripe{}, false)); k != "[]" {
		t.Errorf("items of a fresh event %s", k)
	}
	f.now = f.now.Add(credits.StuckEventAfter + time.Second)
	if k := kinds(f.reconcile(&memoryStripe{}, false)); k != "[stuck:evt_foreign]" {
		t.Errorf("items %s", k)
	}
}

// testReconcileResumes: a run that stops half way continues where it
// stopped, as the same run, unless restarted.
func testReconcileResumes(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	stripe := &memoryStripe{failAfter: 3}
	for i := range 5 {
		id := fmt.Sprint("cs_", i)
		f.session(id, "u1", "starter", 1)
		stripe.add(paidSession(f, id, "pi_"+id, 500, nil))
	}
	first, err := f.svc.Reconcile(context.Background(), stripe, credits.ReconcileOptions{Window: time.Hour})
	if err == nil {
		t.Fatal("a list that fails half way: no error")
	}
	f.now = f.now.Add(time.Minute)
	second, err := f.svc.Reconcile(context.Background(), stripe, credits.ReconcileOptions{Window: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || second.Listed() != 5 || second.Counts[credits.ItemPaidNotCredited] != 5 {
		t.Errorf("continued run %+v, first %s", second, first.ID)
	}
	if want := []string{"checkout_sessions:", "checkout_sessions:cs_3"}; !slices.Equal(stripe.asked[:2], want) {
		t.Errorf("lists asked %v, want %v first", stripe.asked, want)
	}
	var told []int64
	progress := func(run credits.ReconcileRun) { told = append(told, run.Listed()) }
	third, err := f.svc.Reconcile(context.Background(), stripe, credits.ReconcileOptions{Window: time.Hour, Restart: true, Progress: progress})
	if err != nil || third.ID == first.ID || third.Listed() != 5 {
		t.Errorf("a restart: %+v (%v)", third, err)
	}
	if fmt.Sprint(told) != "[1 2 3 4 5]" {
		t.Errorf("progress told %v, want each object", told)
	}
	f.wantAccount("u1", 0, 0)
}

// testReconcileWorkerSchedule: the worker's run fixes, comes once a
// period, and continues a run left interrupted once it is stale.
func testReconcileWorkerSchedule(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.session("cs_1", "u1", "starter", 1)
	stripe := &memoryStripe{}
	stripe.add(paidSession(f, "cs_1", "pi_1", 500, nil))
	ifDue := func() (credits.ReconcileRun, bool) {
		t.Helper()
		run, ran, err := f.svc.ReconcileIfDue(context.Background(), stripe, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return run, ran
	}
	if run, ran := ifDue(); !ran || !run.Fix || run.Counts[credits.ItemPaidNotCredited] != 1 {
		t.Fatalf("first run: %t %+v", ran, run)
	}
	f.wantAccount("u1", 100, 100)
	f.now = f.now.Add(23 * time.Hour)
	if _, ran := ifDue(); ran {
		t.Error("a second run within the period")
	}
	f.now = f.now.Add(time.Hour)
	if _, ran := ifDue(); !ran {
		t.Error("no run a period later")
	}
	f.now = f.now.Add(24 * time.Hour)
	stripe.failAfter = 1
	stopped, err := f.svc.Reconcile(context.Background(), stripe, credits.ReconcileOptions{Fix: true})
	if err == nil {
		t.Fatal("a failing list: no error")
	}
	f.now = f.now.Add(time.Minute)
	if _, ran := ifDue(); ran {
		t.Error("the worker took over a run that may still be going")
	}
	f.now = f.now.Add(credits.ReconcileStaleAfter)
	if run, ran := ifDue(); !ran || run.ID != stopped.ID || run.Status != credits.ReconcileSucceeded {
		t.Errorf("the stale run: %t %+v, want %s continued", ran, run, stopped.ID)
	}
	f.wantAccount("u1", 100, 100)
}

// goneCursor is memoryStripe answering as the stripe package's lister does
// when Stripe no longer has the object a list continues after.
type goneCursor struct{ *memoryStripe }

func (g goneCursor) ListStripe(ctx context.Context, objectType string, since time.Time, startingAfter string) iter.Seq2[credits.StripeObject, error] {
	g.mu.Lock()
	found := startingAfter == ""
	for _, o := range g.objects[objectType] {
		found = found || o.ID == startingAfter
	}
	g.mu.Unlock()
	if !found {
		return func(yield func(credits.StripeObject, error) bool) {
			g.mu.Lock()
			g.asked = append(g.asked, objectType+":"+startingAfter)
			g.mu.Unlock()
			yield(credits.StripeObject{}, fmt.Errorf("stripe: list %s after %s: %w", objectType, startingAfter, credits.ErrStripeCursorGone))
		}
	}
	return g.memoryStripe.ListStripe(ctx, objectType, since, startingAfter)
}

// testReconcileCursorGone: a run continued after its cursor's object
// vanished from Stripe lists that type again from the newest, as the same
// run, and succeeds.
func testReconcileCursorGone(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	mem := &memoryStripe{failAfter: 2}
	mem.add(paidSession(f, "cs_old_1", "pi_old_1", 500, nil))
	mem.add(paidSession(f, "cs_old_2", "pi_old_2", 500, nil))
	ctx := context.Background()
	first, err := f.svc.Reconcile(ctx, goneCursor{mem}, credits.ReconcileOptions{Window: time.Hour, Fix: true})
	if err == nil {
		t.Fatal("the first run did not stop")
	}
	mem.mu.Lock()
	mem.objects, mem.asked = nil, nil
	mem.mu.Unlock()
	f.session("cs_1", "u1", "starter", 1)
	mem.add(paidSession(f, "cs_1", "pi_1", 500, nil))
	second, err := f.svc.Reconcile(ctx, goneCursor{mem}, credits.ReconcileOptions{Window: time.Hour, Fix: true})
	if err != nil || second.ID != first.ID || second.Status != credits.ReconcileSucceeded {
		t.Fatalf("the continued run: %+v (%v), want %s succeeded", second, err, first.ID)
	}
	if want := []string{"checkout_sessions:cs_old_2", "checkout_sessions:"}; !slices.Equal(mem.asked[:2], want) {
		t.Errorf("lists asked %v, want %v first", mem.asked, want)
	}
	f.wantAccount("u1", 100, 100)
}

// testReconcileChargeRefundedWentDown: charge.refunded said a refund took
// the money back; the refund then failed, its own events lost, and no list
// shows the refund: the charge's refunded total went down. It is reported,
// and --fix gives the credits back once.
func testReconcileChargeRefundedWentDown(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.buy("cs_1", "u1", "pi_1", 1)
	if ev := f.receive(testkit.ChargeRefunded("evt_cr1", "ch_pi_1", "pi_1", 500, 500)); ev.Status != credits.EventProcessed {
		t.Fatalf("charge.refunded: %+v", ev)
	}
	f.wantDebt("u1", 0, 0, 0)
	// The service's clock after the event's time (the suite's events are
	// dated by the real clock): the snapshot read now is the newer one.
	f.now = time.Now().Add(time.Hour).UTC()
	stripe := &memoryStripe{}
	stripe.add(credits.StripeObject{Type: credits.StripeCharges, ID: "ch_pi_1", Created: f.now,
		Charge: &credits.StripeCharge{ID: "ch_pi_1", PaymentIntent: "pi_1", Amount: 500, AmountRefunded: 0, Currency: "usd"}})
	before := f.ledger()
	if k := kinds(f.reconcile(stripe, false)); k != "[refund_not_taken:ch_pi_1]" {
		t.Errorf("items %s", k)
	}
	if f.ledger() != before {
		t.Error("reconcile without --fix changed the ledger")
	}
	for range 2 {
		f.reconcile(stripe, true)
		f.wantDebt("u1", 100, 100, 0)
	}
	if k := kinds(f.reconcile(stripe, true)); k != "[]" {
		t.Errorf("items after the fix %s", k)
	}
}

// testReconcileRetrievesUnsettled: only the refunds and disputes that the
// ledger holds as not final, and that no list of the run showed, are
// retrieved by id; one Stripe no longer has is skipped; a read-only run
// reports what changed and changes nothing.
func testReconcileRetrievesUnsettled(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.buy("cs_1", "u1", "pi_1", 1)
	f.buy("cs_2", "u1", "pi_2", 1)
	f.buy("cs_3", "u1", "pi_3", 1)
	refund := func(id, pi, status string) {
		t.Helper()
		if ev := f.receive(testkit.Object("evt_"+id, credits.EventRefundCreated, map[string]any{"id": id, "object": "refund",
			"amount": 500, "currency": "usd", "status": status, "payment_intent": pi, "charge": "ch_" + pi})); ev.Status != credits.EventProcessed {
			t.Fatalf("refund %s: %+v", id, ev)
		}
	}
	refund("re_pending", "pi_1", "pending")
	refund("re_done", "pi_2", "succeeded")
	refund("re_gone", "pi_3", "requires_action")
	f.receive(testkit.Dispute("evt_d1", credits.EventDisputeCreated, "du_lost", "pi_1", 500, "lost"))
	f.wantDebt("u1", 0, 0, 0)
	created := f.now
	f.now = f.now.Add(60 * 24 * time.Hour)
	stripe := &memoryStripe{}
	failed := refundObject(f, "re_pending", "pi_1", 500, "failed")
	failed.Created = created
	stripe.add(failed)
	before := f.ledger()
	if k := kinds(f.reconcile(stripe, false)); k != "[refund_not_taken:re_pending]" {
		t.Errorf("items %s", k)
	}
	if f.ledger() != before {
		t.Error("reconcile without --fix changed the ledger")
	}
	slices.Sort(stripe.retrieved)
	if want := []string{"refunds:re_gone", "refunds:re_pending"}; !slices.Equal(stripe.retrieved, want) {
		t.Errorf("retrieved %v, want %v", stripe.retrieved, want)
	}
	// Listed within the window, it is not retrieved again.
	stripe.objects[credits.StripeRefunds][0].Created = f.now
	stripe.retrieved = nil
	if k := kinds(f.reconcile(stripe, true)); k != "[refund_not_taken:re_pending(fixed)]" {
		t.Errorf("items of the fix %s", k)
	}
	if want := []string{"refunds:re_gone"}; !slices.Equal(stripe.retrieved, want) {
		t.Errorf("retrieved %v, want %v", stripe.retrieved, want)
	}
	f.wantDebt("u1", 0, 0, 0) // pi_1's credits stay taken by its lost dispute
	if k := kinds(f.reconcile(stripe, true)); k != "[]" {
		t.Errorf("items after the fix %s", k)
	}
}

// testReconcileResumeKeepsWhatItSaw: what a run keeps in memory (the first
// payment of a checkout reference, the payments a refund item named) is
// lost when it stops; the continued run still finds the second payment
// charged twice, and does not report a refund again through its charge.
func testReconcileResumeKeepsWhatItSaw(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("charged twice across the stop", func(t *testing.T) {
		f := newFixture(t, open)
		f.account("u1", "u1@example.com")
		meta := map[string]string{"credits_checkout": "chk_x", "account_id": "u1"}
		stripe := &memoryStripe{failAfter: 2}
		stripe.add(piObject(f, "pi_a", 500, "succeeded", meta))
		stripe.add(piObject(f, "pi_b", 500, "succeeded", meta))
		if _, err := f.svc.Reconcile(ctx, stripe, credits.ReconcileOptions{Window: time.Hour}); err == nil {
			t.Fatal("the first run did not stop")
		}
		got := f.reconcile(stripe, false)
		if k := kinds(got); k != "[charged_twice:pi_a]" {
			t.Errorf("items %s", k)
		}
	})
	t.Run("a refund and its charge across the stop", func(t *testing.T) {
		f := newFixture(t, open)
		f.pack("starter", 100, "")
		f.account("u1", "u1@example.com")
		f.buy("cs_1", "u1", "pi_1", 1)
		stripe := &memoryStripe{failAfter: 2}
		stripe.add(refundObject(f, "re_1", "pi_1", 500, "succeeded"))
		stripe.add(credits.StripeObject{Type: credits.StripeCharges, ID: "ch_pi_1", Created: f.now,
			Charge: &credits.StripeCharge{ID: "ch_pi_1", PaymentIntent: "pi_1", Amount: 500, AmountRefunded: 500, Currency: "usd"}})
		if _, err := f.svc.Reconcile(ctx, stripe, credits.ReconcileOptions{Window: time.Hour}); err == nil {
			t.Fatal("the first run did not stop")
		}
		if k := kinds(f.reconcile(stripe, false)); k != "[refund_not_taken:re_1]" {
			t.Errorf("items %s: the refund reported again through its charge", k)
		}
	})
}
