package stripe

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/credits/credits"
)

// MaxEventIDLength bounds the ids we store.
const MaxEventIDLength = 255

// The service decodes only the fields it reads, into small types of its own:
// a field it does not read can never fail an event, whatever the API version
// (stripe-go's types follow one version, and its version check would refuse
// a Dashboard endpoint pinned to another).

// envelope is what the service reads of an event.
type envelope struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Type     string `json:"type"`
	Livemode bool   `json:"livemode"`
	Created  int64  `json:"created"`
	Account  string `json:"account"` // set for events of a connected account (Connect)
	Data     *struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// expandable is an id that Stripe sends as a string, or as the object when
// it is expanded, or as null.
type expandable string

func (e *expandable) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*e = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		err := json.Unmarshal(b, &s)
		*e = expandable(s)
		return err
	}
	var object struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &object); err != nil {
		return errors.New("expected an id or an object with an id")
	}
	*e = expandable(object.ID)
	return nil
}

type sessionObject struct {
	ID                string            `json:"id"`
	Mode              string            `json:"mode"`
	Status            string            `json:"status"`
	PaymentStatus     string            `json:"payment_status"`
	ClientReferenceID string            `json:"client_reference_id"`
	CustomerEmail     string            `json:"customer_email"`
	Metadata          map[string]string `json:"metadata"`
	AmountTotal       int64             `json:"amount_total"`
	AmountSubtotal    int64             `json:"amount_subtotal"`
	Currency          string            `json:"currency"`
	PaymentIntent     expandable        `json:"payment_intent"`
	SetupIntent       expandable        `json:"setup_intent"`
	Customer          expandable        `json:"customer"`
	Livemode          bool              `json:"livemode"`
	CustomerDetails   *struct {
		Email string `json:"email"`
	} `json:"customer_details"`
	TotalDetails *struct {
		AmountDiscount int64 `json:"amount_discount"`
	} `json:"total_details"`
	CurrencyConversion *struct {
		AmountSubtotal int64  `json:"amount_subtotal"`
		SourceCurrency string `json:"source_currency"`
	} `json:"currency_conversion"`
	LineItems *struct {
		Data []lineItemObject `json:"data"`
	} `json:"line_items"`
}

type lineItemObject struct {
	Quantity int64      `json:"quantity"`
	Price    expandable `json:"price"`
}

type chargeObject struct {
	ID             string     `json:"id"`
	Amount         int64      `json:"amount"`
	AmountRefunded int64      `json:"amount_refunded"`
	Currency       string     `json:"currency"`
	PaymentIntent  expandable `json:"payment_intent"`
}

type refundObject struct {
	ID            string     `json:"id"`
	Amount        int64      `json:"amount"`
	Currency      string     `json:"currency"`
	Status        string     `json:"status"`
	Charge        expandable `json:"charge"`
	PaymentIntent expandable `json:"payment_intent"`
}

type disputeObject struct {
	ID            string     `json:"id"`
	Amount        int64      `json:"amount"`
	Currency      string     `json:"currency"`
	Status        string     `json:"status"`
	Charge        expandable `json:"charge"`
	PaymentIntent expandable `json:"payment_intent"`
}

// ParseEvent maps a verified event payload to a domain event. A payload that
// is not an event at all is an error (nothing is recorded); an event that the
// service cannot use comes back with Unusable set, so that it is recorded as
// failed and answered 2xx: Stripe would otherwise retry it for three days,
// then drop it.
func ParseEvent(payload []byte) (credits.StripeEvent, error) {
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		var syntaxErr *json.SyntaxError
		if errors.As(err, &syntaxErr) || !json.Valid(payload) {
			return credits.StripeEvent{}, fmt.Errorf("event is not valid JSON: %w", err)
		}
		return unusable(payload, "the event's envelope has fields of another shape: "+err.Error()), nil
	}
	if env.Object != "event" && env.Object != "v2.core.event" {
		return credits.StripeEvent{}, errors.New(`payload is not an event (object must be "event")`)
	}
	if env.ID == "" {
		return credits.StripeEvent{}, errors.New("event id is missing")
	}
	if len(env.ID) > MaxEventIDLength || !credits.PlainText(env.ID) {
		return credits.StripeEvent{}, errors.New("event id is too long or not plain text")
	}
	if env.Type == "" {
		return credits.StripeEvent{}, errors.New("event type is missing")
	}
	var raw json.RawMessage
	if env.Data != nil {
		raw = env.Data.Object
	}
	return mapEvent(env, raw, payload), nil
}

// unusable records a payload that has no usable id under an id of its own,
// so that a redelivery is recognised.
func unusable(payload []byte, reason string) credits.StripeEvent {
	sum := sha256.Sum256(payload)
	return credits.StripeEvent{ID: "unreadable_" + hex.EncodeToString(sum[:12]), Type: "unknown", Payload: payload, Unusable: reason}
}

// mapEvent maps an event, received or listed, to a domain event.
func mapEvent(env envelope, object json.RawMessage, payload []byte) credits.StripeEvent {
	out := credits.StripeEvent{ID: env.ID, Type: plain(env.Type), Livemode: env.Livemode, Payload: payload}
	if env.Created > 0 {
		out.Created = time.Unix(env.Created, 0).UTC()
	}
	switch {
	case env.Object == "v2.core.event":
		out.Ignore = "a thin event carries no snapshot of its object: configure the endpoint for snapshot events"
		return out
	case env.Account != "":
		out.Ignore = "an event of connected account " + env.Account + ": Connect accounts are not handled"
		return out
	case !handled(env.Type):
		return out
	case len(object) == 0 || bytes.Equal(object, []byte("null")):
		out.Unusable = "the event carries no data.object"
		return out
	}
	var err error
	switch {
	case strings.HasPrefix(env.Type, "checkout.session."):
		out.Session, err = decodeSession(object)
	case env.Type == credits.EventChargeRefunded:
		out.Charge, err = decodeCharge(object)
	case strings.HasPrefix(env.Type, "charge.dispute."):
		out.Dispute, err = decodeDispute(object)
	case strings.HasPrefix(env.Type, "payment_intent."):
		out.PaymentIntent, err = decodePaymentIntent(object)
	case env.Type == credits.EventPaymentMethodDetached:
		out.PaymentMethodID, err = decodeID(object, "payment method")
	case env.Type == credits.EventCustomerDeleted:
		out.CustomerID, err = decodeID(object, "customer")
	default: // refund.*, charge.refund.updated
		out.Refund, err = decodeRefund(object)
	}
	if err != nil {
		out.Unusable = err.Error()
	}
	return out
}

func handled(eventType string) bool {
	for _, t := range credits.HandledEventTypes {
		if t == eventType {
			return true
		}
	}
	return false
}

// decodeObject reads an event's object as what (for errors), and checks
// that it has an id.
func decodeObject[T any](raw json.RawMessage, what string, id func(*T) string) (*T, error) {
	object := new(T)
	if err := json.Unmarshal(raw, object); err != nil {
		return nil, fmt.Errorf("data.object is not a %s as we read it: %w", what, err)
	}
	if v := id(object); v == "" || len(v) > MaxEventIDLength || !credits.PlainText(v) {
		return nil, fmt.Errorf("the %s's id is missing, too long, or not plain text", what)
	}
	return object, nil
}

func decodeSession(raw json.RawMessage) (*credits.StripeSession, error) {
	s, err := decodeObject(raw, "checkout session", func(s *sessionObject) string { return s.ID })
	if err != nil {
		return nil, err
	}
	out := mapSession(*s)
	return &out, nil
}

// plain makes a string from outside safe to keep: invalid UTF-8 and control
// characters (a NUL, which PostgreSQL refuses) become U+FFFD. The strings it
// cleans serve matching only, where such a character can never match.
func plain(s string) string {
	if credits.PlainText(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}

func mapSession(s sessionObject) credits.StripeSession {
	out := credits.StripeSession{
		ID: s.ID, Mode: plain(s.Mode), Status: plain(s.Status), PaymentStatus: plain(s.PaymentStatus),
		ClientReferenceID: plain(s.ClientReferenceID), Email: plain(s.CustomerEmail), AmountTotal: s.AmountTotal,
		AmountSubtotal: s.AmountSubtotal, Currency: plain(strings.ToLower(s.Currency)), PaymentIntent: plain(string(s.PaymentIntent)),
		SetupIntent: plain(string(s.SetupIntent)), Customer: plain(string(s.Customer)), Livemode: s.Livemode,
	}
	if len(s.Metadata) > 0 {
		out.Metadata = make(map[string]string, len(s.Metadata))
		for k, v := range s.Metadata {
			out.Metadata[plain(k)] = plain(v)
		}
	}
	if s.CustomerDetails != nil && s.CustomerDetails.Email != "" {
		out.Email = plain(s.CustomerDetails.Email)
	}
	out.Email = credits.NormalizeEmail(out.Email) // ASCII only: Unicode folding turns U+212A KELVIN SIGN into k
	if s.TotalDetails != nil {
		out.AmountDiscount = s.TotalDetails.AmountDiscount
	}
	if c := s.CurrencyConversion; c != nil && c.SourceCurrency != "" {
		out.SourceAmountSubtotal, out.SourceCurrency = c.AmountSubtotal, strings.ToLower(c.SourceCurrency)
	}
	if s.LineItems != nil {
		for _, item := range s.LineItems.Data {
			out.LineItems = append(out.LineItems, credits.LineItem{PriceID: plain(string(item.Price)), Quantity: item.Quantity})
		}
	}
	return out
}

func decodeCharge(raw json.RawMessage) (*credits.StripeCharge, error) {
	c, err := decodeObject(raw, "charge", func(c *chargeObject) string { return c.ID })
	if err != nil {
		return nil, err
	}
	return &credits.StripeCharge{ID: c.ID, PaymentIntent: plain(string(c.PaymentIntent)), Amount: c.Amount,
		AmountRefunded: c.AmountRefunded, Currency: plain(strings.ToLower(c.Currency))}, nil
}

func decodeRefund(raw json.RawMessage) (*credits.StripeRefund, error) {
	r, err := decodeObject(raw, "refund", func(r *refundObject) string { return r.ID })
	if err != nil {
		return nil, err
	}
	return &credits.StripeRefund{ID: r.ID, Charge: plain(string(r.Charge)), PaymentIntent: plain(string(r.PaymentIntent)),
		Amount: r.Amount, Currency: plain(strings.ToLower(r.Currency)), Status: plain(r.Status)}, nil
}

func decodeDispute(raw json.RawMessage) (*credits.StripeDispute, error) {
	d, err := decodeObject(raw, "dispute", func(d *disputeObject) string { return d.ID })
	if err != nil {
		return nil, err
	}
	return &credits.StripeDispute{ID: d.ID, Charge: plain(string(d.Charge)), PaymentIntent: plain(string(d.PaymentIntent)),
		Amount: d.Amount, Currency: plain(strings.ToLower(d.Currency)), Status: plain(d.Status)}, nil
}
