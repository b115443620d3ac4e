package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"time"

	stripego "github.com/stripe/stripe-go/v85"

	"github.com/credits/credits"
)

// Listing for reconcile. stripe-go retries a request itself
// (MaxNetworkRetries, 2 by default, 0.5 to 5 s apart) only when no answer
// came (a network error) or on a 429 lock timeout: an answer that carries a
// Stripe error, a 429 rate limit or a 5xx, reaches the caller at once. A
// list of thousands of objects is many requests, so a page that fails that
// way is asked again here, after a longer wait each time, from the last
// object listed.
const (
	listPageSize = 100
	// MaxListRetries is how often one page is asked again after a 429 or a
	// 5xx that stripe-go gave up on.
	MaxListRetries = 6
	maxListBackoff = time.Minute
)

// listBackoff is the first wait before a page is asked again; it doubles
// each time (tests shorten it).
var listBackoff = 2 * time.Second

var _ credits.StripeLister = (*Client)(nil)

// ListStripe lists Stripe's objects of one type created at or after since,
// newest first, after the object startingAfter.
func (c *Client) ListStripe(ctx context.Context, objectType string, since time.Time, startingAfter string) iter.Seq2[credits.StripeObject, error] {
	return func(yield func(credits.StripeObject, error) bool) {
		last, failures := startingAfter, 0
		for {
			more, stopped, err := c.listFrom(ctx, objectType, since, &last, yield)
			if stopped || err == nil {
				return
			}
			if cursorGone(err, last) {
				yield(credits.StripeObject{}, fmt.Errorf("stripe: list %s after %s: %w (%w)", objectType, last, credits.ErrStripeCursorGone, err))
				return
			}
			if !listRetryable(err) || failures == MaxListRetries || ctx.Err() != nil {
				yield(credits.StripeObject{}, fmt.Errorf("stripe: list %s: %w", objectType, err))
				return
			}
			if more {
				failures = 0 // an object came through: the next failure starts the waits again
			}
			failures++
			if !listWait(ctx, min(listBackoff<<(failures-1), maxListBackoff)) {
				yield(credits.StripeObject{}, fmt.Errorf("stripe: list %s: %w", objectType, ctx.Err()))
				return
			}
		}
	}
}

// cursorGone reports whether Stripe answered that the object a list
// continues after no longer exists (400 resource_missing on starting_after):
// asking again cannot pass.
func cursorGone(err error, last string) bool {
	var se *stripego.Error
	return last != "" && errors.As(err, &se) && se.Code == stripego.ErrorCodeResourceMissing &&
		(se.Param == "starting_after" || se.Param == "")
}

// RetrieveStripe reads one refund or dispute by id, read as a listed one
// is; an error wrapping credits.ErrNotFound when Stripe has none. A 429 or
// a 5xx is asked again, as a list's page is.
func (c *Client) RetrieveStripe(ctx context.Context, objectType, id string) (credits.StripeObject, error) {
	for failures := 0; ; failures++ {
		object, err := c.retrieve(ctx, objectType, id)
		var se *stripego.Error
		switch {
		case err == nil:
			return object, nil
		case errors.As(err, &se) && se.Code == stripego.ErrorCodeResourceMissing:
			return object, fmt.Errorf("stripe: retrieve %s %s: %w (%w)", objectType, id, credits.ErrNotFound, err)
		case !listRetryable(err) || failures == MaxListRetries || ctx.Err() != nil:
			return object, fmt.Errorf("stripe: retrieve %s %s: %w", objectType, id, err)
		}
		if !listWait(ctx, min(listBackoff<<failures, maxListBackoff)) {
			return object, fmt.Errorf("stripe: retrieve %s %s: %w", objectType, id, ctx.Err())
		}
	}
}

func (c *Client) retrieve(ctx context.Context, objectType, id string) (credits.StripeObject, error) {
	switch objectType {
	case credits.StripeRefunds:
		r, err := c.api.V1Refunds.Retrieve(ctx, id, nil)
		if err != nil {
			return credits.StripeObject{}, err
		}
		return listedRefund(r)
	case credits.StripeDisputes:
		d, err := c.api.V1Disputes.Retrieve(ctx, id, nil)
		if err != nil {
			return credits.StripeObject{}, err
		}
		return listedDispute(d)
	}
	return credits.StripeObject{}, fmt.Errorf("stripe: cannot retrieve %q", objectType)
}

// listRetryable reports whether a list's failure may pass if asked again later:
// a rate limit, Stripe's own failure, or no answer at all.
func listRetryable(err error) bool {
	var se *stripego.Error
	if !errors.As(err, &se) {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	return se.HTTPStatusCode == http.StatusTooManyRequests || se.HTTPStatusCode >= http.StatusInternalServerError
}

func listWait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// listFrom lists from after *last to the end, or to a failure; it moves
// *last on with each object yielded. more says that objects came through
// before a failure; stopped that the caller stopped listening (or was
// told of an object that cannot be read).
func (c *Client) listFrom(ctx context.Context, objectType string, since time.Time, last *string, yield func(credits.StripeObject, error) bool) (more, stopped bool, err error) {
	params := stripego.ListParams{Limit: stripego.Int64(listPageSize)}
	if *last != "" {
		params.StartingAfter = stripego.String(*last)
	}
	created := &stripego.RangeQueryParams{GreaterThanOrEqual: since.Unix()}
	switch objectType {
	case credits.StripeCheckoutSessions:
		p := &stripego.CheckoutSessionListParams{ListParams: params, CreatedRange: created}
		return eachListed(c.api.V1CheckoutSessions.List(ctx, p).All(ctx), listedSession, last, yield)
	case credits.StripePaymentIntents:
		p := &stripego.PaymentIntentListParams{ListParams: params, CreatedRange: created}
		return eachListed(c.api.V1PaymentIntents.List(ctx, p).All(ctx), listedPaymentIntent, last, yield)
	case credits.StripeCharges:
		p := &stripego.ChargeListParams{ListParams: params, CreatedRange: created}
		return eachListed(c.api.V1Charges.List(ctx, p).All(ctx), listedCharge, last, yield)
	case credits.StripeRefunds:
		p := &stripego.RefundListParams{ListParams: params, CreatedRange: created}
		return eachListed(c.api.V1Refunds.List(ctx, p).All(ctx), listedRefund, last, yield)
	case credits.StripeDisputes:
		p := &stripego.DisputeListParams{ListParams: params, CreatedRange: created}
		return eachListed(c.api.V1Disputes.List(ctx, p).All(ctx), listedDispute, last, yield)
	}
	return false, true, yieldError(yield, fmt.Errorf("stripe: cannot list %q", objectType))
}

func yieldError(yield func(credits.StripeObject, error) bool, err error) error {
	yield(credits.StripeObject{}, err)
	return nil
}

// eachListed yields the objects of one of stripe-go's list iterators, read into
// the service's own types.
func eachListed[T any](seq stripego.Seq2[T, error], read func(T) (credits.StripeObject, error), last *string, yield func(credits.StripeObject, error) bool) (more, stopped bool, err error) {
	for item, err := range seq {
		if err != nil {
			return more, false, err
		}
		object, err := read(item)
		if err != nil {
			yield(credits.StripeObject{}, err)
			return more, true, nil
		}
		if !yield(object, nil) {
			return more, true, nil
		}
		*last, more = object.ID, true
	}
	return more, false, nil
}

// listedObject reads a listed object through the decoder of its events (the
// same fields, the same checks), from its JSON.
func listedObject[T any](objectType, id string, created int64, livemode bool, item any, decode func(json.RawMessage) (T, error)) (credits.StripeObject, T, error) {
	raw, err := json.Marshal(item)
	if err != nil {
		var zero T
		return credits.StripeObject{}, zero, fmt.Errorf("stripe: %s %s: %w", objectType, id, err)
	}
	decoded, err := decode(raw)
	if err != nil {
		return credits.StripeObject{}, decoded, fmt.Errorf("stripe: %s %s: %w", objectType, id, err)
	}
	return credits.StripeObject{Type: objectType, ID: id, Created: time.Unix(created, 0).UTC(), Livemode: livemode, Raw: raw}, decoded, nil
}

func listedSession(s *stripego.CheckoutSession) (credits.StripeObject, error) {
	o, decoded, err := listedObject(credits.StripeCheckoutSessions, s.ID, s.Created, s.Livemode, s, decodeSession)
	o.Session = decoded
	return o, err
}

func listedPaymentIntent(p *stripego.PaymentIntent) (credits.StripeObject, error) {
	o, decoded, err := listedObject(credits.StripePaymentIntents, p.ID, p.Created, p.Livemode, p, decodePaymentIntent)
	if decoded != nil {
		o.PaymentIntent, o.Metadata = decoded, decoded.Metadata
	}
	return o, err
}

func listedCharge(c *stripego.Charge) (credits.StripeObject, error) {
	o, decoded, err := listedObject(credits.StripeCharges, c.ID, c.Created, c.Livemode, c, decodeCharge)
	o.Charge, o.Metadata = decoded, c.Metadata
	return o, err
}

func listedRefund(r *stripego.Refund) (credits.StripeObject, error) {
	o, decoded, err := listedObject(credits.StripeRefunds, r.ID, r.Created, false, r, decodeRefund)
	o.Refund = decoded
	return o, err
}

// listedDispute reads a dispute and what its balance transactions show: one
// that withdrew the funds (negative), and one that reinstated them.
func listedDispute(d *stripego.Dispute) (credits.StripeObject, error) {
	o, decoded, err := listedObject(credits.StripeDisputes, d.ID, d.Created, d.Livemode, d, decodeDispute)
	o.Dispute = decoded
	for _, bt := range d.BalanceTransactions {
		if bt != nil && bt.Amount < 0 {
			o.FundsWithdrawn = true
		}
		if bt != nil && bt.Amount > 0 {
			o.FundsReinstated = true
		}
	}
	return o, err
}
