package progress

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestProgressLines: off a terminal, long work prints a plain line every
// LineEvery with the counts, the share and the time left; then its
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
		{"a share", Percent, false, 120, []string{
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
			p := Output{W: &out, Now: func() time.Time { return clock }}.Start("verify", tt.unit, tt.bytes)
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
	p := Output{W: &quiet, Now: time.Now}.Start("verify", "checks", false)
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
	p := Output{W: &out, Terminal: true, Now: time.Now}.Start("backup", "checks", false) // drawn at each update
	p.UpdateDetail(30, 100, "3 new")
	bar := regexp.MustCompile(`backup \(3 new\)\s+30% \|█+ +\| \(30/100, .*\) \[\d+s:\d+s\]`)
	if !bar.MatchString(out.String()) {
		t.Errorf("bar %q does not show the description, the share, the counts and the times", out.String())
	}
	p.Finish()
}

// TestHeartbeat: a step that takes long still gets a line every LineEvery,
// with the time so far; none after Finish.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	clock := time.Unix(1_790_000_000, 0)
	p := Output{W: &out, Now: func() time.Time { return clock }}.Start("verify", "checks", false)
	p.UpdateDetail(1, 8, "checking entry chains")
	for range 3 {
		clock = clock.Add(3 * time.Second)
		p.beat()
	}
	p.Finish()
	p.beat()
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"verify: 1 checks of 8 checks (12%), checking entry chains, about 42s left, 6s so far",
		"verify: 1 checks of 8 checks (12%), checking entry chains, about 1m3s left",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
