package stripestub

import (
	"fmt"
	"testing"

	stripe "github.com/stripe/stripe-go/v85"

	creditsstripe "github.com/credits/credits/stripe"
)

func TestEventsList(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	s.SetOutcome("pm_declined", Declined("insufficient_funds"))
	ok, err := api.V1PaymentIntents.Create(ctx, chargeParams("k1", "cus_1", "pm_card_visa", 500, nil))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = api.V1PaymentIntents.Create(ctx, chargeParams("k2", "cus_1", "pm_declined", 500, nil))
	list := func(types ...string) ([]string, error) {
		params := &stripe.EventListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: s.Now().Unix() - 60}}
		for _, typ := range types {
			params.Types = append(params.Types, stripe.String(typ))
		}
		var got []string
		for ev, err := range api.V1Events.List(ctx, params).All(ctx) {
			if err != nil {
				return nil, err
			}
			got = append(got, string(ev.Type)+" "+ev.Data.Object["id"].(string))
		}
		return got, nil
	}
	got, err := list("payment_intent.succeeded", "payment_intent.payment_failed")
	if err != nil {
		t.Fatal(err)
	}
	failed := s.PaymentIntents()[1].ID
	if want := []string{"payment_intent.payment_failed " + failed, "payment_intent.succeeded " + ok.ID}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v (newest first)", got, want)
	}
	var many []string
	for i := range 21 {
		many = append(many, fmt.Sprintf("type.%d", i))
	}
	if _, err := list(many...); apiErr(t, err).HTTPStatusCode != 400 {
		t.Errorf("21 types: %v, want 400", err)
	}
	if _, err := list(many[:20]...); err != nil {
		t.Errorf("20 types: %v, want them listed", err)
	}
}

// TestEventsDecodeAsTheServiceReadsThem: EventFor and recorded events go
// through the service's own parser.
func TestEventsDecodeAsTheServiceReadsThem(t *testing.T) {
	t.Parallel()
	s := Start(t)
	api := newAPI(t, s.URL, 0)
	pi, err := api.V1PaymentIntents.Create(ctx, chargeParams("k1", "cus_1", "pm_card_visa", 500, map[string]string{"credits_recharge": "rch_1"}))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := creditsstripe.ParseEvent(s.EventFor("payment_intent.succeeded", pi.ID))
	if err != nil {
		t.Fatal(err)
	}
	if ev.PaymentIntent == nil || ev.PaymentIntent.ID != pi.ID || ev.PaymentIntent.Metadata["credits_recharge"] != "rch_1" || ev.PaymentIntent.Status != "succeeded" {
		t.Errorf("parsed %+v, want the succeeded PaymentIntent", ev.PaymentIntent)
	}
	refund := s.CreateRefund(pi.ID, 200)
	for _, recorded := range s.Events("charge.refunded", "refund.created") {
		ev, err := creditsstripe.ParseEvent(recorded.Payload())
		if err != nil {
			t.Errorf("%s: %v", recorded.Type, err)
			continue
		}
		if ev.Charge == nil && ev.Refund == nil {
			t.Errorf("%s parsed without its object: %+v", recorded.Type, ev)
		}
	}
	if refund.Amount != 200 {
		t.Errorf("refund of %d, want 200", refund.Amount)
	}
}
