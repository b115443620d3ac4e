package stripe

import "time"

// SetListBackoff shortens the waits between a list's tries for a test.
func SetListBackoff(d time.Duration) (restore func()) {
	before := listBackoff
	listBackoff = d
	return func() { listBackoff = before }
}
