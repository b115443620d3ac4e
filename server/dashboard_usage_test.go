package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
)

// The customer page shows the last 30 days' credits by feature (a bar and a
// row each, most first), and each usage line of the history names its
// feature and units.
func TestDashboardShowsUsageByFeature(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	for _, f := range []credits.Feature{{ID: "chat", Name: "Chat", Unit: "tokens"}, {ID: "image", Name: "Images", Unit: "images"}} {
		if _, err := s.svc.CreateFeature(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	rates := []credits.Rate{{Feature: "chat", Quantity: "input", Credits: "2.5", Per: 1000}, {Feature: "chat", Quantity: "output", Credits: "10", Per: 1000},
		{Feature: "image", Credits: "3"}}
	if _, err := s.svc.CreateRateCard(ctx, credits.RateCardRequest{ID: "default", Name: "Default", Rates: rates}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.svc.Grant(ctx, "alice", credits.GrantRequest{Amount: 1000}, nil); err != nil {
		t.Fatal(err)
	}
	use := func(key string, req credits.UsageRequest) {
		if _, _, err := s.svc.RecordUsage(ctx, "alice", req, &credits.Idempotency{Scope: "t", Key: key, RequestHash: key}); err != nil {
			t.Fatal(err)
		}
	}
	two := int64(2)
	use("old", credits.UsageRequest{Feature: "image", Quantity: &two}) // 6 credits, 40 days ago
	s.now = s.now.Add(40 * 24 * time.Hour)
	use("chat", credits.UsageRequest{Feature: "chat", Quantities: map[string]int64{"input": 1234, "output": 567}}) // 9
	use("img", credits.UsageRequest{Feature: "image", Quantity: &two})                                             // 6
	_, p := s.signIn("alice")
	rows := p.doc.Find("#usage tr.feature-usage")
	if rows.Length() != 2 {
		t.Fatalf("%d feature rows, want 2: %q", rows.Length(), p.text("#usage"))
	}
	wants := []struct{ name, used, credits, bar string }{{"Chat", "1,234 input · 567 output tokens", "9", "100"}, {"Images", "2 images", "6", "66"}}
	for i, want := range wants {
		cells := rows.Eq(i).Find("td")
		bar, _ := rows.Eq(i).Find("rect").Attr("width")
		if got := []string{cells.Eq(0).Text(), cells.Eq(2).Text(), cells.Eq(3).Text(), bar}; got[0] != want.name || got[1] != want.used || got[2] != want.credits || got[3] != want.bar {
			t.Errorf("row %d: %q, want %+v", i, got, want)
		}
	}
	ledger := p.text("#ledger")
	for _, want := range []string{"Chat: 1,234 input · 567 output tokens", "Images: 2 images"} {
		if !strings.Contains(ledger, want) {
			t.Errorf("history lacks %q:\n%s", want, ledger)
		}
	}
}
