package stripe

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v85"

	"github.com/credits/credits"
)

// maxLineItems bounds how many line items we read of one session.
const maxLineItems = 100

// Client creates and reads Checkout Sessions; it implements credits.Payments.
type Client struct {
	api *stripego.Client
	// EventListed, when set, is told the creation time of each event that
	// listing events read (Stripe lists newest first): how far back into
	// the period a long list has come, for the command line's progress.
	EventListed func(created time.Time)
}

var _ credits.Payments = (*Client)(nil)

// NewClient returns a client for the given secret key. apiBase, when set,
// points it at another server (stripe-mock in tests).
func NewClient(secretKey, apiBase string) *Client {
	config := &stripego.BackendConfig{
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelError},
	}
	if apiBase != "" {
		config.URL = stripego.String(strings.TrimRight(apiBase, "/"))
	}
	backends := stripego.NewBackendsWithConfig(config)
	return &Client{api: stripego.NewClient(secretKey, stripego.WithBackends(backends))}
}

// Livemode reports whether a secret key is a live-mode key.
func Livemode(secretKey string) bool {
	return strings.HasPrefix(secretKey, "sk_live_") || strings.HasPrefix(secretKey, "rk_live_")
}

// CreateCheckoutSession creates a payment-mode session for quantity packs.
// A pack without a Stripe price is sold with inline price data.
func (c *Client) CreateCheckoutSession(ctx context.Context, req credits.CheckoutRequest) (string, string, error) {
	item := &stripego.CheckoutSessionCreateLineItemParams{Quantity: stripego.Int64(req.Quantity)}
	if req.Pack.StripePriceID != "" {
		item.Price = stripego.String(req.Pack.StripePriceID)
	} else {
		item.PriceData = &stripego.CheckoutSessionCreateLineItemPriceDataParams{
			Currency:   stripego.String(req.Pack.Currency),
			UnitAmount: stripego.Int64(req.Pack.UnitAmount),
			ProductData: &stripego.CheckoutSessionCreateLineItemPriceDataProductDataParams{
				Name: stripego.String(req.Pack.Name),
			},
		}
	}
	params := &stripego.CheckoutSessionCreateParams{
		Mode:              stripego.String(string(stripego.CheckoutSessionModePayment)),
		LineItems:         []*stripego.CheckoutSessionCreateLineItemParams{item},
		ClientReferenceID: stripego.String(req.Account.ID),
		SuccessURL:        stripego.String(req.SuccessURL),
		CancelURL:         stripego.String(req.CancelURL),
		Metadata:          checkoutMetadata(req),
		PaymentIntentData: &stripego.CheckoutSessionCreatePaymentIntentDataParams{Metadata: checkoutMetadata(req)},
	}
	if req.CustomerID != "" {
		params.Customer = stripego.String(req.CustomerID) // Stripe takes a customer or an email, not both
	} else {
		params.CustomerEmail = stripego.String(req.Account.Email)
	}
	if req.CardOnly {
		params.PaymentMethodTypes = []*string{stripego.String("card")}
	}
	if req.SaveCard {
		params.PaymentIntentData.SetupFutureUsage = stripego.String(string(stripego.PaymentIntentSetupFutureUsageOffSession))
	}
	if !req.ExpiresAt.IsZero() {
		params.ExpiresAt = stripego.Int64(req.ExpiresAt.Unix())
	}
	if req.IdempotencyKey != "" {
		params.SetIdempotencyKey(req.IdempotencyKey)
	}
	session, err := c.api.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return "", "", fmt.Errorf("stripe: create checkout session: %w", failure(err))
	}
	return session.ID, session.URL, nil
}

// checkoutMetadata names the account, the pack, the quantity and our
// reference, on the session and on its payment intent (and so on its charge).
func checkoutMetadata(req credits.CheckoutRequest) map[string]string {
	m := map[string]string{"account_id": req.Account.ID, "pack_id": req.Pack.ID, "quantity": fmt.Sprint(req.Quantity)}
	if req.Reference != "" {
		m["credits_checkout"] = req.Reference
	}
	if req.SaveCard {
		m[credits.SaveCardMetadataKey] = "true"
	}
	return m
}

// RetrieveSession reads a session and its line items.
func (c *Client) RetrieveSession(ctx context.Context, id string, withLineItems bool) (credits.StripeSession, error) {
	session, err := c.api.V1CheckoutSessions.Retrieve(ctx, id, nil)
	if err != nil {
		return credits.StripeSession{}, fmt.Errorf("stripe: retrieve checkout session %s: %w", id, failure(err))
	}
	if session.LastResponse == nil {
		return credits.StripeSession{}, fmt.Errorf("stripe: retrieve checkout session %s: no response body", id)
	}
	decoded, err := decodeSession(session.LastResponse.RawJSON)
	if err != nil {
		return credits.StripeSession{}, fmt.Errorf("stripe: checkout session %s: %w", id, err)
	}
	out := *decoded
	out.LineItems = nil
	if !withLineItems {
		return out, nil
	}
	params := &stripego.CheckoutSessionListLineItemsParams{Session: stripego.String(id)}
	for item, err := range c.api.V1CheckoutSessions.ListLineItems(ctx, params).All(ctx) {
		if err != nil {
			return credits.StripeSession{}, fmt.Errorf("stripe: list line items of %s: %w", id, err)
		}
		if len(out.LineItems) == maxLineItems {
			return credits.StripeSession{}, fmt.Errorf("stripe: session %s has more than %d line items", id, maxLineItems)
		}
		line := credits.LineItem{Quantity: item.Quantity}
		if item.Price != nil {
			line.PriceID = item.Price.ID
		}
		out.LineItems = append(out.LineItems, line)
	}
	return out, nil
}

// MaxReplayWindow is how far back Stripe's Events API keeps events.
const MaxReplayWindow = 30 * 24 * time.Hour

// MaxEventTypesPerList is the most types[] Stripe's Events list takes in
// one request: it answers 400 to more.
const MaxEventTypesPerList = 20

// EventTypeGroups splits types, each once and in their order, into groups
// of at most MaxEventTypesPerList.
func EventTypeGroups(types []string) [][]string {
	var groups [][]string
	seen := map[string]bool{}
	for _, t := range types {
		if seen[t] {
			continue
		}
		seen[t] = true
		if len(groups) == 0 || len(groups[len(groups)-1]) == MaxEventTypesPerList {
			groups = append(groups, make([]string, 0, MaxEventTypesPerList))
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], t)
	}
	return groups
}

// Events lists, from Stripe's Events API, the events that we act on, created at or
// after since, oldest first. They come from Stripe over its API with our key,
// so they need no signature.
func (c *Client) Events(ctx context.Context, since time.Time) iter.Seq2[credits.StripeEvent, error] {
	return c.EventsOfTypes(ctx, since, credits.HandledEventTypes)
}

// EventsOfTypes lists the events of the given types created at or after
// since, oldest first, each once: one list per group of EventTypeGroups,
// merged.
func (c *Client) EventsOfTypes(ctx context.Context, since time.Time, types []string) iter.Seq2[credits.StripeEvent, error] {
	return func(yield func(credits.StripeEvent, error) bool) {
		var events []credits.StripeEvent
		for _, group := range EventTypeGroups(types) {
			listed, ok := c.listEvents(ctx, since, group, yield)
			if !ok {
				return
			}
			events = append(events, listed...)
		}
		// Each list is in the order the events happened; merged, they are
		// too. An event that two lists answered is applied once.
		slices.SortStableFunc(events, func(a, b credits.StripeEvent) int { return a.Created.Compare(b.Created) })
		seen := map[string]bool{}
		for _, ev := range events {
			if seen[ev.ID] {
				continue
			}
			seen[ev.ID] = true
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// listEvents lists the events of at most MaxEventTypesPerList types, oldest
// first. An event it cannot read is yielded as an error at once; ok is false
// when the list failed (yielded too) or the caller stopped.
func (c *Client) listEvents(ctx context.Context, since time.Time, types []string, yield func(credits.StripeEvent, error) bool) (events []credits.StripeEvent, ok bool) {
	if len(types) > MaxEventTypesPerList {
		panic(fmt.Sprintf("stripe: %d event types in one list, more than Stripe takes", len(types)))
	}
	params := &stripego.EventListParams{CreatedRange: &stripego.RangeQueryParams{GreaterThanOrEqual: since.Unix()}}
	for _, t := range types {
		params.Types = append(params.Types, stripego.String(t))
	}
	for ev, err := range c.api.V1Events.List(ctx, params).All(ctx) {
		if err != nil {
			yield(credits.StripeEvent{}, fmt.Errorf("stripe: list events: %w", err))
			return nil, false
		}
		env := envelope{ID: ev.ID, Object: "event", Type: string(ev.Type), Livemode: ev.Livemode, Created: ev.Created, Account: ev.Account}
		var object json.RawMessage
		if ev.Data != nil {
			object = ev.Data.Raw
		}
		payload, err := json.Marshal(map[string]any{"id": env.ID, "object": env.Object, "type": env.Type,
			"livemode": env.Livemode, "created": env.Created, "account": env.Account, "data": map[string]any{"object": object}})
		if err != nil {
			if !yield(credits.StripeEvent{}, fmt.Errorf("stripe: event %s: %w", ev.ID, err)) {
				return nil, false
			}
			continue
		}
		events = append(events, mapEvent(env, object, payload))
		if c.EventListed != nil {
			c.EventListed(time.Unix(env.Created, 0))
		}
	}
	// Stripe lists newest first.
	slices.Reverse(events)
	return events, true
}
