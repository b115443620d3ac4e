package stripe_test

import (
	"strings"
	"testing"

	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/stripe"
)

func TestParseEvent(t *testing.T) {
	payload := testkit.Event("evt_1", "checkout.session.completed", true, testkit.Session{
		ID: "cs_1", PaymentStatus: "paid", ClientReferenceID: "u1", CustomerEmail: "A@Example.com",
		Metadata: map[string]string{"pack_id": "p"}, AmountTotal: 999, Currency: "eur", PaymentIntent: "pi_1",
	})
	ev, err := stripe.ParseEvent(payload)
	if err != nil {
		t.Fatal(err)
	}
	s := ev.Session
	if ev.ID != "evt_1" || ev.Type != "checkout.session.completed" || !ev.Livemode || s == nil {
		t.Fatalf("event = %+v", ev)
	}
	if s.ID != "cs_1" || s.PaymentStatus != "paid" || s.ClientReferenceID != "u1" || s.Email != "a@example.com" ||
		s.Metadata["pack_id"] != "p" || s.AmountTotal != 999 || s.Currency != "eur" || s.PaymentIntent != "pi_1" {
		t.Errorf("session = %+v", s)
	}
}

func TestParseEventRejects(t *testing.T) {
	tests := []struct{ name, payload, want string }{
		{"not json", `{`, "not valid JSON"},
		{"not an event", `{"id":"cs_1","object":"checkout.session"}`, "not an event"},
		{"no id", `{"object":"event","type":"x"}`, "event id"},
		{"no type", `{"id":"evt_1","object":"event"}`, "event type"},
		{"checkout without data", `{"id":"evt_1","object":"event","type":"checkout.session.completed"}`, "no data.object"},
		{"checkout without session id", `{"id":"evt_1","object":"event","type":"checkout.session.completed","data":{"object":{"object":"checkout.session"}}}`, "session id"},
		{"session of the wrong shape", `{"id":"evt_1","object":"event","type":"checkout.session.completed","data":{"object":{"id":7}}}`, "not a session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stripe.ParseEvent([]byte(tt.payload))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one that mentions %q", err, tt.want)
			}
		})
	}
}

func TestParseRefundAndDisputeEvents(t *testing.T) {
	refund, err := stripe.ParseEvent(testkit.ChargeRefunded("evt_r", "ch_1", "pi_1", 1000, 400))
	if err != nil {
		t.Fatal(err)
	}
	if c := refund.Charge; c == nil || c.ID != "ch_1" || c.PaymentIntent != "pi_1" || c.Amount != 1000 || c.AmountRefunded != 400 || c.Currency != "usd" {
		t.Errorf("charge = %+v", refund.Charge)
	}
	dispute, err := stripe.ParseEvent(testkit.Dispute("evt_d", "charge.dispute.closed", "dp_1", "pi_1", 700, "won"))
	if err != nil {
		t.Fatal(err)
	}
	if d := dispute.Dispute; d == nil || d.ID != "dp_1" || d.PaymentIntent != "pi_1" || d.Amount != 700 || d.Status != "won" {
		t.Errorf("dispute = %+v", dispute.Dispute)
	}
	if _, err := stripe.ParseEvent([]byte(`{"id":"evt_x","object":"event","type":"charge.refunded","data":{"object":{"object":"charge"}}}`)); err == nil {
		t.Error("a refund without a charge id was accepted")
	}
}
