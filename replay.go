package credits

import (
	"context"
	"fmt"
	"iter"
	"time"
)

// EventSource lists past Stripe events (Stripe's Events API).
type EventSource interface {
	Events(ctx context.Context, since time.Time) iter.Seq2[StripeEvent, error]
}

// ReplayResult counts what a replay did.
type ReplayResult struct {
	Listed   int            `json:"listed"`
	New      int            `json:"new"`
	ByStatus map[string]int `json:"by_status"`
}

// ReplayEvents feeds past events through the same path as the webhook: an
// event already recorded changes nothing, a missed one is applied now.
func (s *Service) ReplayEvents(ctx context.Context, source EventSource, since time.Time) (ReplayResult, error) {
	return s.ReplayEventsProgress(ctx, source, since, nil)
}

// ReplayEventsProgress is ReplayEvents, telling progress after each event:
// the seconds of the period that the events applied so far cover (they come
// oldest first), of the whole period's.
func (s *Service) ReplayEventsProgress(ctx context.Context, source EventSource, since time.Time, progress Progress) (ReplayResult, error) {
	result := ReplayResult{ByStatus: map[string]int{}}
	period := int64(s.now().Sub(since).Seconds())
	for ev, err := range source.Events(ctx, since) {
		if err != nil {
			return result, err
		}
		result.Listed++
		progress.report(min(max(int64(ev.Created.Sub(since).Seconds()), 0), period), period,
			fmt.Sprintf("%d events applied, %d new", result.Listed, result.New))
		recorded, isNew, err := s.handleEvent(ctx, ev)
		if err != nil {
			return result, fmt.Errorf("replay: %w", err)
		}
		if isNew {
			result.New++
			result.ByStatus[recorded.Status]++
		}
	}
	return result, nil
}
