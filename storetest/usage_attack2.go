package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// More attacks on pricing: a minimum beyond the balance and a price of 0,
// usages from a hold racing plain usages, two versions taking effect at the
// same instant, the edges of usage totals, and random reservations, usages
// and releases against a model (usage_model.go).
var usageAttack2Tests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"UsageAttackMinimumAndFree", testUsageAttackMinimumAndFree},
	{"UsageFreeWhileInDebt", testUsageFreeWhileInDebt},
	{"UsageAttackHoldRacesPlainUsages", testUsageAttackHoldRacesPlainUsages},
	{"UsageAttackVersionsAtOneInstant", testUsageAttackVersionsAtOneInstant},
	{"UsageAttackTotalsEdges", testUsageAttackTotalsEdges},
	{"UsageAttackModel", testUsageAttackModel},
}

// testUsageAttackMinimumAndFree: a card whose minimum passes the balance
// refuses a usage of nothing (402, nothing taken) and says so in a check; a
// reservation at a price of 0 holds nothing and answers no hold, even
// replayed; a usage of 0 credits takes nothing and writes no entry, and verify
// re-prices it.
func testUsageAttackMinimumAndFree(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 10, 0, 0)
	ctx := context.Background()
	free := []credits.Rate{{Feature: "image", Credits: "0"}}
	if _, err := f.svc.CreateRateCard(ctx, credits.RateCardRequest{ID: "free", Name: "Free", Rates: free}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateRateCard(ctx, credits.RateCardRequest{ID: "floor", Name: "Floor", Rates: free, Minimum: 50}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetAccountRateCard(ctx, "u1", "floor"); err != nil {
		t.Fatal(err)
	}
	if c, err := f.checkImages("u1", "", 0, false); err != nil || c.Allowed || c.Credits != 50 || c.Shortfall != 40 || c.Reason != credits.EINSUFFICIENT {
		t.Errorf("check under the minimum: %+v, %v; want 50, not allowed, 40 short", c, err)
	}
	if r, err := f.useImages("u1", "min", 0, ""); credits.ErrorCode(err) != credits.EINSUFFICIENT {
		t.Errorf("usage under the minimum: %+v, %v; want insufficient_credits", r, err)
	}
	reserve := credits.UsageRequest{Feature: "image", Quantity: ptr(0), Reserve: true}
	if c, _, err := f.svc.Check(ctx, "u1", reserve, &credits.Idempotency{Scope: "c", Key: "min", RequestHash: "min"}); credits.ErrorCode(err) != credits.EINSUFFICIENT {
		t.Errorf("reserve under the minimum: %+v, %v; want insufficient_credits", c, err)
	}
	f.wantAccount("u1", 10, 10)
	if _, err := f.svc.SetAccountRateCard(ctx, "u1", "free"); err != nil {
		t.Fatal(err)
	}
	reserve.Quantity = ptr(1000)
	for range 2 {
		c, _, err := f.svc.Check(ctx, "u1", reserve, &credits.Idempotency{Scope: "c", Key: "free", RequestHash: "free"})
		if err != nil || !c.Allowed || c.Credits != 0 || c.HoldID != "" {
			t.Errorf("reserve at a price of 0: %+v, %v; want allowed, no hold", c, err)
		}
	}
	r, err := f.useImages("u1", "free", 1000, "")
	if err != nil || r.Credits != 0 || r.Balance != 10 || len(r.Lots) != 0 {
		t.Errorf("usage at a price of 0: %+v, %v; want nothing taken", r, err)
	}
	f.wantAccount("u1", 10, 10)
}

// testUsageAttackHoldRacesPlainUsages: a usage from a hold whose price
// passes the hold races plain usages for the same available credits: the
// account never overdraws, and the ledger takes exactly what was answered.
func testUsageAttackHoldRacesPlainUsages(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 30, 0, 0)
	refused := 0
	for round := range 3 {
		start := f.accountNow("u1")
		hold := f.reserveImages("u1", fmt.Sprint("r", round), 2, 3600) // 6 held
		var mu sync.Mutex
		var wg sync.WaitGroup
		spent := int64(0)
		for g := range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				holdID, images := "", int64(2) // 6 credits
				if g == 0 {
					holdID, images = hold, 5 // 15: 6 from the hold, 9 beyond
				}
				r, err := f.useImages("u1", fmt.Sprint("u", round, g), images, holdID)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					spent += r.Credits
				case credits.ErrorCode(err) == credits.EINSUFFICIENT:
					refused++
				default:
					t.Errorf("usage %d: %v", g, err)
				}
			}()
		}
		wg.Wait()
		a := f.accountNow("u1")
		if a.Balance != start.Balance-spent || a.Balance < 0 || a.Available < 0 {
			t.Fatalf("round %d: balance %d available %d, want %d, never below 0", round, a.Balance, a.Available, start.Balance-spent)
		}
		if h, err := f.svc.GetHold(context.Background(), hold); err == nil && h.Status == credits.HoldHeld {
			if _, err := f.svc.ReleaseHold(context.Background(), hold); err != nil {
				t.Fatal(err)
			}
		}
		f.grant("u1", 30, 0, 0)
	}
	if refused == 0 {
		t.Errorf("no usage was refused: 33 credits asked of 24 available each round, the race tested no overdraft")
	}
}

// testUsageAttackVersionsAtOneInstant: two versions taking effect at one
// instant: the later one prices from that instant, for check, usage and
// reservation alike, and the card shows it as current.
func testUsageAttackVersionsAtOneInstant(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	ctx := context.Background()
	at := f.now.Add(time.Minute)
	for _, c := range []string{"5", "7"} {
		if _, err := f.svc.AddRateCardVersion(ctx, "default", credits.RateCardRequest{Rates: []credits.Rate{{Feature: "image", Credits: c}}, EffectiveAt: &at}); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := f.useImages("u1", "before", 1, ""); err != nil || r.Credits != 3 || r.RateCard.Version != 1 {
		t.Errorf("before: %+v, %v; want 3 at version 1", r, err)
	}
	f.now = at
	if c, err := f.checkImages("u1", "", 1, false); err != nil || c.Credits != 7 || c.RateCard.Version != 3 {
		t.Errorf("check at the instant: %+v, %v; want 7 at version 3", c, err)
	}
	if r, err := f.useImages("u1", "at", 1, ""); err != nil || r.Credits != 7 || r.RateCard.Version != 3 {
		t.Errorf("usage at the instant: %+v, %v; want 7 at version 3", r, err)
	}
	if card, err := f.svc.GetRateCard(ctx, "default"); err != nil || card.Current == nil || card.Current.Version != 3 {
		t.Errorf("card: %+v, %v; want version 3 current", card, err)
	}
	f.wantAccount("u1", 90, 90)
}

// testUsageAttackTotalsEdges: totals count a usage made at from, not one made
// at to, to the microsecond; a range of one microsecond is allowed.
func testUsageAttackTotalsEdges(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	at := f.now
	if _, err := f.useImages("u1", "k", 1, ""); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Hour)
	ctx := context.Background()
	tests := []struct {
		name     string
		from, to time.Time
		credits  int64
	}{
		{"from the instant", at, at.Add(time.Microsecond), 3},
		{"to the instant", at.Add(-time.Hour), at, 0},
		{"a microsecond after", at.Add(time.Microsecond), at.Add(time.Hour), 0},
		{"in another zone", at.In(time.FixedZone("x", -5*3600)), at.Add(time.Microsecond).In(time.FixedZone("y", 9*3600)), 3},
	}
	for _, tt := range tests {
		got, err := f.svc.UsageTotals(ctx, "u1", tt.from, tt.to, "")
		var sum int64
		for _, g := range got {
			sum += g.Credits
		}
		if err != nil || sum != tt.credits {
			t.Errorf("%s: %+v, %v; want %d credits", tt.name, got, err, tt.credits)
		}
	}
}

func ptr(n int64) *int64 { return &n }

// testUsageFreeWhileInDebt: an account in debt (a refund took back credits
// it had spent) asks for a usage priced 0. Check, reserve and usage answer
// alike: it costs nothing, so it is allowed and recorded, and nothing moves;
// a usage with a price is refused as a debit is.
func testUsageFreeWhileInDebt(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.buy("cs_1", "u1", "pi_1", 1)
	if _, err := f.debit("u1", 80); err != nil {
		t.Fatal(err)
	}
	f.receive(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 500, 500))
	f.wantDebt("u1", -80, -80, 80)
	ctx := context.Background()
	free := []credits.Rate{{Feature: "image", Credits: "0"}}
	if _, err := f.svc.CreateRateCard(ctx, credits.RateCardRequest{ID: "free", Name: "Free", Rates: free}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetAccountRateCard(ctx, "u1", "free"); err != nil {
		t.Fatal(err)
	}
	if c, err := f.checkImages("u1", "", 5, false); err != nil || !c.Allowed || c.Credits != 0 || c.Reason != "" {
		t.Errorf("check of a free usage in debt: %+v, %v; want allowed at 0", c, err)
	}
	reserve := credits.UsageRequest{Feature: "image", Quantity: ptr(5), Reserve: true}
	if c, _, err := f.svc.Check(ctx, "u1", reserve, &credits.Idempotency{Scope: "c", Key: "free", RequestHash: "free"}); err != nil || !c.Allowed || c.HoldID != "" {
		t.Errorf("reserve of a free usage in debt: %+v, %v; want allowed, no hold", c, err)
	}
	if r, err := f.useImages("u1", "free", 5, ""); err != nil || r.Credits != 0 {
		t.Errorf("free usage in debt: %+v, %v; want recorded at 0", r, err)
	}
	if _, err := f.svc.SetAccountRateCard(ctx, "u1", "default"); err != nil {
		t.Fatal(err)
	}
	if c, err := f.checkImages("u1", "", 1, false); err != nil || c.Allowed || c.Reason != credits.EINDEBT {
		t.Errorf("check of a priced usage in debt: %+v, %v; want not allowed, account_in_debt", c, err)
	}
	if r, err := f.useImages("u1", "priced", 1, ""); credits.ErrorCode(err) != credits.EINDEBT {
		t.Errorf("priced usage in debt: %+v, %v; want account_in_debt", r, err)
	}
	f.wantDebt("u1", -80, -80, 80)
}
