package client

import (
	"context"
	"iter"
	"strconv"

	"github.com/credits/credits/client/api"
)

// PageSize is how many items the list helpers ask for at a time.
const PageSize = 100

// page is a paginated list's answer.
type page[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

// paginate yields every item of a list, fetching the page after the cursor
// of the last item until the service says there is no more. It stops at the
// first error, which it yields.
func paginate[T any](fetch func(after string) (page[T], error), cursor func(T) string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		after := ""
		for {
			p, err := fetch(after)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, item := range p.Data {
				if !yield(item, nil) {
					return
				}
			}
			if !p.HasMore || len(p.Data) == 0 {
				return
			}
			after = cursor(p.Data[len(p.Data)-1])
		}
	}
}

// Accounts yields every account, in order of id.
//
//	for account, err := range c.Accounts(ctx) { … }
func (c *Client) Accounts(ctx context.Context) iter.Seq2[Account, error] {
	return paginate(func(after string) (page[Account], error) {
		params := &api.ListAccountsParams{Limit: ifSet(int64(PageSize)), StartingAfter: ifSet(after)}
		return decode[page[Account]](c.api.ListAccounts(ctx, params))
	}, func(a Account) string { return a.ID })
}

// Entries yields an account's ledger, newest first.
func (c *Client) Entries(ctx context.Context, accountID string) iter.Seq2[Entry, error] {
	return paginate(func(after string) (page[Entry], error) {
		params := &api.ListEntriesParams{Limit: ifSet(int64(PageSize))}
		if after != "" {
			id, err := strconv.ParseInt(after, 10, 64)
			if err != nil {
				return page[Entry]{}, err
			}
			params.StartingAfter = &id
		}
		return decode[page[Entry]](c.api.ListEntries(ctx, accountID, params))
	}, func(e Entry) string { return strconv.FormatInt(e.ID, 10) })
}

// EventFilter narrows Events: a status (pending, processed, ignored,
// unmatched, failed) and a Stripe event type; empty means any.
type EventFilter struct {
	Status string
	Type   string
}

// Events yields the Stripe events received, newest first.
func (c *Client) Events(ctx context.Context, filter EventFilter) iter.Seq2[Event, error] {
	return paginate(func(after string) (page[Event], error) {
		params := &api.ListEventsParams{Status: ifSet(filter.Status), Type: ifSet(filter.Type),
			Limit: ifSet(int64(PageSize)), StartingAfter: ifSet(after)}
		return decode[page[Event]](c.api.ListEvents(ctx, params))
	}, func(e Event) string { return e.ID })
}
