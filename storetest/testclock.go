package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/clock"
)

// testTestClockOnlyMovesForward: concurrent adds to the development test
// clock's offset all count, each answering a total no other answered; a
// replica starting on the store takes up the total, and follows it when
// another moves it further.
func testTestClockOnlyMovesForward(t *testing.T, open Opener) {
	ctx := context.Background()
	store := open(t)
	first := credits.NewService(store)
	if err := first.UseTestClock(ctx, clock.New(nil)); err != nil {
		t.Fatal(err)
	}
	const writers, advances = 6, 5
	var mu sync.Mutex
	totals := map[int64]bool{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range advances {
				var total int64
				err := store.Update(ctx, func(tx credits.Tx) (err error) {
					total, err = tx.AddToSetting("test_clock_offset_seconds", int64(w+1))
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if totals[total] {
					t.Errorf("two adds answered the total %d", total)
				}
				totals[total] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	want := int64(advances * writers * (writers + 1) / 2)
	if got, err := first.ReadTestClock(ctx); err != nil || got.OffsetSeconds != want {
		t.Fatalf("offset %d (%v), want %d: every advance counts", got.OffsetSeconds, err, want)
	}

	replica := credits.NewService(store)
	replicaClock := clock.New(nil)
	if err := replica.UseTestClock(ctx, replicaClock); err != nil {
		t.Fatal(err)
	}
	if got := replicaClock.Offset(); got != time.Duration(want)*time.Second {
		t.Errorf("a replica starts at offset %v, want %ds", got, want)
	}
	if _, err := first.AdvanceTestClock(ctx, 3600); err != nil {
		t.Fatal(err)
	}
	if got, err := replica.ReadTestClock(ctx); err != nil || got.OffsetSeconds != want+3600 {
		t.Errorf("the replica reads %d (%v), want %d", got.OffsetSeconds, err, want+3600)
	}
	if now := replica.Now(); now.Before(time.Now().Add(time.Hour)) {
		t.Errorf("the replica's time %v, want an hour and more ahead", now)
	}
}
