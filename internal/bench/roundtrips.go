package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/stripe"
)

// roundTripCounter is a store that counts its round trips to the server
// (PostgreSQL's).
type roundTripCounter interface {
	credits.Store
	RoundTrips() int64
}

// roundTripGuard is one path's round trips and the count it was brought
// down to (docs/architecture.md): more is printed as a warning, never a
// failure, since a correct change may add a query; the figures then say
// what it cost.
type roundTripGuard struct {
	Path  string `json:"path"`
	Got   int64  `json:"round_trips"`
	Limit int64  `json:"limit"`
}

// guardStore runs the round-trip guards on a store that counts its round
// trips (PostgreSQL's); none elsewhere.
func guardStore(ctx context.Context, store credits.Store, run string) ([]roundTripGuard, error) {
	db, ok := store.(roundTripCounter)
	if !ok {
		return nil, nil
	}
	return guardRoundTrips(ctx, db, run)
}

// guardRoundTrips runs each guarded path once, on accounts of its own, and
// counts its round trips: a debit takes BEGIN with the lock, the lots, the
// entry's id and the key's lookup in one, and every write with the COMMIT in
// the other; a read of one account is one statement; a purchase is seven,
// and a second event for its session five.
func guardRoundTrips(ctx context.Context, db roundTripCounter, run string) ([]roundTripGuard, error) {
	svc := credits.NewService(db)
	account := "bench-rt-" + run
	if _, err := svc.CreateAccount(ctx, account, account+"@example.com"); err != nil {
		return nil, err
	}
	for range 2 {
		if _, _, err := svc.Grant(ctx, account, credits.GrantRequest{Amount: 10}, nil); err != nil {
			return nil, err
		}
	}
	key := func(k string) *credits.Idempotency {
		return &credits.Idempotency{Scope: "k/" + account, Key: k, RequestHash: credits.HashRequest("debit", k)}
	}
	var guards []roundTripGuard
	count := func(path string, limit int64, fn func() error) error {
		before := db.RoundTrips()
		if err := fn(); err != nil {
			return fmt.Errorf("round trips of %s: %w", path, err)
		}
		guards = append(guards, roundTripGuard{Path: path, Got: db.RoundTrips() - before, Limit: limit})
		return nil
	}
	debit := func(amount int64, idem *credits.Idempotency) func() error {
		return func() error {
			_, _, err := svc.Debit(ctx, account, credits.DebitRequest{Amount: amount}, idem)
			return err
		}
	}
	for _, g := range []struct {
		path  string
		limit int64
		fn    func() error
	}{
		{"debit with a key", 2, debit(1, key("a"))},
		{"debit without a key", 2, debit(1, nil)},
		{"debit from two lots", 2, debit(10, key("b"))},
		{"read of an account", 1, func() error { _, err := svc.GetAccount(ctx, account); return err }},
		{"debit with an event", 2, debit(8, key("c"))}, // empties the account: balance.depleted
	} {
		if err := count(g.path, g.limit, g.fn); err != nil {
			return nil, err
		}
	}
	if err := guardPurchaseRoundTrips(ctx, svc, db, run, count); err != nil {
		return nil, err
	}
	if err := guardUsageRoundTrips(ctx, svc, run, count); err != nil {
		return nil, err
	}
	if err := guardMemberRoundTrips(ctx, svc, run, count); err != nil {
		return nil, err
	}
	return guards, nil
}

// guardPurchaseRoundTrips counts a purchase (a checkout.session.completed of
// a paid session) and a second event for the same session.
func guardPurchaseRoundTrips(ctx context.Context, svc *credits.Service, db credits.Store, run string, count func(string, int64, func() error) error) error {
	account, pack, session := "bench-rt-buyer-"+run, "bench-rt-"+run, "cs_bench_rt_"+run
	if _, err := svc.CreateAccount(ctx, account, account+"@example.com"); err != nil {
		return err
	}
	now := time.Now()
	if err := db.Update(ctx, func(tx credits.Tx) error {
		if err := tx.CreatePack(credits.Pack{ID: pack, Name: "Round trips", Credits: 100, UnitAmount: 500, Currency: "usd", Active: true, CreatedAt: now}); err != nil {
			return err
		}
		return tx.CreateCheckoutSession(credits.CheckoutSession{ID: session, AccountID: account, PackID: pack, Quantity: 1, ExpectedAmount: 500,
			Currency: "usd", Status: credits.SessionOpen, CreatedAt: now, UpdatedAt: now})
	}); err != nil {
		return err
	}
	for _, g := range []struct {
		path  string
		limit int64
		event string
	}{
		{"purchase", 8, "evt_bench_rt_1_" + run},
		{"purchase, second event", 6, "evt_bench_rt_2_" + run},
	} {
		ev, err := stripe.ParseEvent(fmt.Appendf(nil, `{"id":%q,"object":"event","type":"checkout.session.completed","livemode":false,`+
			`"data":{"object":{"id":%q,"object":"checkout.session","mode":"payment","status":"complete","payment_status":"paid",`+
			`"payment_intent":"pi_bench_rt_%s","amount_total":500,"currency":"usd","metadata":{}}}}`, g.event, session, run))
		if err != nil {
			return err
		}
		handle := func() error {
			got, err := svc.HandleEvent(ctx, ev)
			if err == nil && got.Status != credits.EventProcessed {
				err = fmt.Errorf("event %s: %s %s, want processed", got.ID, got.Status, got.Error)
			}
			return err
		}
		if err := count(g.path, g.limit, handle); err != nil {
			return err
		}
	}
	return nil
}

// printRoundTrips prints the guards, and a warning for each path over its
// count.
func printRoundTrips(w io.Writer, guards []roundTripGuard) {
	if len(guards) == 0 {
		return
	}
	fmt.Fprintf(w, "round trips (PostgreSQL):")
	for _, g := range guards {
		fmt.Fprintf(w, " %s %d/%d;", g.Path, g.Got, g.Limit)
	}
	fmt.Fprintln(w)
	for _, g := range guards {
		if g.Got > g.Limit {
			fmt.Fprintf(w, "WARNING: a %s took %d round trips, more than the %d it was brought down to: a change added a query\n", g.Path, g.Got, g.Limit)
		}
	}
}
