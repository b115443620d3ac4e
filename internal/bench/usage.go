package bench

import (
	"context"
	"fmt"
	"net/http"

	"github.com/credits/credits"
)

// The usage phase prices and takes a usage per request, on the accounts of
// debit-100, by a rate card of 20 rates: input and output tokens of ten
// models (one match key). It runs right after debit-100, to be compared
// with it.
const benchModels = 10

// usagePhase makes the phase; before makes its feature and card and gives
// them to the accounts.
func (b *bench) usagePhase(ctx context.Context, svc *credits.Service) phase {
	feature, card := "bench-chat-"+b.run, "bench-"+b.run
	before := func() error {
		if _, err := svc.CreateFeature(ctx, credits.Feature{ID: feature, Name: "Bench chat", Unit: "tokens"}); err != nil {
			return err
		}
		var rates []credits.Rate
		for m := range benchModels {
			match := map[string]string{"model": fmt.Sprint("m", m)}
			rates = append(rates,
				credits.Rate{Feature: feature, Quantity: "input", Credits: fmt.Sprintf("0.%03d", m+1), Per: 1000, Match: match},
				credits.Rate{Feature: feature, Quantity: "output", Credits: fmt.Sprintf("0.%03d", 2*m+3), Per: 1000, Match: match})
		}
		if _, err := svc.CreateRateCard(ctx, credits.RateCardRequest{ID: card, Name: "Bench", Rates: rates}); err != nil {
			return err
		}
		for i := range b.accounts {
			if _, err := svc.SetAccountRateCard(ctx, b.account(i), card); err != nil {
				return err
			}
		}
		return nil
	}
	do := func(i int) (bool, error) {
		body := fmt.Sprintf(`{"feature":%q,"quantities":{"input":%d,"output":%d},"properties":{"model":"m%d"}}`,
			feature, 1000+i%5000, 200+i%700, i%benchModels)
		status, err := b.send(http.MethodPost, b.at(i)+"/v1/accounts/"+b.account(i)+"/usage", []byte(body),
			map[string]string{"Authorization": "Bearer " + b.apiKey, "Idempotency-Key": fmt.Sprint("use-", i)})
		return status == http.StatusCreated, err
	}
	return phase{name: "usage", ceiling: "noop", before: before, do: do}
}

// guardUsageRoundTrips counts a usage with a key, priced by a card of its
// own: as a debit with a key, since the read of what prices it (the
// account's card and its version in effect) goes out with the account's
// lock.
func guardUsageRoundTrips(ctx context.Context, svc *credits.Service, run string, count func(string, int64, func() error) error) error {
	account, feature := "bench-rt-user-"+run, "bench-rt-"+run
	if _, err := svc.CreateAccount(ctx, account, account+"@example.com"); err != nil {
		return err
	}
	if _, _, err := svc.Grant(ctx, account, credits.GrantRequest{Amount: 100}, nil); err != nil {
		return err
	}
	if _, err := svc.CreateFeature(ctx, credits.Feature{ID: feature, Name: "Round trips", Unit: "tokens"}); err != nil {
		return err
	}
	rates := []credits.Rate{{Feature: feature, Quantity: "input", Credits: "1", Per: 1000}, {Feature: feature, Quantity: "output", Credits: "2", Per: 1000}}
	if _, err := svc.CreateRateCard(ctx, credits.RateCardRequest{ID: feature, Name: "Round trips", Rates: rates}); err != nil {
		return err
	}
	if _, err := svc.SetAccountRateCard(ctx, account, feature); err != nil {
		return err
	}
	req := credits.UsageRequest{Feature: feature, Quantities: map[string]int64{"input": 1000, "output": 1000}}
	use := func() error {
		_, _, err := svc.RecordUsage(ctx, account, req, &credits.Idempotency{Scope: "k/" + account, Key: "u", RequestHash: "u"})
		return err
	}
	if err := use(); err != nil { // the version is read once, then cached
		return err
	}
	req.Quantities["input"]++
	return count("usage with a key", 2, func() error {
		_, _, err := svc.RecordUsage(ctx, account, req, &credits.Idempotency{Scope: "k/" + account, Key: "u2", RequestHash: "u2"})
		return err
	})
}
