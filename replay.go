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
	result := ReplayResult{ByStatus: map[string]int{}}
	for ev, err := range source.Events(ctx, since) {
		if err != nil {
			return result, err
		}
		result.Listed++
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
