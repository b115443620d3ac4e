package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
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
	// One line before each check, and the last with the count: n checks, n+1 lines.
	n := len(got) - 1
	if n < 8 || got[0] != fmt.Sprintf("0/%d checking balances", n) || got[n] != fmt.Sprintf("%d/%d 0 violation(s)", n, n) {
		t.Errorf("progress %q, want 0/n … n/n for the n checks (at least 8)", got)
	}
	for i, line := range got[:n] {
		if want := fmt.Sprintf("%d/%d checking ", i, n); !strings.HasPrefix(line, want) {
			t.Errorf("line %d = %q, want it to begin %q", i, line, want)
		}
	}
}
