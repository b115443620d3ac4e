package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/testkit"
)

// testDisputeEscalation: an inquiry that escalates to a chargeback on the
// same dispute is two tracks, the chargeback's status superseding the
// inquiry's; funds withdrawn and not reinstated take the credits back,
// whatever the inquiry said before, and reinstated funds give them back.
func testDisputeEscalation(t *testing.T, open Opener) {
	created, updated := credits.EventDisputeCreated, credits.EventDisputeUpdated
	withdrawn, reinstated, closed := credits.EventDisputeFundsWithdrawn, credits.EventDisputeFundsReinstated, credits.EventDisputeClosed
	type step struct{ eventType, status string }
	tests := []struct {
		name   string
		steps  []step
		want   int64 // balance, of 100 bought
		status string
	}{
		{"inquiry under review, then a chargeback that withdraws", []step{{created, "warning_needs_response"},
			{updated, "warning_under_review"}, {updated, "needs_response"}, {withdrawn, "needs_response"}}, 0, "needs_response"},
		{"funds withdrawn told while the inquiry was the newest status seen", []step{{created, "warning_needs_response"},
			{updated, "warning_under_review"}, {withdrawn, "warning_under_review"}}, 0, "warning_under_review"},
		{"escalated, withdrawn, then reinstated and won", []step{{created, "warning_needs_response"},
			{updated, "warning_under_review"}, {updated, "needs_response"}, {withdrawn, "needs_response"},
			{updated, "under_review"}, {reinstated, "won"}, {closed, "won"}}, 100, "won"},
		{"escalated, withdrawn, then lost", []step{{created, "warning_needs_response"}, {updated, "needs_response"},
			{withdrawn, "needs_response"}, {closed, "lost"}}, 0, "lost"},
		{"a closed inquiry does not undo a later chargeback", []step{{created, "needs_response"},
			{withdrawn, "needs_response"}, {closed, "warning_closed"}}, 0, "needs_response"},
		{"reinstated, whatever the status said", []step{{created, "warning_needs_response"},
			{withdrawn, "warning_needs_response"}, {reinstated, "warning_under_review"}}, 100, "warning_under_review"},
		{"an inquiry alone moves nothing", []step{{created, "warning_needs_response"}, {updated, "warning_under_review"},
			{closed, "warning_closed"}}, 100, "warning_closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, open)
			f.pack("starter", 100, "")
			f.account("u1", "u1@example.com")
			f.buy("cs_1", "u1", "pi_1", 1)
			for i, s := range tt.steps {
				payload := testkit.Dispute(fmt.Sprintf("evt_%d", i), s.eventType, "dp_1", "pi_1", 500, s.status)
				if ev := f.receive(payload); ev.Status != credits.EventProcessed {
					t.Fatalf("step %d (%s %s): %+v", i, s.eventType, s.status, ev)
				}
			}
			if balance, _ := f.balance("u1"); balance != tt.want {
				t.Errorf("balance = %d, want %d", balance, tt.want)
			}
			if d := f.dispute("dp_1"); d.Status != tt.status {
				t.Errorf("dispute status = %s, want %s", d.Status, tt.status)
			}
		})
	}
}

// testDisputeEventsInEveryOrder delivers every permutation of a realistic
// escalation's events, each to its own payment: every order ends at the
// same balance, the one the events' final facts owe.
func testDisputeEventsInEveryOrder(t *testing.T, open Opener) {
	type step struct{ eventType, status string }
	histories := []struct {
		name  string
		steps []step
		want  int64
	}{
		{"lost", []step{{credits.EventDisputeCreated, "warning_needs_response"}, {credits.EventDisputeUpdated, "warning_under_review"},
			{credits.EventDisputeUpdated, "needs_response"}, {credits.EventDisputeFundsWithdrawn, "needs_response"},
			{credits.EventDisputeClosed, "lost"}}, 0},
		{"under_review", []step{{credits.EventDisputeCreated, "warning_needs_response"}, {credits.EventDisputeUpdated, "warning_under_review"},
			{credits.EventDisputeUpdated, "needs_response"}, {credits.EventDisputeFundsWithdrawn, "needs_response"},
			{credits.EventDisputeUpdated, "under_review"}}, 0},
		{"won", []step{{credits.EventDisputeCreated, "warning_needs_response"}, {credits.EventDisputeUpdated, "needs_response"},
			{credits.EventDisputeFundsWithdrawn, "needs_response"}, {credits.EventDisputeFundsReinstated, "won"},
			{credits.EventDisputeClosed, "won"}}, 100},
	}
	for h, history := range histories {
		orders := permutations(len(history.steps))
		t.Run(history.name, func(t *testing.T) {
			t.Parallel()
			inParts(t, len(orders), 3, func(t *testing.T, _, first, end int) {
				f := newFixture(t, open)
				f.pack("starter", 100, "")
				for n := first; n < end; n++ {
					order := orders[n]
					id := fmt.Sprintf("%s_%d", history.name, n)
					f.account(id, id+"@example.com")
					f.buy("cs_"+id, id, "pi_"+id, 1)
					for _, i := range order {
						s := history.steps[i]
						payload := testkit.Dispute(fmt.Sprintf("evt_%d_%d_%d", h, n, i), s.eventType, "dp_"+id, "pi_"+id, 500, s.status)
						if ev := f.receive(payload); ev.Status != credits.EventProcessed {
							t.Fatalf("%s, order %v: %+v", history.name, order, ev)
						}
					}
					if balance, _ := f.balance(id); balance != history.want {
						t.Errorf("%s, order %v: balance %d, want %d", history.name, order, balance, history.want)
					}
				}
			})
		})
	}
}

// permutations lists every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, rest := range permutations(n - 1) {
		for at := 0; at <= len(rest); at++ {
			order := append(append(append([]int(nil), rest[:at]...), n-1), rest[at:]...)
			out = append(out, order)
		}
	}
	return out
}

func (f *fixture) dispute(id string) credits.PaymentDispute {
	f.t.Helper()
	var d credits.PaymentDispute
	err := f.db.View(context.Background(), func(tx credits.Tx) (err error) { d, err = tx.PaymentDispute(id); return err })
	if err != nil {
		f.t.Fatalf("dispute %s: %v", id, err)
	}
	return d
}
