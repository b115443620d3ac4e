package credits

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Limits of the development test clock.
const (
	// MaxTestClockAdvanceSeconds is the most one advance moves the clock:
	// ten years, more than any expiry, retry or retention the service knows.
	MaxTestClockAdvanceSeconds = 10 * 366 * 24 * 3600
	// MaxTestClockOffsetSeconds bounds the total, so that every time the
	// service computes stays far inside what both databases store.
	MaxTestClockOffsetSeconds = 10 * MaxTestClockAdvanceSeconds
)

// testClockSetting names the setting that keeps the test clock's total
// offset in whole seconds: a restart, and every replica at its start, take
// the clock up where it was, so it never goes back.
const testClockSetting = "test_clock_offset_seconds"

// TestClock is the development clock that AdvanceTestClock moves forward
// (internal/clock.Clock); production has none and reads real time.
type TestClock interface {
	Now() time.Time
	Offset() time.Duration
	// AdvanceTo sets the offset when it is further ahead, and keeps it
	// otherwise.
	AdvanceTo(offset time.Duration)
}

// TestClockState is what GET /v1/test_clock answers.
type TestClockState struct {
	Now           time.Time `json:"now"`
	OffsetSeconds int64     `json:"offset_seconds"`
}

// UseTestClock makes c the service's clock, moved forward by the offset kept
// in the store. Everything in the domain reads time through Now, which then
// reads c.
func (s *Service) UseTestClock(ctx context.Context, c TestClock) error {
	s.TestClock, s.Now = c, c.Now
	_, err := s.ReadTestClock(ctx)
	return err
}

// ReadTestClock answers the test clock's time and offset, first taking up
// the stored offset (another replica may have moved it further).
func (s *Service) ReadTestClock(ctx context.Context) (TestClockState, error) {
	if s.TestClock == nil {
		return TestClockState{}, errNoTestClock
	}
	var stored string
	err := s.Store.View(ctx, func(tx Tx) (err error) {
		stored, err = tx.Setting(testClockSetting)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		stored, err = "0", nil
	}
	if err != nil {
		return TestClockState{}, err
	}
	seconds, err := strconv.ParseInt(stored, 10, 64)
	if err != nil {
		return TestClockState{}, fmt.Errorf("test clock offset %q: %w", stored, err)
	}
	return s.moveTestClock(seconds), nil
}

// AdvanceTestClock moves the test clock forward by seconds for everything
// that reads the service's time, keeps the new total in the store, and wakes
// the workers so that what came due runs now rather than at their next tick.
func (s *Service) AdvanceTestClock(ctx context.Context, seconds int64) (TestClockState, error) {
	if s.TestClock == nil {
		return TestClockState{}, errNoTestClock
	}
	if seconds < 1 || seconds > MaxTestClockAdvanceSeconds {
		return TestClockState{}, Errorf(EINVALID, "seconds must be a whole number from 1 to %d (10 years); the clock only moves forward", MaxTestClockAdvanceSeconds)
	}
	var total int64
	err := s.Store.Update(ctx, func(tx Tx) (err error) {
		total, err = tx.AddToSetting(testClockSetting, seconds)
		if err == nil && total > MaxTestClockOffsetSeconds {
			return Errorf(EINVALID, "the test clock is already %d seconds ahead; it moves at most %d seconds (100 years) in all", total-seconds, MaxTestClockOffsetSeconds)
		}
		return err
	})
	if err != nil {
		return TestClockState{}, err
	}
	state := s.moveTestClock(total)
	s.Logger.Info("test clock advanced", "seconds", seconds, "offset_seconds", total, "now", state.Now.Format(time.RFC3339))
	s.wakeWorkers()
	return state, nil
}

// moveTestClock takes the clock up to a stored total and says where it is.
func (s *Service) moveTestClock(totalSeconds int64) TestClockState {
	s.TestClock.AdvanceTo(time.Duration(totalSeconds) * time.Second)
	return TestClockState{Now: s.now().Truncate(time.Second), OffsetSeconds: int64(s.TestClock.Offset() / time.Second)}
}

// stripeTime is the time on Stripe's clock of t, a time of the service's:
// the test clock moves only ours, and Stripe refuses times it finds too far
// ahead (a Checkout Session's expires_at at most 24 hours away).
func (s *Service) stripeTime(t time.Time) time.Time {
	if s.TestClock == nil {
		return t
	}
	return t.Add(-s.TestClock.Offset())
}

var errNoTestClock = Errorf(ENOTFOUND, "there is no test clock: it exists in development only")
