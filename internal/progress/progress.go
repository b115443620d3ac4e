// Package progress shows how far long work has come, on stderr: on a
// terminal a bar with the counts and an estimate of the time left
// (github.com/schollz/progressbar), else a plain line every LineEvery, for
// a log. The work itself knows nothing of it: it is handed a callback
// (Reporter.Update) that the service, a store or the bench calls.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// LineEvery is how often long work prints a line of progress when its
// output is not a terminal (a log, a pipe, CI).
const LineEvery = 5 * time.Second

// Reporter shows the progress of one piece of work (a backup, a replay, a
// verify, a reconcile, the bench's fill).
type Reporter struct {
	what string
	// bytes says the counts are bytes (shown as KiB, MiB…); else unit names them.
	bytes bool
	unit  string
	w     io.Writer
	now   func() time.Time

	mu         sync.Mutex
	bar        *progressbar.ProgressBar // on a terminal
	start      time.Time
	lastLine   time.Time
	done, max  int64
	detail     string
	terminated bool
	stop       chan struct{} // ends the heartbeat
	beating    sync.WaitGroup
}

// Percent counts progress in hundredths of the work, when its units mean
// little (seconds of a period listed): shown as a share, not as counts.
const Percent = "%"

// Output is where progress goes: a terminal gets a bar, drawn at most once
// a Throttle; anything else gets lines, by the clock Now.
type Output struct {
	W        io.Writer
	Terminal bool
	Now      func() time.Time
	Throttle time.Duration
	// Heartbeat, when set, prints the line again after this long without
	// news (one step of the work may take minutes), until Finish.
	Heartbeat time.Duration
}

// barThrottle is the least time between two drawings of a bar.
const barThrottle = 100 * time.Millisecond

// To is the output w: a bar if w is a terminal, else lines.
func To(w io.Writer) Output {
	return Output{W: w, Terminal: isTerminal(w), Now: time.Now, Throttle: barThrottle, Heartbeat: LineEvery}
}

// Start reports the progress of what, counted in unit ("" and bytes=true
// for bytes; Percent for a share).
func (out Output) Start(what, unit string, bytes bool) *Reporter {
	p := &Reporter{what: what, unit: unit, bytes: bytes, w: out.W, now: out.Now, start: out.Now()}
	p.lastLine = p.start
	if out.Terminal {
		options := []progressbar.Option{
			progressbar.OptionSetWriter(out.W),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowBytes(bytes),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionFullWidth(),
			progressbar.OptionThrottle(out.Throttle),
			progressbar.OptionClearOnFinish(),
		}
		if unit != Percent {
			options = append(options, progressbar.OptionShowCount(), progressbar.OptionSetItsString(unit), progressbar.OptionShowIts())
		}
		p.bar = progressbar.NewOptions64(-1, options...)
		return p
	}
	if out.Heartbeat > 0 {
		p.stop = make(chan struct{})
		p.beating.Go(func() { p.heartbeat(out.Heartbeat) })
	}
	return p
}

// heartbeat prints the line when the work has said nothing for a while.
func (p *Reporter) heartbeat(every time.Duration) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-ticker.C:
			p.beat()
		}
	}
}

// beat prints the line again, with the time so far, if none was printed
// for LineEvery.
func (p *Reporter) beat() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := p.now(); !p.terminated && now.Sub(p.lastLine) >= LineEvery {
		p.lastLine = now
		fmt.Fprintf(p.w, "%s, %s so far\n", p.line(now), now.Sub(p.start).Round(time.Second))
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Update says done of total units are done (total 0: not known).
func (p *Reporter) Update(done, total int64) { p.UpdateDetail(done, total, "") }

// UpdateDetail is Update with a few words more (counts of another kind).
func (p *Reporter) UpdateDetail(done, total int64, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminated {
		return
	}
	p.done, p.max, p.detail = done, total, detail
	if p.bar != nil {
		if detail != "" {
			p.bar.Describe(p.what + " (" + detail + ")")
		}
		_ = p.bar.Set64(done)
		if total > 0 && p.bar.GetMax64() != total {
			p.bar.ChangeMax64(total) // and draws the bar at once
		}
		return
	}
	if now := p.now(); now.Sub(p.lastLine) >= LineEvery {
		p.lastLine = now
		fmt.Fprintln(p.w, p.line(now))
	}
}

// line is the plain report: what, the counts, the share done, the time left.
func (p *Reporter) line(now time.Time) string {
	s := p.what + ": "
	switch {
	case p.unit == Percent && p.max > 0:
		s += fmt.Sprintf("%d%%", p.done*100/p.max)
	case p.max > 0:
		s += p.count(p.done) + " of " + p.count(p.max) + fmt.Sprintf(" (%d%%)", p.done*100/p.max)
	default:
		s += p.count(p.done)
	}
	if p.detail != "" {
		s += ", " + p.detail
	}
	if left, ok := p.left(now); ok {
		s += ", about " + left.String() + " left"
	}
	return s
}

func (p *Reporter) count(n int64) string {
	if p.bytes {
		return FormatBytes(n)
	}
	if p.unit == "" {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d %s", n, p.unit)
}

// left estimates the time left at the rate so far.
func (p *Reporter) left(now time.Time) (time.Duration, bool) {
	elapsed := now.Sub(p.start)
	if p.max <= 0 || p.done <= 0 || p.done >= p.max || elapsed <= 0 {
		return 0, false
	}
	left := time.Duration(float64(elapsed) * float64(p.max-p.done) / float64(p.done))
	return left.Round(time.Second), true
}

// Finish ends the report: the bar is cleared; a plain report that printed
// lines prints its last.
func (p *Reporter) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminated {
		return
	}
	p.terminated = true
	if p.stop != nil {
		close(p.stop)
		p.mu.Unlock() // a beat waiting for the lock sees terminated and returns
		p.beating.Wait()
		p.mu.Lock()
	}
	if p.bar != nil {
		_ = p.bar.Finish()
		return
	}
	if p.lastLine != p.start { // lines were printed: say where it ended
		fmt.Fprintln(p.w, p.line(p.now()))
	}
}

// FormatBytes writes n bytes in B, KiB, MiB, GiB or TiB.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	value, suffix := float64(n), ""
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB"} {
		value, suffix = value/unit, s
		if value < unit {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", value, suffix)
}
