package stripestub

import (
	"fmt"
	"testing"

	stripe "github.com/stripe/stripe-go/v85"
)

func TestRefunds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		amounts      []int64 // 0: the rest
		wantErrAt    int     // index of the refund refused, -1 for none
		wantRefunded int64
	}{
		{"full", []int64{0}, -1, 500},
		{"partial then the rest", []int64{200, 0}, -1, 500},
		{"more than is left", []int64{200, 400}, 1, 200},
		{"after a full refund", []int64{0, 100}, 1, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t)
			api := newAPI(t, s.URL, 0)
			pi, err := api.V1PaymentIntents.Create(ctx, chargeParams("k", "cus_1", "pm_card_visa", 500, nil))
			if err != nil {
				t.Fatal(err)
			}
			for i, amount := range tc.amounts {
				params := &stripe.RefundCreateParams{PaymentIntent: stripe.String(pi.ID)}
				if amount != 0 {
					params.Amount = stripe.Int64(amount)
				}
				r, err := api.V1Refunds.Create(ctx, params)
				if got := err != nil; got != (i == tc.wantErrAt) {
					t.Fatalf("refund %d: error %v, want an error: %v", i, err, i == tc.wantErrAt)
				}
				if err == nil && (r.Status != "succeeded" || r.PaymentIntent.ID != pi.ID) {
					t.Errorf("refund %+v, want succeeded for %s", r, pi.ID)
				}
			}
			ch, err := api.V1Charges.Retrieve(ctx, pi.LatestCharge.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ch.AmountRefunded != tc.wantRefunded || ch.Refunded != (tc.wantRefunded == 500) {
				t.Errorf("charge refunded %d (%v), want %d", ch.AmountRefunded, ch.Refunded, tc.wantRefunded)
			}
			var listed int
			for _, err := range api.V1Refunds.List(ctx, &stripe.RefundListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: s.Now().Unix() - 60}}).All(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				listed++
			}
			if want := len(s.Refunds()); listed != want || len(s.Events("charge.refunded")) != want {
				t.Errorf("listed %d refunds with %d charge.refunded events, want %d", listed, len(s.Events("charge.refunded")), want)
			}
		})
	}
}

func TestDisputes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		statuses   []string
		wantEvents []string
	}{
		{"chargeback lost", []string{"needs_response", "lost"},
			[]string{"charge.dispute.created", "charge.dispute.funds_withdrawn", "charge.dispute.closed"}},
		{"chargeback won", []string{"needs_response", "under_review", "won"},
			[]string{"charge.dispute.created", "charge.dispute.funds_withdrawn", "charge.dispute.updated", "charge.dispute.funds_reinstated", "charge.dispute.closed"}},
		{"inquiry escalated", []string{"warning_needs_response", "needs_response"},
			[]string{"charge.dispute.created", "charge.dispute.updated", "charge.dispute.funds_withdrawn"}},
		{"inquiry closed", []string{"warning_needs_response", "warning_closed"},
			[]string{"charge.dispute.created", "charge.dispute.closed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t)
			api := newAPI(t, s.URL, 0)
			pi, err := api.V1PaymentIntents.Create(ctx, chargeParams("k", "cus_1", "pm_card_visa", 500, nil))
			if err != nil {
				t.Fatal(err)
			}
			d := s.Dispute(pi.ID, tc.statuses[0])
			for _, status := range tc.statuses[1:] {
				s.SetDisputeStatus(d.ID, status)
			}
			var got []string
			for _, e := range s.Events() {
				if e.Type[:len("charge.dispute")] == "charge.dispute" {
					got = append(got, e.Type)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantEvents) {
				t.Errorf("events %v, want %v", got, tc.wantEvents)
			}
			var listed []*stripe.Dispute
			for dp, err := range api.V1Disputes.List(ctx, &stripe.DisputeListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: d.Created}}).All(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				listed = append(listed, dp)
			}
			last := tc.statuses[len(tc.statuses)-1]
			if len(listed) != 1 || string(listed[0].Status) != last || listed[0].PaymentIntent.ID != pi.ID || listed[0].Charge.ID != pi.LatestCharge.ID {
				t.Errorf("listed %+v, want the dispute %s of %s", listed, last, pi.ID)
			}
			ch, _ := api.V1Charges.Retrieve(ctx, pi.LatestCharge.ID, nil)
			if !ch.Disputed {
				t.Errorf("charge not marked disputed")
			}
		})
	}
}
