package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/sqlite"
)

// TestFillLedgerReportsProgress: the ledger's fill tells its progress after
// each statement, ending at the whole, and leaves a ledger that verifies.
func TestFillLedgerReportsProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fill.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc := credits.NewService(db)
	var got []string
	b := &bench{run: "fill", fillBatch: 4}
	if err := b.fillLedger(ctx, svc, path, 10, func(done, total int64) { got = append(got, fmt.Sprintf("%d/%d", done, total)) }); err != nil {
		t.Fatal(err)
	}
	if want := "[4/10 8/10 10/10]"; fmt.Sprint(got) != want {
		t.Errorf("progress %v, want %s", got, want)
	}
	if violations, err := svc.Verify(ctx); err != nil || len(violations) != 0 {
		t.Errorf("verify after the fill: %v %v", violations, err)
	}
}
