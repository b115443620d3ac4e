package client

import (
	"context"
	"net/http"
	"time"

	"github.com/credits/credits/client/api"
)

// The objects of the API, as generated from docs/openapi.json.
type (
	Account         = api.Account
	Pack            = api.Pack
	Entry           = api.Entry
	Purchase        = api.Purchase
	CheckoutSession = api.CheckoutSession
	DebitResult     = api.DebitResult
	GrantResult     = api.GrantResult
	Hold            = api.Hold
	CheckResult     = api.CheckResult
	UsageResult     = api.UsageResult
	Event           = api.Event
	WebhookEndpoint = api.WebhookEndpoint
	WebhookAttempt  = api.WebhookAttempt
)

// CreateAccount is a new account: ID is your application's id for the
// customer.
type CreateAccount struct {
	ID    string
	Email string
}

// CreateAccount creates an account; ErrConflict when the id exists.
func (c *Client) CreateAccount(ctx context.Context, a CreateAccount) (Account, error) {
	return decode[Account](c.api.CreateAccount(ctx, api.CreateAccountJSONRequestBody{ID: a.ID, Email: a.Email}))
}

// Account reads an account: its balance, available and held credits.
func (c *Client) Account(ctx context.Context, id string) (Account, error) {
	return decode[Account](c.api.GetAccount(ctx, id))
}

// Packs lists the packs on sale.
func (c *Client) Packs(ctx context.Context) ([]Pack, error) {
	list, err := decode[struct{ Data []Pack }](c.api.ListPacks(ctx, nil))
	return list.Data, err
}

// CreateCheckoutSession is a purchase to start: send the customer to the
// session's URL. Quantity 0 means 1.
type CreateCheckoutSession struct {
	PackID         string
	Quantity       int64
	IdempotencyKey string // made when empty
}

// CreateCheckoutSession opens Stripe Checkout for a pack.
func (c *Client) CreateCheckoutSession(ctx context.Context, accountID string, s CreateCheckoutSession) (CheckoutSession, error) {
	key := keyOr(s.IdempotencyKey)
	body := api.CreateCheckoutSessionJSONRequestBody{PackID: s.PackID, Quantity: ifSet(s.Quantity)}
	return decode[CheckoutSession](c.api.CreateCheckoutSession(ctx, accountID, &api.CreateCheckoutSessionParams{IdempotencyKey: &key}, body))
}

// Debit spends credits. Give the same IdempotencyKey to repeat a debit
// safely (one is made when empty, and kept across the client's retries).
type Debit struct {
	Amount         int64
	Description    string
	Metadata       map[string]string
	MemberID       string // spends as this member of the account, under its cap
	IdempotencyKey string
}

// Debit spends credits now; ErrInsufficientCredits (nothing taken) when the
// account has too few, ErrAccountInDebt when it owes credits,
// ErrMemberCapExceeded when the member's cap does not allow them.
func (c *Client) Debit(ctx context.Context, accountID string, d Debit) (DebitResult, error) {
	body := api.CreateDebitJSONRequestBody{Amount: d.Amount, Description: ifSet(d.Description), MemberID: ifSet(d.MemberID)}
	if d.Metadata != nil {
		body.Metadata = &d.Metadata
	}
	params := &api.CreateDebitParams{IdempotencyKey: keyOr(d.IdempotencyKey)}
	return decode[DebitResult](c.api.CreateDebit(ctx, accountID, params, body))
}

// Grant gives credits: ExpiresAt (optional) in the future; Priority 0 to
// 1000000, lower spent first.
type Grant struct {
	Amount         int64
	ExpiresAt      time.Time
	Priority       int64
	Reason         string
	IdempotencyKey string // made when empty
}

// Grant gives credits to an account.
func (c *Client) Grant(ctx context.Context, accountID string, g Grant) (GrantResult, error) {
	body := api.CreateGrantJSONRequestBody{Amount: g.Amount, Priority: ifSet(g.Priority), Reason: ifSet(g.Reason)}
	if !g.ExpiresAt.IsZero() {
		body.ExpiresAt = &g.ExpiresAt
	}
	key := keyOr(g.IdempotencyKey)
	return decode[GrantResult](c.api.CreateGrant(ctx, accountID, &api.CreateGrantParams{IdempotencyKey: &key}, body))
}

// CreateHold reserves credits until captured, released or expired
// (ExpiresIn 0: the service's default, 10 minutes).
type CreateHold struct {
	Amount         int64
	ExpiresIn      time.Duration
	Description    string
	MemberID       string // holds as this member of the account, under its cap
	IdempotencyKey string // made when empty
}

// CreateHold reserves credits; ErrInsufficientCredits when short.
func (c *Client) CreateHold(ctx context.Context, accountID string, h CreateHold) (Hold, error) {
	body := api.CreateHoldJSONRequestBody{Amount: h.Amount, Description: ifSet(h.Description), MemberID: ifSet(h.MemberID),
		ExpiresInSeconds: ifSet(int64(h.ExpiresIn / time.Second))}
	params := &api.CreateHoldParams{IdempotencyKey: keyOr(h.IdempotencyKey)}
	return decode[Hold](c.api.CreateHold(ctx, accountID, params, body))
}

// Hold reads a hold.
func (c *Client) Hold(ctx context.Context, holdID string) (Hold, error) {
	return decode[Hold](c.api.GetHold(ctx, holdID))
}

// CaptureHold spends amount of a hold's credits (0: all of them) and gives
// the rest back; capturing again answers the same.
func (c *Client) CaptureHold(ctx context.Context, holdID string, amount int64) (Hold, error) {
	body := api.CaptureHoldJSONRequestBody{Amount: ifSet(amount)}
	return decode[Hold](c.api.CaptureHold(ctx, holdID, body, idempotentByState))
}

// ReleaseHold gives a hold's credits back; releasing again answers the same.
func (c *Client) ReleaseHold(ctx context.Context, holdID string) (Hold, error) {
	return decode[Hold](c.api.ReleaseHold(ctx, holdID, idempotentByState))
}

// idempotentByState marks a POST that the server answers the same when it
// is repeated (a hold's capture or release), so that it is retried like one
// with an Idempotency-Key.
func idempotentByState(_ context.Context, req *http.Request) error {
	req.Header.Set(repeatableHeader, "1")
	return nil
}

func keyOr(key string) string {
	if key == "" {
		return NewIdempotencyKey()
	}
	return key
}

// ifSet is nil for a zero value, which the API takes as "not given".
func ifSet[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}
