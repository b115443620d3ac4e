package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/credits/credits"
)

var usageTests = []struct {
	name string
	fn   func(*testing.T, Opener)
}{
	{"UsagePricedByTheVersionInEffect", testUsagePricedByTheVersionInEffect},
	{"UsageErrorsChangeNothing", testUsageErrorsChangeNothing},
	{"UsageFromAHold", testUsageFromAHold},
	{"CheckThenUsagePriceTheSame", testCheckThenUsagePriceTheSame},
	{"UsagePropertyRandomCardsAndConcurrency", testUsageProperty},
	{"VerifyRepricesUsages", testVerifyRepricesUsages},
}

// pricing makes the features chat (tokens) and image, and the card default:
// gpt-4o input 2.5 and output 10 credits per 1,000 tokens, others 0.25 and 1,
// an image 3 credits.
func (f *fixture) pricing() {
	f.t.Helper()
	ctx := context.Background()
	for _, ft := range []credits.Feature{{ID: "chat", Name: "Chat", Unit: "tokens"}, {ID: "image", Name: "Images", Unit: "image"}} {
		if _, err := f.svc.CreateFeature(ctx, ft); err != nil {
			f.t.Fatal(err)
		}
	}
	if _, err := f.svc.CreateRateCard(ctx, credits.RateCardRequest{ID: "default", Name: "Default", Rates: llmRates("2.5", "10")}); err != nil {
		f.t.Fatal(err)
	}
}

func llmRates(input, output string) []credits.Rate {
	gpt4o := map[string]string{"model": "gpt-4o"}
	return []credits.Rate{
		{Feature: "chat", Quantity: "input", Credits: "0.25", Per: 1000},
		{Feature: "chat", Quantity: "output", Credits: "1", Per: 1000},
		{Feature: "chat", Quantity: "input", Credits: input, Per: 1000, Match: gpt4o},
		{Feature: "chat", Quantity: "output", Credits: output, Per: 1000, Match: gpt4o},
		{Feature: "image", Credits: "3"},
	}
}

func (f *fixture) use(accountID, key string, quantities map[string]int64, holdID string) (credits.UsageResult, bool, error) {
	f.t.Helper()
	req := credits.UsageRequest{Feature: "chat", Quantities: quantities, Properties: map[string]string{"model": "gpt-4o"}, HoldID: holdID, Description: "a chat"}
	return f.svc.RecordUsage(context.Background(), accountID, req, &credits.Idempotency{Scope: "test", Key: key, RequestHash: fmt.Sprint(accountID, quantities, holdID)})
}

func testUsagePricedByTheVersionInEffect(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 1000, 0, 0)
	ctx := context.Background()
	later := f.now.Add(time.Hour)
	// Version 2 doubles gpt-4o's prices an hour from now.
	if v, err := f.svc.AddRateCardVersion(ctx, "default", credits.RateCardRequest{Rates: llmRates("5", "20"), EffectiveAt: &later}); err != nil || v.Version != 2 {
		t.Fatalf("version 2: %+v, %v", v, err)
	}
	in := map[string]int64{"input": 1234, "output": 567} // 3.085 + 5.67 = 8.755 → 9
	first, _, err := f.use("u1", "k1", in, "")
	if err != nil || first.Credits != 9 || first.RateCard != (credits.RateCardRef{ID: "default", Version: 1}) || first.Balance != 991 {
		t.Fatalf("before version 2: %+v, %v; want 9 credits at version 1", first, err)
	}
	f.now = later
	second, _, err := f.use("u1", "k2", in, "") // 6.17 + 11.34 = 17.51 → 18
	if err != nil || second.Credits != 18 || second.RateCard.Version != 2 {
		t.Fatalf("after version 2: %+v, %v; want 18 credits at version 2", second, err)
	}
	replay, replayed, err := f.use("u1", "k1", in, "")
	if err != nil || !replayed || replay.Credits != 9 || replay.RateCard.Version != 1 || replay.ID != first.ID {
		t.Errorf("replay after the card changed: %+v, replayed %v, %v; want the first answer", replay, replayed, err)
	}
	f.wantAccount("u1", 1000-9-18, 1000-9-18)
	page, err := f.svc.ListEntries(ctx, "u1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	e := page.Data[0]
	if e.UsageID != second.ID || e.Feature != "chat" || e.Quantities["output"] != 567 || e.Properties["model"] != "gpt-4o" || e.RateCard == nil || *e.RateCard != second.RateCard {
		t.Errorf("newest entry %+v does not name its usage %s", e, second.ID)
	}
	// The account's own card prices it from now on.
	if _, err := f.svc.CreateRateCard(ctx, credits.RateCardRequest{ID: "cheap", Name: "Cheap", Rates: llmRates("0.001", "0.001")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetAccountRateCard(ctx, "u1", "cheap"); err != nil {
		t.Fatal(err)
	}
	if r, _, err := f.use("u1", "k3", in, ""); err != nil || r.Credits != 1 || r.RateCard.ID != "cheap" {
		t.Errorf("own card: %+v, %v; want 1 credit on cheap", r, err)
	}
}

func testUsageErrorsChangeNothing(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 5, 0, 0)
	ctx := context.Background()
	one := int64(1)
	tests := []struct {
		name string
		req  credits.UsageRequest
		code string
	}{
		{"unknown feature", credits.UsageRequest{Feature: "video", Quantity: &one}, credits.ENOTFOUND},
		{"no rate", credits.UsageRequest{Feature: "chat", Quantities: map[string]int64{"input": 1, "audio": 2}}, credits.ENORATE},
		{"negative", credits.UsageRequest{Feature: "chat", Quantities: map[string]int64{"input": -1}}, credits.EINVALID},
		{"nothing", credits.UsageRequest{Feature: "chat"}, credits.EINVALID},
		{"short", credits.UsageRequest{Feature: "image", Quantity: &[]int64{2}[0]}, credits.EINSUFFICIENT},
		{"unknown hold", credits.UsageRequest{Feature: "image", Quantity: &one, HoldID: "hold_nope"}, credits.ENOTFOUND},
	}
	for i, tt := range tests {
		_, _, err := f.svc.RecordUsage(ctx, "u1", tt.req, &credits.Idempotency{Scope: "s", Key: fmt.Sprint("k", i), RequestHash: "h"})
		if credits.ErrorCode(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
	f.wantAccount("u1", 5, 5)
	if _, _, err := f.svc.RecordUsage(ctx, "u1", credits.UsageRequest{Feature: "image", Quantity: &one}, nil); credits.ErrorCode(err) != credits.EINVALID {
		t.Errorf("without a key: %v, want invalid", err)
	}
}

func testUsageFromAHold(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	ctx := context.Background()
	reserve := func(key string, output int64) credits.CheckResult {
		req := credits.UsageRequest{Feature: "chat", Quantities: map[string]int64{"output": output}, Properties: map[string]string{"model": "gpt-4o"}, Reserve: true}
		r, _, err := f.svc.Check(ctx, "u1", req, &credits.Idempotency{Scope: "c", Key: key, RequestHash: key})
		if err != nil || r.HoldID == "" {
			t.Fatalf("reserve %d output tokens: %+v, %v", output, r, err)
		}
		return r
	}
	h := reserve("r1", 3000) // 30 credits held
	f.wantAccount("u1", 100, 70)
	// Less than the hold: 20 captured, 10 released.
	if r, _, err := f.use("u1", "u1", map[string]int64{"output": 2000}, h.HoldID); err != nil || r.Credits != 20 || r.Balance != 80 || r.Available != 80 {
		t.Fatalf("usage under its hold: %+v, %v", r, err)
	}
	if hold, err := f.svc.GetHold(ctx, h.HoldID); err != nil || hold.Status != credits.HoldCaptured || hold.Captured != 20 {
		t.Errorf("hold after: %+v, %v", hold, err)
	}
	// The hold is closed: using it again is a conflict.
	if _, _, err := f.use("u1", "u2", map[string]int64{"output": 1}, h.HoldID); credits.ErrorCode(err) != credits.ECONFLICT {
		t.Errorf("closed hold: %v, want conflict", err)
	}
	// More than the hold: all 10 captured and 40 debited.
	h = reserve("r2", 1000)
	if r, _, err := f.use("u1", "u3", map[string]int64{"output": 5000}, h.HoldID); err != nil || r.Credits != 50 || r.Balance != 30 || sumLots(r.Lots) != 50 {
		t.Fatalf("usage over its hold: %+v, %v", r, err)
	}
	// More than the hold and the available credits: nothing changes.
	h = reserve("r3", 1000)
	if _, _, err := f.use("u1", "u4", map[string]int64{"output": 5000}, h.HoldID); credits.ErrorCode(err) != credits.EINSUFFICIENT {
		t.Errorf("over the hold and short: %v, want insufficient_credits", err)
	}
	f.wantAccount("u1", 30, 20)
	if hold, err := f.svc.GetHold(ctx, h.HoldID); err != nil || hold.Status != credits.HoldHeld {
		t.Errorf("hold after a refused usage: %+v, %v; want still held", hold, err)
	}
	req := credits.UsageRequest{Feature: "chat", Quantities: map[string]int64{"output": 9000}, Properties: map[string]string{"model": "gpt-4o"}, Reserve: true}
	if _, _, err := f.svc.Check(ctx, "u1", req, nil); credits.ErrorCode(err) != credits.EINSUFFICIENT {
		t.Errorf("reserve beyond available: %v, want insufficient_credits", err)
	}
}

func sumLots(lots []credits.LotAmount) int64 {
	var n int64
	for _, l := range lots {
		n += l.Amount
	}
	return n
}

func testCheckThenUsagePriceTheSame(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 10, 0, 0)
	ctx := context.Background()
	in := map[string]int64{"input": 1234, "output": 567}
	req := credits.UsageRequest{Feature: "chat", Quantities: in, Properties: map[string]string{"model": "gpt-4o"}}
	c, _, err := f.svc.Check(ctx, "u1", req, nil)
	if err != nil || !c.Allowed || c.Credits != 9 || c.Available != 10 || c.Shortfall != 0 || len(c.Breakdown) != 2 || c.Breakdown[0].CreditsExact != "3.085" {
		t.Fatalf("check: %+v, %v", c, err)
	}
	f.wantAccount("u1", 10, 10) // a check changes nothing
	u, _, err := f.use("u1", "k", in, "")
	if err != nil || u.Credits != c.Credits || u.RateCard != c.RateCard {
		t.Errorf("usage %+v, %v; want the check's %d credits at %v", u, err, c.Credits, c.RateCard)
	}
	c, _, err = f.svc.Check(ctx, "u1", req, nil)
	if err != nil || c.Allowed || c.Shortfall != 8 {
		t.Errorf("check with 1 left: %+v, %v; want refused, 8 short", c, err)
	}
}

// testVerifyRepricesUsages: verify re-prices every usage from its pinned
// version, and reports a usage whose credits are not its price.
func testVerifyRepricesUsages(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pricing()
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	u, _, err := f.use("u1", "k", map[string]int64{"input": 1234, "output": 567}, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := f.db.(execer)
	if !ok {
		t.Fatalf("%T has no Exec", f.db)
	}
	ctx := context.Background()
	if err := raw.Exec(ctx, `UPDATE usages SET credits = 10`); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Verify(ctx)
	want := []credits.Violation{{Invariant: 9, AccountID: "u1", Message: "usage " + u.ID + " cost 10 credits, but rate card default version 1 prices it at 9"}}
	if err != nil || len(got) != 1 || got[0] != want[0] {
		t.Errorf("verify: %+v, %v; want %+v", got, err, want)
	}
	if err := raw.Exec(ctx, `UPDATE usages SET credits = 9`); err != nil {
		t.Fatal(err)
	}
}
