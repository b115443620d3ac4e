package storetest

import (
	"context"
	"iter"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// listedEvents is an EventSource of given events: stripe-mock cannot list
// checkout events of our own sessions.
type listedEvents []credits.StripeEvent

func (l listedEvents) Events(context.Context, time.Time) iter.Seq2[credits.StripeEvent, error] {
	return func(yield func(credits.StripeEvent, error) bool) {
		for _, ev := range l {
			if !yield(ev, nil) {
				return
			}
		}
	}
}

func testReplayAppliesMissedEventsOnce(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.pack("starter", 100, "")
	f.account("u1", "u1@example.com")
	f.session("cs_received", "u1", "starter", 1)
	f.session("cs_missed", "u1", "starter", 2)
	received := testkit.Event("evt_received", credits.EventCheckoutCompleted, false, paid("cs_received"))
	missed := testkit.Event("evt_missed", credits.EventCheckoutCompleted, false, paidFor("cs_missed", 2))
	f.deliver("evt_received", credits.EventCheckoutCompleted, paid("cs_received"))
	source := listedEvents{testkit.MustEvent(t, received), testkit.MustEvent(t, missed)}

	result, err := f.svc.ReplayEvents(context.Background(), source, f.now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if result.Listed != 2 || result.New != 1 || result.ByStatus[credits.EventProcessed] != 1 {
		t.Errorf("first replay = %+v, want 2 listed and 1 new, processed", result)
	}
	if balance, _ := f.balance("u1"); balance != 300 {
		t.Errorf("balance = %d, want 300: the received session once and the missed one", balance)
	}
	again, err := f.svc.ReplayEvents(context.Background(), source, f.now.Add(-time.Hour))
	if err != nil || again.New != 0 {
		t.Errorf("second replay = %+v (%v), want nothing new", again, err)
	}
	if balance, _ := f.balance("u1"); balance != 300 {
		t.Errorf("balance after a second replay = %d, want 300", balance)
	}
}
