package credits_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// TestBurnDownOrder: credits are spent earliest expiry first (lots that never
// expire last), then lower priority, then oldest; a capture takes from a
// hold's lots in the same order.
func TestBurnDownOrder(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name   string
		grants []grant // in the order they are granted
		want   []string
	}{
		{"earliest expiry first", []grant{{"late", 9 * day, 0}, {"soon", day, 0}, {"middle", 5 * day, 0}}, []string{"soon", "middle", "late"}},
		{"never-expiring last", []grant{{"never", 0, 0}, {"expiring", 30 * day, 5}}, []string{"expiring", "never"}},
		{"then lower priority", []grant{{"p2", day, 2}, {"p0", day, 0}, {"p1", day, 1}}, []string{"p0", "p1", "p2"}},
		{"then oldest", []grant{{"first", 0, 3}, {"second", 0, 3}, {"low", 0, 1}}, []string{"low", "first", "second"}},
	}
	for _, tt := range tests {
		for _, viaHold := range []bool{false, true} {
			name := tt.name
			if viaHold {
				name += " (hold captured)"
			}
			t.Run(name, func(t *testing.T) {
				got := spendOrder(t, tt.grants, viaHold)
				if !slices.Equal(got, tt.want) {
					t.Errorf("spent %v, want %v", got, tt.want)
				}
			})
		}
	}
}

// grant is one lot of a burn-down test.
type grant struct {
	name      string
	expiresIn time.Duration // 0: never
	priority  int64
}

// spendOrder grants 10 credits per lot, spends them all in one debit (or one
// captured hold), and names the lots in the order they were drawn.
func spendOrder(t *testing.T, grants []grant, viaHold bool) []string {
	t.Helper()
	ctx := context.Background()
	db, path := testkit.OpenSQLite(t)
	svc := credits.NewService(db)
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	now := start
	svc.Now = func() time.Time { return now }
	if _, err := svc.CreateAccount(ctx, "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	names := map[int64]string{}
	for _, g := range grants {
		req := credits.GrantRequest{Amount: 10, Priority: g.priority, Reason: g.name}
		if g.expiresIn > 0 {
			expires := start.Add(g.expiresIn)
			req.ExpiresAt = &expires
		}
		r, _, err := svc.Grant(ctx, "u1", req, nil)
		if err != nil {
			t.Fatal(err)
		}
		names[r.LotID] = g.name
		now = now.Add(time.Second) // each lot is younger than the one before
	}
	total := int64(10 * len(grants))
	var draws []credits.LotAmount
	if viaHold {
		hold, _, err := svc.CreateHold(ctx, "u1", credits.HoldRequest{Amount: total}, nil)
		if err != nil {
			t.Fatal(err)
		}
		capture := total - 5 // the last lot keeps 5
		if _, err := svc.CaptureHold(ctx, hold.ID, &capture); err != nil {
			t.Fatal(err)
		}
		entries, err := svc.ListEntries(ctx, "u1", 0, 1)
		if err != nil || len(entries.Data) != 1 || entries.Data[0].Kind != credits.EntryCapture {
			t.Fatalf("last entry %+v (%v), want the capture", entries.Data, err)
		}
		draws = lotsOfEntry(t, path, entries.Data[0].ID)
	} else {
		r, _, err := svc.Debit(ctx, "u1", credits.DebitRequest{Amount: total}, nil)
		if err != nil {
			t.Fatal(err)
		}
		draws = r.Lots
	}
	var order []string
	for _, d := range draws {
		order = append(order, names[d.LotID])
	}
	if violations, err := svc.Verify(ctx); err != nil || len(violations) > 0 {
		t.Fatalf("verify: %+v (%v)", violations, err)
	}
	return order
}

// lotsOfEntry reads which lots an entry drew from, in the order drawn, from
// the database file itself (the API does not show draws).
func lotsOfEntry(t *testing.T, path string, entryID int64) []credits.LotAmount {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT lot_id, amount FROM lot_draws WHERE entry_id = ? ORDER BY rowid`, entryID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []credits.LotAmount
	for rows.Next() {
		var d credits.LotAmount
		if err := rows.Scan(&d.LotID, &d.Amount); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
