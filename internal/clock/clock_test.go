package clock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/credits/credits/internal/clock"
)

func TestClockOnlyMovesForward(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := clock.New(func() time.Time { return start })
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	if got, want := c.Advance(25*time.Hour), 25*time.Hour; got != want {
		t.Errorf("Advance = %v, want %v", got, want)
	}
	if got, want := c.Now(), start.Add(25*time.Hour); !got.Equal(want) {
		t.Errorf("Now = %v, want %v", got, want)
	}
	for _, tt := range []struct {
		to, want time.Duration
	}{
		{time.Hour, 25 * time.Hour}, // behind: kept
		{25 * time.Hour, 25 * time.Hour},
		{48 * time.Hour, 48 * time.Hour}, // ahead: taken
	} {
		c.AdvanceTo(tt.to)
		if got := c.Offset(); got != tt.want {
			t.Errorf("AdvanceTo(%v): offset %v, want %v", tt.to, got, tt.want)
		}
	}
}

func TestClockAdvanceRefusesNegative(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Advance(-1s) did not panic")
		}
	}()
	clock.New(nil).Advance(-time.Second)
}

func TestClockConcurrentAdvancesAllCount(t *testing.T) {
	c := clock.New(nil)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Advance(time.Second)
			c.AdvanceTo(10 * time.Second)
		}()
	}
	wg.Wait()
	if got, want := c.Offset(), 50*time.Second; got < want {
		t.Errorf("offset %v, want at least %v", got, want)
	}
}
