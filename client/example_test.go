package client_test

import (
	"context"
	"errors"
	"os"

	"github.com/credits/credits/client"
)

// The README's example, as written there: it must compile.
func Example() {
	ctx := context.Background()
	apiKey, key := os.Getenv("CREDITS_API_KEY"), client.NewIdempotencyKey()

	c := client.New("http://127.0.0.1:8080", apiKey) // options may follow
	_, err := c.CreateAccount(ctx, client.CreateAccount{ID: "user-1", Email: "ann@example.com"})
	d, err := c.Debit(ctx, "user-1", client.Debit{Amount: 5, Description: "image", IdempotencyKey: key})
	if errors.Is(err, client.ErrInsufficientCredits) { /* offer a pack */
	}
	u, err := c.Usage(ctx, "team-1", client.Usage{Feature: "image", Quantity: 2, MemberID: "ann"})
	if errors.Is(err, client.ErrMemberCapExceeded) { /* ann has spent her allowance */
	}
	_, _ = d, u
}
