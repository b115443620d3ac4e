package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/sqlite"
)

// TestProgressLines: off a terminal, long work prints a plain line every
// progressLineEvery with the counts, the share and the time left; then its
// last line at the end.
func TestProgressLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, unit string
		bytes      bool
		total      int64
		want       []string
	}{
		{"counts", "checks", false, 120, []string{
			"verify: 50 checks of 120 checks (41%), step 50, about 7s left",
			"verify: 100 checks of 120 checks (83%), step 100, about 2s left",
			"verify: 120 checks of 120 checks (100%), step 120"}},
		{"bytes", "", true, 120 << 20, []string{
			"verify: 50.0 MiB of 120.0 MiB (41%), step 50, about 7s left",
			"verify: 100.0 MiB of 120.0 MiB (83%), step 100, about 2s left",
			"verify: 120.0 MiB of 120.0 MiB (100%), step 120"}},
		{"a share", unitPercent, false, 120, []string{
			"verify: 41%, step 50, about 7s left",
			"verify: 83%, step 100, about 2s left",
			"verify: 100%, step 120"}},
		{"no total", "events", false, 0, []string{
			"verify: 50 events, step 50",
			"verify: 100 events, step 100",
			"verify: 120 events, step 120"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			clock := time.Unix(1_790_000_000, 0)
			p := progressOutput{w: &out, now: func() time.Time { return clock }}.newProgress("verify", tt.unit, tt.bytes)
			scale := max(tt.total/120, 1)
			for i := int64(1); i <= 120; i++ {
				clock = clock.Add(100 * time.Millisecond) // 12 s in all: lines at 5 s and 10 s
				p.UpdateDetail(i*scale, tt.total, fmt.Sprintf("step %d", i))
			}
			p.Finish()
			p.Finish() // once only
			got := strings.Split(strings.TrimSpace(out.String()), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	var quiet bytes.Buffer
	p := progressOutput{w: &quiet, now: time.Now}.newProgress("verify", "checks", false)
	p.Update(1, 8)
	p.Finish()
	if quiet.Len() != 0 {
		t.Errorf("work shorter than a line's period printed %q", quiet.String())
	}
}

// TestProgressBar: on a terminal, a bar with the counts and the time
// elapsed and left.
func TestProgressBar(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := progressOutput{w: &out, terminal: true, now: time.Now}.newProgress("backup", "checks", false) // drawn at each update
	p.UpdateDetail(30, 100, "3 new")
	bar := regexp.MustCompile(`backup \(3 new\)\s+30% \|█+ +\| \(30/100, .*\) \[\d+s:\d+s\]`)
	if !bar.MatchString(out.String()) {
		t.Errorf("bar %q does not show the description, the share, the counts and the times", out.String())
	}
	p.Finish()
}

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
