package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// holdsExpiryAttackTests attack the settlement that expires due holds
// together (expireHolds): it must end as closing them one by one would.
var holdsExpiryAttackTests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"HoldsAttackDueHoldsPayDebt", testHoldsAttackDueHoldsPayDebt},
}

// testHoldsAttackDueHoldsPayDebt: an account owes credits (a refund took
// back a purchase it had spent) while a hold reserves all of a grant. When
// the hold expires, what it frees pays the debt back, as a release would:
// no credit is left spendable while a debt is owed.
func testHoldsAttackDueHoldsPayDebt(t *testing.T, open Opener) {
	ctx := context.Background()
	for _, settle := range []string{"sweep", "read", "release"} {
		t.Run(settle, func(t *testing.T) {
			f := newFixture(t, open)
			f.pack("starter", 100, "")
			f.account("u1", "u1@example.com")
			f.buy("cs_1", "u1", "pi_1", 1)
			if _, err := f.debit("u1", 100); err != nil {
				t.Fatal(err)
			}
			f.grant("u1", 50, 0, 0)
			h := f.hold("u1", 50, time.Minute)
			f.receive(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 500, 500))
			f.wantDebt("u1", -50, -100, 100) // the grant is all held: none of it paid
			f.now = f.now.Add(2 * time.Minute)
			switch settle {
			case "sweep":
				if _, err := f.svc.SweepExpired(ctx); err != nil {
					t.Fatal(err)
				}
			case "read":
			case "release":
				if _, err := f.svc.ReleaseHold(ctx, h.ID); credits.ErrorCode(err) != credits.ECONFLICT {
					t.Errorf("release of an expired hold: %v; want conflict", err)
				}
			}
			f.wantDebt("u1", -50, -50, 50)
			if got, err := f.svc.GetHold(ctx, h.ID); err != nil || got.Status != credits.HoldExpired {
				t.Errorf("hold: %+v, %v; want expired", got, err)
			}
			f.verify()
		})
	}
}
