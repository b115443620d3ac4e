package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
)

// Attacks on pricing: holds that are not the usage's to take, the moment a
// version takes effect, and verify against a tampered version.
var usageAttackTests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"UsageAttackHoldsNotToTake", testUsageAttackHoldsNotToTake},
	{"UsageAttackConcurrentUsagesOfOneHold", testUsageAttackConcurrentUsagesOfOneHold},
	{"UsageAttackVersionBoundary", testUsageAttackVersionBoundary},
	{"UsageAttackVerifyTamperedVersion", testUsageAttackVerifyTamperedVersion},
	{"UsageAttackVerifyAfterTheCardChanged", testUsageAttackVerifyAfterTheCardChanged},
	{"UsageAttackConcurrentVersionsStayOrdered", testUsageAttackConcurrentVersionsStayOrdered},
	{"UsageAttackUnsettledExpiredHold", testUsageAttackUnsettledExpiredHold},
}

func (f *fixture) reserveImages(accountID, key string, images int64, seconds int64) string {
	f.t.Helper()
	req := credits.UsageRequest{Feature: "image", Quantity: &images, Reserve: true, ExpiresInSeconds: seconds}
	r, _, err := f.svc.Check(context.Background(), accountID, req, &credits.Idempotency{Scope: "c", Key: key, RequestHash: key})
	if err != nil || r.HoldID == "" {
		f.t.Fatalf("reserve %d images for %s: %+v, %v", images, accountID, r, err)
	}
	return r.HoldID
}

func (f *fixture) useImages(accountID, key string, images int64, holdID string) (credits.UsageResult, error) {
	f.t.Helper()
	req := credits.UsageRequest{Feature: "image", Quantity: &images, HoldID: holdID}
	r, _, err := f.svc.RecordUsage(context.Background(), accountID, req, &credits.Idempotency{Scope: "u", Key: key, RequestHash: key})
	return r, err
}

// testUsageAttackHoldsNotToTake: another account's hold, an expired, a
// released and a captured hold are refused and nothing changes; a hold made
// by CreateHold serves as well as a reservation's.
func testUsageAttackHoldsNotToTake(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.account("u2", "u2@example.com")
	f.grant("u1", 100, 0, 0)
	f.grant("u2", 100, 0, 0)
	ctx := context.Background()
	foreign := f.reserveImages("u1", "f", 2, 3600)  // 6 held on u1
	expiring := f.reserveImages("u2", "e", 1, 60)   // 3 held on u2
	released := f.reserveImages("u2", "r", 1, 3600) // 3, released below
	if _, err := f.svc.ReleaseHold(ctx, released); err != nil {
		t.Fatal(err)
	}
	captured := f.reserveImages("u2", "c", 1, 3600)
	if _, err := f.svc.CaptureHold(ctx, captured, nil); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(61 * time.Second)
	tests := []struct {
		name, hold, code string
	}{
		{"another account's hold", foreign, credits.ENOTFOUND},
		{"an expired hold", expiring, credits.ECONFLICT},
		{"a released hold", released, credits.ECONFLICT},
		{"a captured hold", captured, credits.ECONFLICT},
	}
	for _, tt := range tests {
		if r, err := f.useImages("u2", "use "+tt.name, 1, tt.hold); credits.ErrorCode(err) != tt.code {
			t.Errorf("%s: %+v, %v; want %s", tt.name, r, err, tt.code)
		}
	}
	f.wantAccount("u1", 100, 94)
	f.wantAccount("u2", 97, 97)
	if h, err := f.svc.GetHold(ctx, foreign); err != nil || h.Status != credits.HoldHeld {
		t.Errorf("u1's hold after u2 tried it: %+v, %v; want held", h, err)
	}
	plain, _, err := f.svc.CreateHold(ctx, "u2", credits.HoldRequest{Amount: 10}, &credits.Idempotency{Scope: "h", Key: "p", RequestHash: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := f.useImages("u2", "plain", 2, plain.ID); err != nil || r.Credits != 6 || r.Balance != 91 || r.Available != 91 {
		t.Errorf("usage of a CreateHold hold: %+v, %v; want 6 captured, 4 released", r, err)
	}
}

// testUsageAttackConcurrentUsagesOfOneHold: usages racing for one hold
// capture it once; the others are conflicts that take nothing.
func testUsageAttackConcurrentUsagesOfOneHold(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	hold := f.reserveImages("u1", "r", 5, 3600) // 15 held
	const racers = 4
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			images := int64(1)
			req := credits.UsageRequest{Feature: "image", Quantity: &images, HoldID: hold}
			_, _, errs[i] = f.svc.RecordUsage(context.Background(), "u1", req, &credits.Idempotency{Scope: "u", Key: fmt.Sprint("k", i), RequestHash: "h"})
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case credits.ErrorCode(err) == credits.ECONFLICT:
		default:
			t.Errorf("racer %d: %v; want success or conflict", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d usages captured the hold, want 1", ok)
	}
	f.wantAccount("u1", 97, 97)
}

// testUsageAttackVersionBoundary: a version prices a usage from the very
// microsecond of its effective_at, not one before; a reservation made at
// the old price is captured at the new one, the difference taken from
// available credits.
func testUsageAttackVersionBoundary(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	at := f.now.Add(time.Hour).Truncate(time.Second)
	v2 := []credits.Rate{{Feature: "image", Credits: "5"}}
	if _, err := f.svc.AddRateCardVersion(context.Background(), "default", credits.RateCardRequest{Rates: v2, EffectiveAt: &at}); err != nil {
		t.Fatal(err)
	}
	hold := f.reserveImages("u1", "r", 1, 7200) // 3 at version 1
	f.now = at.Add(-time.Microsecond)
	if r, err := f.useImages("u1", "before", 1, ""); err != nil || r.Credits != 3 || r.RateCard.Version != 1 {
		t.Errorf("a microsecond before: %+v, %v; want 3 at version 1", r, err)
	}
	f.now = at
	if r, err := f.useImages("u1", "at", 1, ""); err != nil || r.Credits != 5 || r.RateCard.Version != 2 {
		t.Errorf("at effective_at: %+v, %v; want 5 at version 2", r, err)
	}
	if r, err := f.useImages("u1", "held", 1, hold); err != nil || r.Credits != 5 || r.RateCard.Version != 2 || sumLots(r.Lots) != 5 {
		t.Errorf("the reservation used after the change: %+v, %v; want 5 at version 2", r, err)
	}
	f.wantAccount("u1", 87, 87)
}

// testUsageAttackVerifyTamperedVersion: verify reports, and does not stop
// or crash at, a version whose rates were edited in place (per 0 would
// divide by zero), or a usage moved to another version.
func testUsageAttackVerifyTamperedVersion(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	u, err := f.useImages("u1", "k", 2, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := f.db.(execer)
	if !ok {
		t.Fatalf("%T has no Exec", f.db)
	}
	ctx := context.Background()
	for _, tamper := range []struct{ do, undo string }{
		{`UPDATE rate_card_versions SET rates = REPLACE(rates, '"credits":"3","per":1', '"credits":"3","per":0')`,
			`UPDATE rate_card_versions SET rates = REPLACE(rates, '"credits":"3","per":0', '"credits":"3","per":1')`},
		{`UPDATE rate_card_versions SET rates = REPLACE(rates, '"credits":"3"', '"credits":"2"')`,
			`UPDATE rate_card_versions SET rates = REPLACE(rates, '"credits":"2"', '"credits":"3"')`},
	} {
		if err := raw.Exec(ctx, tamper.do); err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.Verify(ctx)
		if err != nil || len(got) != 1 || got[0].Invariant != 9 || !strings.Contains(got[0].Message, u.ID) {
			t.Errorf("verify after %s: %+v, %v; want one violation of invariant 9 naming %s", tamper.do, got, err, u.ID)
		}
		if err := raw.Exec(ctx, tamper.undo); err != nil {
			t.Fatal(err)
		}
	}
}

// testUsageAttackVerifyAfterTheCardChanged: a usage priced by an account's
// own card still verifies once the account is moved to another card and
// the first card has a new version: it re-prices at its pinned version.
func testUsageAttackVerifyAfterTheCardChanged(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	ctx := context.Background()
	if _, err := f.svc.CreateRateCard(ctx, credits.RateCardRequest{ID: "own", Name: "Own", Rates: []credits.Rate{{Feature: "image", Credits: "7"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetAccountRateCard(ctx, "u1", "own"); err != nil {
		t.Fatal(err)
	}
	if r, err := f.useImages("u1", "k", 1, ""); err != nil || r.Credits != 7 {
		t.Fatalf("usage on the own card: %+v, %v", r, err)
	}
	if _, err := f.svc.AddRateCardVersion(ctx, "own", credits.RateCardRequest{Rates: []credits.Rate{{Feature: "image", Credits: "1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetAccountRateCard(ctx, "u1", credits.DefaultRateCard); err != nil {
		t.Fatal(err)
	}
	if got, err := f.svc.Verify(ctx); err != nil || len(got) != 0 {
		t.Errorf("verify: %+v, %v; want no violation", got, err)
	}
}

// testUsageAttackConcurrentVersionsStayOrdered: versions added at once, with
// effective times in any order, are numbered without gaps and never take
// effect before the version before them (the version in effect is the
// latest whose time has come).
func testUsageAttackConcurrentVersionsStayOrdered(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	ctx := context.Background()
	const admins = 6
	var wg sync.WaitGroup
	for i := range admins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := f.now.Add(time.Duration((i*7)%admins) * time.Minute)
			_, err := f.svc.AddRateCardVersion(ctx, "default", credits.RateCardRequest{Rates: []credits.Rate{{Feature: "image", Credits: fmt.Sprint(i)}}, EffectiveAt: &at})
			if err != nil && credits.ErrorCode(err) != credits.EINVALID {
				t.Errorf("admin %d: %v; want a version, or invalid when a later one came first", i, err)
			}
		}()
	}
	wg.Wait()
	c, err := f.svc.GetRateCard(ctx, "default")
	if err != nil || len(c.Versions) < 2 {
		t.Fatalf("card: %+v, %v; want versions added", c, err)
	}
	for i, v := range c.Versions {
		if v.Version != int64(i+1) || i > 0 && v.EffectiveAt.Before(c.Versions[i-1].EffectiveAt) {
			t.Errorf("version %d (at %d) takes effect %s, before version %d: %s", v.Version, i, v.EffectiveAt, i, c.Versions[max(i-1, 0)].EffectiveAt)
		}
	}
}

// testUsageAttackUnsettledExpiredHold: a hold past its expiry that no
// settlement closed yet (one settles at most MaxHoldsSettled holds, earliest
// expiry first; here the account's due time is cleared) is not captured by a usage.
func testUsageAttackUnsettledExpiredHold(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	hold := f.reserveImages("u1", "r", 2, 60) // 6 held
	raw, ok := f.db.(execer)
	if !ok {
		t.Fatalf("%T has no Exec", f.db)
	}
	ctx := context.Background()
	if err := raw.Exec(ctx, `UPDATE accounts SET due_at = NULL WHERE id = 'u1'`); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(61 * time.Second)
	if r, err := f.useImages("u1", "late", 1, hold); credits.ErrorCode(err) != credits.ECONFLICT {
		t.Errorf("usage of an expired, unsettled hold: %+v, %v; want conflict", r, err)
	}
	f.wantAccount("u1", 100, 94)
	if h, err := f.svc.CaptureHold(ctx, hold, nil); credits.ErrorCode(err) != credits.ECONFLICT {
		t.Errorf("capture of an expired, unsettled hold: %+v, %v; want conflict", h, err)
	}
	f.wantAccount("u1", 100, 94)
	if _, err := f.svc.ReleaseHold(ctx, hold); err != nil { // what a settlement would do
		t.Fatal(err)
	}
}
