package client

import (
	"context"
	"time"

	"github.com/credits/credits/client/api"
)

// Usage is a usage of a feature, priced by the account's rate card:
// Quantity alone is the quantity named "quantity"; Quantities names them
// (input and output tokens, say); Properties are what rates match (a
// model). A Quantity of 0 is not sent, as if none were given (400): to
// report that nothing was used (a job ending under its hold), send
// Quantities{"quantity": 0}. Give the same IdempotencyKey to repeat a usage safely (one is
// made when empty, and kept across the client's retries).
type Usage struct {
	Feature     string
	Quantity    int64
	Quantities  map[string]int64
	Properties  map[string]string
	Description string
	Metadata    map[string]string
	// HoldID takes the price from a hold of Check with Reserve.
	HoldID string
	// MemberID spends as this member of the account, under its cap.
	MemberID       string
	IdempotencyKey string
}

// Usage prices a usage now and takes its credits: ErrInsufficientCredits
// or ErrMemberCapExceeded (nothing taken) when they fall short, ErrNoRate
// when no rate prices its quantities, ErrNotFound for an unknown feature.
func (c *Client) Usage(ctx context.Context, accountID string, u Usage) (UsageResult, error) {
	body := api.CreateUsageJSONRequestBody{Feature: &u.Feature, Quantity: ifSet(u.Quantity), Quantities: units(u.Quantities),
		Description: ifSet(u.Description), HoldID: ifSet(u.HoldID), MemberID: ifSet(u.MemberID)}
	if u.Properties != nil {
		body.Properties = &u.Properties
	}
	if u.Metadata != nil {
		body.Metadata = &u.Metadata
	}
	params := &api.CreateUsageParams{IdempotencyKey: keyOr(u.IdempotencyKey)}
	return decode[UsageResult](c.api.CreateUsage(ctx, accountID, params, body))
}

// Check is a usage to price without taking it; with Reserve, its price is
// held (for ExpiresIn; 0: the service's default) and the answer's HoldID
// names the hold for a later Usage.
type Check struct {
	Feature     string
	Quantity    int64
	Quantities  map[string]int64
	Properties  map[string]string
	Description string
	// MemberID prices as this member of the account: the answer's Member
	// says what it may still spend.
	MemberID  string
	Reserve   bool
	ExpiresIn time.Duration
	// IdempotencyKey makes a retried reserve answer the same hold (made
	// when empty and Reserve).
	IdempotencyKey string
}

// Check prices a usage and says whether it is allowed (Allowed false with
// a Reason when not). A Check with Reserve that is not allowed fails with
// ErrInsufficientCredits or ErrMemberCapExceeded.
func (c *Client) Check(ctx context.Context, accountID string, ch Check) (CheckResult, error) {
	body := api.CheckUsageJSONRequestBody{Feature: &ch.Feature, Quantity: ifSet(ch.Quantity), Quantities: units(ch.Quantities),
		Description: ifSet(ch.Description), MemberID: ifSet(ch.MemberID), Reserve: ifSet(ch.Reserve),
		ExpiresInSeconds: ifSet(int64(ch.ExpiresIn / time.Second))}
	if ch.Properties != nil {
		body.Properties = &ch.Properties
	}
	params := &api.CheckUsageParams{IdempotencyKey: ifSet(ch.IdempotencyKey)}
	if ch.Reserve {
		key := keyOr(ch.IdempotencyKey)
		params.IdempotencyKey = &key
	}
	return decode[CheckResult](c.api.CheckUsage(ctx, accountID, params, body))
}

func units(quantities map[string]int64) *map[string]int64 {
	if quantities == nil {
		return nil
	}
	return &quantities
}
