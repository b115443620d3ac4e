package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
)

// TestBatchPricingAcrossVersions attacks the batch's read-ahead of pricing
// (each account's card and version, read once at the batch's earliest time,
// with when the next version takes effect): usages of one batch, at times
// on both sides of a version's effective_at, of accounts on two cards whose
// versions change at different times, each price by the version in effect
// at its own time, as alone.
func TestBatchPricingAcrossVersions(t *testing.T) {
	db := pgtest.Open(t)
	t0 := time.Date(2027, 3, 10, 10, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	setup := atClock(db, t0)
	ctx := context.Background()
	if _, err := setup.CreateFeature(ctx, credits.Feature{ID: "image", Name: "Images", Unit: "image"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id, first, second string
		at                time.Time
	}{{credits.DefaultRateCard, "3", "5", sec(10)}, {"own", "7", "1", sec(5)}} {
		if _, err := setup.CreateRateCard(ctx, credits.RateCardRequest{ID: c.id, Name: c.id, Rates: []credits.Rate{{Feature: "image", Credits: c.first}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := setup.AddRateCardVersion(ctx, c.id, credits.RateCardRequest{Rates: []credits.Rate{{Feature: "image", Credits: c.second}}, EffectiveAt: &c.at}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "b"} {
		if _, err := setup.CreateAccount(ctx, id, id+"@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := setup.Grant(ctx, id, credits.GrantRequest{Amount: 1000}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := setup.SetAccountRateCard(ctx, "b", "own"); err != nil {
		t.Fatal(err)
	}
	uses := []struct {
		at      time.Time
		account string
		credits int64
		version int64
	}{
		{sec(1), "a", 3, 1}, {sec(1), "b", 7, 1}, {sec(10), "a", 5, 2}, {sec(6), "b", 1, 2},
		{sec(9), "a", 3, 1}, {sec(4), "b", 7, 1}, {sec(11), "b", 1, 2}, {sec(10), "a", 5, 2},
	}
	got := make([]credits.UsageResult, len(uses))
	calls := make([]call, len(uses))
	for i, u := range uses {
		calls[i] = call{at: u.at, do: func(svc *credits.Service) error {
			n := int64(1)
			key := fmt.Sprint("u", i)
			r, _, err := svc.RecordUsage(ctx, u.account, credits.UsageRequest{Feature: "image", Quantity: &n},
				&credits.Idempotency{Scope: "usage/" + u.account, Key: key, RequestHash: key})
			got[i] = r
			return err
		}}
	}
	errs := commitCalls(t, db, calls...)
	spent := map[string]int64{}
	for i, u := range uses {
		if errs[i] != nil || got[i].Credits != u.credits || got[i].RateCard.Version != u.version {
			t.Errorf("usage %d of %s at +%s: %d credits at version %d (%v); want %d at version %d",
				i, u.account, u.at.Sub(t0), got[i].Credits, got[i].RateCard.Version, errs[i], u.credits, u.version)
		}
		spent[u.account] += u.credits
	}
	for id, n := range spent {
		if a, err := setup.GetAccount(ctx, id); err != nil || a.Balance != 1000-n {
			t.Errorf("%s: %+v (%v); want balance %d", id, a, err, 1000-n)
		}
	}
	if report, err := setup.Verify(ctx); err != nil || len(report) > 0 {
		t.Errorf("verify: %+v (%v)", report, err)
	}
}
