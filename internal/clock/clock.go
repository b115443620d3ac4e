// Package clock is the development test clock: real time plus an offset that
// only grows, so that a test or a person can watch a day pass in a second
// (POST /v1/test_clock/advance). Production has none: its service reads real
// time.
package clock

import (
	"sync/atomic"
	"time"
)

// Clock is real time moved forward by an offset. It is safe for concurrent
// use; Now never goes backwards because of it (the offset only grows).
type Clock struct {
	real   func() time.Time
	offset atomic.Int64 // nanoseconds
}

// New returns a clock at real time; nil real means time.Now.
func New(real func() time.Time) *Clock {
	if real == nil {
		real = time.Now
	}
	return &Clock{real: real}
}

// Now is real time plus the offset, in UTC.
func (c *Clock) Now() time.Time { return c.real().Add(c.Offset()).UTC() }

// Offset is how far the clock has been moved forward in total.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// Advance moves the clock forward by d and returns the new offset. Moving
// it back is a programmer's error: the API refuses it before it gets here.
func (c *Clock) Advance(d time.Duration) time.Duration {
	if d < 0 {
		panic("clock: Advance by a negative duration")
	}
	return time.Duration(c.offset.Add(int64(d)))
}

// AdvanceTo sets the offset to offset when that is further ahead, and keeps
// it otherwise: a total read from the database (another replica may have
// moved it further) can only move the clock forward.
func (c *Clock) AdvanceTo(offset time.Duration) {
	for {
		current := c.offset.Load()
		if int64(offset) <= current || c.offset.CompareAndSwap(current, int64(offset)) {
			return
		}
	}
}
