package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/sqlite"
)

// TestVerifyReportsEachCheck: Verify tells its progress check by check,
// ending with all of them done.
func TestVerifyReportsEachCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "verify.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	violations, err := credits.NewService(db).VerifyProgress(ctx, func(done, total int64, detail string) {
		got = append(got, fmt.Sprintf("%d/%d %s", done, total, detail))
	})
	if err != nil || len(violations) != 0 {
		t.Fatalf("verify: %v %v", violations, err)
	}
	if len(got) != 9 || got[0] != "0/8 checking balances" || got[8] != "8/8 0 violation(s)" {
		t.Errorf("progress %q, want 0/8 … 8/8", got)
	}
}
