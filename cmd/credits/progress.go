package main

import "github.com/credits/credits/internal/progress"

// newProgress reports the progress of long work on stderr (internal/progress).
func (c *CLI) newProgress(what, unit string, bytes bool) *progress.Reporter {
	return progress.To(c.stderr).Start(what, unit, bytes)
}
