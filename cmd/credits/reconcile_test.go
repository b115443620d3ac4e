package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/progress"
	"github.com/credits/credits/internal/stripestub"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/stripe"
)

func TestReconcileEverySetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", 24 * time.Hour, false},
		{"0", 0, false},
		{"6h", 6 * time.Hour, false},
		{"30m", 0, true},
		{"-1h", 0, true},
		{"daily", 0, true},
	}
	for _, tt := range tests {
		m := NewMain(&bytes.Buffer{}, &bytes.Buffer{})
		err := m.ParseFlags(nil, env(map[string]string{"CREDITS_RECONCILE_EVERY": tt.value}))
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "CREDITS_RECONCILE_EVERY") {
				t.Errorf("%q: %v, want an error naming CREDITS_RECONCILE_EVERY", tt.value, err)
			}
			continue
		}
		if err != nil || m.Config.reconcileEvery != tt.want {
			t.Errorf("%q: %v (%v), want %v", tt.value, m.Config.reconcileEvery, err, tt.want)
		}
	}
}

// TestReconcilerOnlyWithStripe: serve's worker reconciles only with a
// Stripe key, never in the offline demo, and not when turned off.
func TestReconcilerOnlyWithStripe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vars map[string]string
		want bool
	}{
		{"a Stripe key", map[string]string{"STRIPE_SECRET_KEY": "sk_test_123"}, true},
		{"turned off", map[string]string{"STRIPE_SECRET_KEY": "sk_test_123", "CREDITS_RECONCILE_EVERY": "0"}, false},
		{"the offline demo", nil, false},
	}
	for _, tt := range tests {
		m := NewMain(&bytes.Buffer{}, &bytes.Buffer{})
		if err := m.ParseFlags(nil, env(tt.vars)); err != nil {
			t.Fatal(err)
		}
		db, _ := testkit.OpenSQLite(t)
		m.Service = m.newService(db) // in development without a key: the demo's checkout
		if got := m.reconcileLister() != nil; got != tt.want {
			t.Errorf("%s: reconciles %t, want %t", tt.name, got, tt.want)
		}
	}
}

// reconcileCLI runs credits commands on one database against the Stripe
// stand-in, through the real stripe client.
type reconcileCLI struct {
	t    *testing.T
	vars map[string]string
}

func (c reconcileCLI) ok(args ...string) []byte {
	c.t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, env(c.vars), &stdout, &stderr); code != 0 {
		c.t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
	}
	return stdout.Bytes()
}

// reconcile runs `credits reconcile --json` and lists its items as
// kind:object, marking fixed ones.
func (c reconcileCLI) reconcile(args ...string) (string, credits.Reconciliation) {
	c.t.Helper()
	var rec credits.Reconciliation
	if err := json.Unmarshal(c.ok(append([]string{"reconcile", "--json"}, args...)...), &rec); err != nil {
		c.t.Fatal(err)
	}
	var items []string
	for _, it := range rec.Items {
		s := it.Kind + ":" + it.Object
		if it.Fixed {
			s += "(fixed)"
		}
		items = append(items, s)
	}
	return strings.Join(items, " "), rec
}

func (c reconcileCLI) balance() int64 {
	c.t.Helper()
	var a credits.Account
	if err := json.Unmarshal(c.ok("accounts", "show", "u1", "--json"), &a); err != nil {
		c.t.Fatal(err)
	}
	return a.Balance
}

// TestReconcileAgainstTheStandIn: drift made in the stateful Stripe
// stand-in (a session paid whose event never came, a refund and a dispute
// made in the Dashboard, a second payment for one checkout) is reported by
// `credits reconcile`, healed once by --fix, and verify stays clean.
func TestReconcileAgainstTheStandIn(t *testing.T) {
	t.Parallel()
	stub := stripestub.Start(t)
	cli := reconcileCLI{t: t, vars: map[string]string{"CREDITS_DATABASE_URL": filepath.Join(t.TempDir(), "reconcile.db"),
		"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_API_BASE": stub.URL}}
	cli.ok("migrate")
	cli.ok("packs", "create", "--id", "starter", "--name", "Starter", "--credits", "100", "--unit-amount", "500", "--currency", "usd")
	cli.ok("accounts", "create", "--id", "u1", "--email", "u1@example.com")
	session := createCheckout(t, cli.vars)
	stub.CompleteSession(session, "pm_card_visa") // paid; its event is never delivered
	pi := stub.SucceededPaymentIntents()[0]

	if items, rec := cli.reconcile(); items != "paid_not_credited:"+session || rec.Run.Fix || rec.Run.Listed() == 0 {
		t.Fatalf("read-only run: %s, %+v", items, rec.Run)
	}
	if got := cli.balance(); got != 0 {
		t.Fatalf("a read-only run credited %d", got)
	}
	for i, want := range []string{"paid_not_credited:" + session + "(fixed)", ""} {
		if items, _ := cli.reconcile("--fix"); items != want {
			t.Errorf("fix %d: %s, want %q", i, items, want)
		}
		if got := cli.balance(); got != 100 {
			t.Errorf("fix %d: balance %d, want 100", i, got)
		}
	}

	refund := stub.CreateRefund(pi.ID, 250) // half, from the Dashboard; its event lost
	if items, _ := cli.reconcile("--fix"); items != "refund_not_taken:"+refund.ID+"(fixed)" {
		t.Errorf("refund: %s", items)
	}
	dispute := stub.Dispute(pi.ID, "needs_response")
	if items, _ := cli.reconcile("--fix"); items != "dispute_not_taken:"+dispute.ID+"(fixed)" {
		t.Errorf("dispute: %s", items)
	}
	if got := cli.balance(); got != 0 {
		t.Errorf("balance after the refund and the dispute: %d, want 0", got)
	}

	// A second payment for the same checkout, made behind the service's back.
	twice := stub.CreatePaymentIntent(stripestub.PaymentIntentParams{Amount: 500, Currency: "usd", PaymentMethod: "pm_card_visa",
		Confirm: true, Metadata: map[string]string{"credits_checkout": pi.Metadata["credits_checkout"], "account_id": "u1"}})
	items, rec := cli.reconcile("--fix")
	if items != "charged_twice:"+twice.ID || rec.Items[0].Command != "stripe refunds create --payment-intent "+twice.ID {
		t.Errorf("charged twice: %s %+v", items, rec.Items)
	}
	if n := len(stub.Refunds()); n != 1 {
		t.Errorf("%d refunds in Stripe, want the one made in the Dashboard: reconcile never refunds", n)
	}
	if n := len(stub.SucceededPaymentIntents()); n != 2 {
		t.Errorf("%d payments in Stripe, want 2: reconcile never charges", n)
	}

	// --fix racing the real event of another paid session: one credit.
	raced := createCheckout(t, cli.vars)
	stub.CompleteSession(raced, "pm_card_visa")
	delivered := make(chan error, 1)
	go func() { delivered <- deliver(cli.vars, stub.EventFor("checkout.session.completed", raced)) }()
	cli.reconcile("--fix")
	if err := <-delivered; err != nil {
		t.Fatal(err)
	}
	if got := cli.balance(); got != 100 {
		t.Errorf("balance after --fix raced the real event: %d, want 100", got)
	}
	cli.ok("verify")
}

// deliver applies a Stripe event as the webhook does, on its own store.
func deliver(vars map[string]string, payload []byte) error {
	ctx := context.Background()
	db, err := openExisting(ctx, vars["CREDITS_DATABASE_URL"], false)
	if err != nil {
		return err
	}
	defer db.Close()
	ev, err := stripe.ParseEvent(payload)
	if err != nil {
		return err
	}
	_, err = credits.NewService(db).HandleEvent(ctx, ev)
	return err
}

// createCheckout opens a Checkout Session for u1 through the service and
// the real client, as POST /v1/accounts/u1/checkout_sessions does.
func createCheckout(t *testing.T, vars map[string]string) string {
	t.Helper()
	ctx := context.Background()
	db, err := openExisting(ctx, vars["CREDITS_DATABASE_URL"], false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := credits.NewService(db)
	svc.Payments = stripe.NewClient(vars["STRIPE_SECRET_KEY"], vars["STRIPE_API_BASE"])
	cs, _, err := svc.CreateCheckout(ctx, "u1", "starter", 1, false,
		credits.ReturnURLs{Success: "http://localhost/ok", Cancel: "http://localhost/cancel"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cs.ID
}

// TestReconcileProgress: a long run prints a line with its counts every
// few seconds, and nothing more often.
func TestReconcileProgress(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	clock := time.Unix(1_790_000_000, 0)
	report, finish := reconcileProgress(progress.Output{W: &stderr, Now: func() time.Time { return clock }})
	run := credits.ReconcileRun{ID: "rec_1", Progress: map[string]credits.ReconcileProgress{}, Counts: map[string]int64{credits.ItemStuck: 2}}
	for i := range 10_000 {
		clock = clock.Add(time.Millisecond) // 10 s in all
		run.Progress[credits.StripeCheckoutSessions] = credits.ReconcileProgress{Listed: int64(i + 1)}
		report(run)
	}
	finish()
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 3 || lines[0] != "reconcile: 5000 Stripe objects listed, checkout_sessions 5000; stuck 2" {
		t.Errorf("progress lines %q, want 2, every 5 s", lines)
	}
}

// TestReconcileRetrievesWhatTheWindowMisses: a dispute opened before the
// period is decided now, its events lost; the list of the period does not
// show it, so reconcile retrieves it by id (the ledger holds it as open)
// and gives the credits back once.
func TestReconcileRetrievesWhatTheWindowMisses(t *testing.T) {
	stub := stripestub.Start(t)
	cli := reconcileCLI{t: t, vars: map[string]string{"CREDITS_DATABASE_URL": filepath.Join(t.TempDir(), "reconcile.db"),
		"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_API_BASE": stub.URL}}
	cli.ok("migrate")
	cli.ok("packs", "create", "--id", "starter", "--name", "Starter", "--credits", "100", "--unit-amount", "500", "--currency", "usd")
	cli.ok("accounts", "create", "--id", "u1", "--email", "u1@example.com")
	opened := time.Now().Add(-40 * 24 * time.Hour)
	stub.SetNow(func() time.Time { return opened })
	session := createCheckout(t, cli.vars)
	stub.CompleteSession(session, "pm_card_visa")
	pi := stub.SucceededPaymentIntents()[0]
	dispute := stub.Dispute(pi.ID, "needs_response")
	stub.SetNow(time.Now)
	if items, _ := cli.reconcile("--fix", "--since", "1200h"); items != "paid_not_credited:"+session+"(fixed) dispute_not_taken:"+dispute.ID+"(fixed)" {
		t.Fatalf("items %s", items)
	}
	if got := cli.balance(); got != 0 {
		t.Fatalf("balance %d after the dispute, want 0", got)
	}
	stub.SetDisputeStatus(dispute.ID, "won") // its events are never delivered
	for i, want := range []string{"dispute_not_taken:" + dispute.ID + "(fixed)", ""} {
		if items, _ := cli.reconcile("--fix"); items != want { // the default period: 30 days
			t.Errorf("run %d: %s, want %q", i, items, want)
		}
		if got := cli.balance(); got != 100 {
			t.Errorf("run %d: balance %d, want 100", i, got)
		}
	}
	cli.ok("verify")
}
