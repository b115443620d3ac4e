package stripe

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	stripego "github.com/stripe/stripe-go/v85"

	"github.com/credits/credits"
)

// MaxEventIDLength bounds the event id we store.
const MaxEventIDLength = 255

// ParseEvent maps a verified event payload to a domain event. Events of any
// API version are accepted: only the fields we read matter, and those are
// stable across versions (stripe-go's version check would reject a Dashboard
// endpoint pinned to another version).
func ParseEvent(payload []byte) (credits.StripeEvent, error) {
	var ev stripego.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return credits.StripeEvent{}, fmt.Errorf("event is not valid JSON: %w", err)
	}
	return mapEvent(&ev, payload)
}

// mapEvent maps a Stripe event, received or listed, to a domain event.
func mapEvent(ev *stripego.Event, payload []byte) (credits.StripeEvent, error) {
	if ev.Object != "event" {
		return credits.StripeEvent{}, errors.New(`payload is not an event (object must be "event")`)
	}
	if ev.ID == "" || len(ev.ID) > MaxEventIDLength {
		return credits.StripeEvent{}, errors.New("event id is missing or too long")
	}
	if ev.Type == "" {
		return credits.StripeEvent{}, errors.New("event type is missing")
	}
	out := credits.StripeEvent{ID: ev.ID, Type: string(ev.Type), Livemode: ev.Livemode, Payload: payload}
	switch {
	case out.Type == credits.EventChargeRefunded:
		return withCharge(out, ev)
	case out.Type == credits.EventDisputeCreated || out.Type == credits.EventDisputeClosed:
		return withDispute(out, ev)
	case !strings.HasPrefix(out.Type, "checkout.session."):
		return out, nil
	}
	if ev.Data == nil || len(ev.Data.Raw) == 0 {
		return credits.StripeEvent{}, errors.New("checkout event has no data.object")
	}
	var session stripego.CheckoutSession
	if err := json.Unmarshal(ev.Data.Raw, &session); err != nil {
		return credits.StripeEvent{}, fmt.Errorf("checkout event's data.object is not a session: %w", err)
	}
	if session.ID == "" || len(session.ID) > MaxEventIDLength {
		return credits.StripeEvent{}, errors.New("checkout event's session id is missing or too long")
	}
	mapped := mapSession(&session)
	out.Session = &mapped
	return out, nil
}

func mapSession(s *stripego.CheckoutSession) credits.StripeSession {
	out := credits.StripeSession{
		ID:                s.ID,
		Status:            string(s.Status),
		PaymentStatus:     string(s.PaymentStatus),
		ClientReferenceID: s.ClientReferenceID,
		Email:             s.CustomerEmail,
		Metadata:          s.Metadata,
		AmountTotal:       s.AmountTotal,
		Currency:          string(s.Currency),
		Livemode:          s.Livemode,
	}
	if s.CustomerDetails != nil && s.CustomerDetails.Email != "" {
		out.Email = s.CustomerDetails.Email
	}
	out.Email = strings.ToLower(out.Email)
	if s.PaymentIntent != nil {
		out.PaymentIntent = s.PaymentIntent.ID
	}
	if s.LineItems != nil {
		for _, item := range s.LineItems.Data {
			out.LineItems = append(out.LineItems, mapLineItem(item))
		}
	}
	return out
}

func mapLineItem(item *stripego.LineItem) credits.LineItem {
	out := credits.LineItem{Quantity: item.Quantity}
	if item.Price != nil {
		out.PriceID = item.Price.ID
	}
	return out
}

func eventObject(ev *stripego.Event, into any, what string) error {
	if ev.Data == nil || len(ev.Data.Raw) == 0 {
		return fmt.Errorf("%s event has no data.object", what)
	}
	if err := json.Unmarshal(ev.Data.Raw, into); err != nil {
		return fmt.Errorf("%s event's data.object is not a %s: %w", what, what, err)
	}
	return nil
}

func withCharge(out credits.StripeEvent, ev *stripego.Event) (credits.StripeEvent, error) {
	var charge stripego.Charge
	if err := eventObject(ev, &charge, "charge"); err != nil {
		return credits.StripeEvent{}, err
	}
	if charge.ID == "" || len(charge.ID) > MaxEventIDLength {
		return credits.StripeEvent{}, errors.New("charge event's charge id is missing or too long")
	}
	out.Charge = &credits.StripeCharge{ID: charge.ID, Amount: charge.Amount, AmountRefunded: charge.AmountRefunded, Currency: string(charge.Currency)}
	if charge.PaymentIntent != nil {
		out.Charge.PaymentIntent = charge.PaymentIntent.ID
	}
	return out, nil
}

func withDispute(out credits.StripeEvent, ev *stripego.Event) (credits.StripeEvent, error) {
	var dispute stripego.Dispute
	if err := eventObject(ev, &dispute, "dispute"); err != nil {
		return credits.StripeEvent{}, err
	}
	if dispute.ID == "" || len(dispute.ID) > MaxEventIDLength {
		return credits.StripeEvent{}, errors.New("dispute event's dispute id is missing or too long")
	}
	out.Dispute = &credits.StripeDispute{ID: dispute.ID, Amount: dispute.Amount, Currency: string(dispute.Currency), Status: string(dispute.Status)}
	switch {
	case dispute.PaymentIntent != nil:
		out.Dispute.PaymentIntent = dispute.PaymentIntent.ID
	case dispute.Charge != nil && dispute.Charge.PaymentIntent != nil:
		out.Dispute.PaymentIntent = dispute.Charge.PaymentIntent.ID
	}
	return out, nil
}
