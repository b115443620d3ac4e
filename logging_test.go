package credits_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// rollingBack is a store whose writes all fail after their work is done, as
// a commit that fails would: nothing they did is kept.
type rollingBack struct{ credits.Store }

var errCommit = errors.New("the commit failed")

func (r rollingBack) Update(ctx context.Context, fn func(credits.Tx) error) error {
	return r.Store.Update(ctx, func(tx credits.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errCommit
	})
}

// TestPurchaseLoggedAfterCommit: "credits added" is logged once a purchase
// has committed, and never for one that rolled back (it was logged inside
// the transaction, by the SQLite writer that every write waits for).
func TestPurchaseLoggedAfterCommit(t *testing.T) {
	for _, tt := range []struct {
		name     string
		failing  bool
		wantLogs int
	}{
		{"committed", false, 1},
		{"rolled back", true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, _ := testkit.OpenSQLite(t)
			svc := credits.NewService(db)
			if _, err := svc.CreatePack(ctx, credits.Pack{ID: "starter", Name: "Starter", Credits: 100, UnitAmount: 500, Currency: "usd", StripePriceID: "price_starter", Active: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.CreateAccount(ctx, "u1", "u1@example.com"); err != nil {
				t.Fatal(err)
			}
			now := svc.Now()
			err := db.Update(ctx, func(tx credits.Tx) error {
				return tx.CreateCheckoutSession(credits.CheckoutSession{ID: "cs_1", AccountID: "u1", PackID: "starter", Quantity: 1,
					ExpectedAmount: 500, Currency: "usd", Status: credits.SessionOpen, CreatedAt: now, UpdatedAt: now})
			})
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			svc.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			if tt.failing {
				svc.Store = rollingBack{db}
			}
			session := testkit.Session{ID: "cs_1", PaymentStatus: "paid", AmountTotal: 500, Currency: "usd", PaymentIntent: "pi_1"}
			_, err = svc.HandleEvent(ctx, testkit.MustEvent(t, testkit.Event("evt_1", credits.EventCheckoutCompleted, false, session)))
			if got, want := errors.Is(err, errCommit), tt.failing; got != want {
				t.Fatalf("HandleEvent: %v, want the commit's failure: %v", err, want)
			}
			if got := strings.Count(logs.String(), "credits added"); got != tt.wantLogs {
				t.Errorf("%d lines say credits were added, want %d:\n%s", got, tt.wantLogs, logs.String())
			}
		})
	}
}
