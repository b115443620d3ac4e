package demo

import (
	"context"
	"fmt"

	"github.com/credits/credits"
)

// AccountID is the account that the demo creates.
const AccountID = "demo"

// Packs are the packs that the demo creates.
var Packs = []credits.Pack{
	{ID: "starter", Name: "Starter", Credits: 100, UnitAmount: 500, Currency: "usd", Active: true},
	{ID: "pro", Name: "Pro", Credits: 1_000, UnitAmount: 4_000, Currency: "usd", Active: true},
	{ID: "team", Name: "Team", Credits: 5_000, UnitAmount: 15_000, Currency: "usd", Active: true},
}

// AutoRecharge is what the demo account is offered.
var AutoRecharge = credits.AutoRechargeSettings{Enabled: false, Threshold: 50, PackID: "starter", Quantity: 1, MonthlyLimit: 2_000}

// Seed creates the demo account and packs when the store has neither
// accounts nor packs. It reports whether it created them.
func Seed(ctx context.Context, svc *credits.Service) (bool, error) {
	accounts, err := svc.ListAccounts(ctx, "", 1)
	if err != nil {
		return false, fmt.Errorf("demo: list accounts: %w", err)
	}
	packs, err := svc.ListPacks(ctx, false)
	if err != nil {
		return false, fmt.Errorf("demo: list packs: %w", err)
	}
	if len(accounts.Data) > 0 || len(packs) > 0 {
		return false, nil
	}
	for _, p := range Packs {
		if _, err := svc.CreatePack(ctx, p); err != nil {
			return false, fmt.Errorf("demo: create pack %s: %w", p.ID, err)
		}
	}
	if _, err := svc.CreateAccount(ctx, AccountID, "demo@example.com"); err != nil {
		return false, fmt.Errorf("demo: create account: %w", err)
	}
	// Auto-recharge is offered (off until a card is saved and the customer
	// turns it on): below 50 credits, buy a Starter pack, up to $20 a month.
	if _, err := svc.SetAutoRecharge(ctx, AccountID, AutoRecharge); err != nil {
		return false, fmt.Errorf("demo: offer auto-recharge: %w", err)
	}
	return true, nil
}
