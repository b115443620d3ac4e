package sqlite_test

import (
	"context"
	"testing"

	"github.com/credits/credits"
)

// TestVersionOfAFailedBatchIsNotKept: a rate card version written in a
// batch that did not commit, and read by a usage in that batch, is not kept
// by the service's cache of versions: the version of that number written
// later prices the usages after it. The batch fails at its COMMIT through a
// foreign key that a test trigger breaks and SQLite checks only then.
func TestVersionOfAFailedBatchIsNotKept(t *testing.T) {
	ctx := context.Background()
	db, _ := openShared(t)
	svc := credits.NewService(db)
	openAccounts(t, svc, 1000, "a", "doomed")
	if _, err := svc.CreateFeature(ctx, credits.Feature{ID: "image", Name: "Images", Unit: "image"}); err != nil {
		t.Fatal(err)
	}
	rates := func(c string) credits.RateCardRequest {
		return credits.RateCardRequest{ID: credits.DefaultRateCard, Name: "Default", Rates: []credits.Rate{{Feature: "image", Credits: c}}}
	}
	if _, err := svc.CreateRateCard(ctx, rates("3")); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE test_boom (account_id TEXT REFERENCES accounts (id) DEFERRABLE INITIALLY DEFERRED)`,
		`CREATE TRIGGER test_boom AFTER INSERT ON usages WHEN NEW.account_id = 'doomed'
			BEGIN INSERT INTO test_boom VALUES ('no such account'); END`,
	} {
		if err := db.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	use := func(account, key string) (credits.UsageResult, error) {
		one := int64(1)
		r, _, err := svc.RecordUsage(ctx, account, credits.UsageRequest{Feature: "image", Quantity: &one},
			&credits.Idempotency{Scope: "usage/" + account, Key: key, RequestHash: key})
		return r, err
	}
	var errs [3]error
	inOneBatch(t, db,
		func() { _, errs[0] = svc.AddRateCardVersion(ctx, credits.DefaultRateCard, rates("5")) },
		func() { _, errs[1] = use("a", "u1") },
		func() { _, errs[2] = use("doomed", "u2") })
	for i, err := range errs {
		if err == nil {
			t.Fatalf("write %d of the batch that cannot commit succeeded", i)
		}
	}
	if err := db.Exec(ctx, `DROP TRIGGER test_boom`); err != nil {
		t.Fatal(err)
	}
	v, err := svc.AddRateCardVersion(ctx, credits.DefaultRateCard, rates("7"))
	if err != nil || v.Version != 2 {
		t.Fatalf("version after the failed batch: %+v (%v), want version 2", v, err)
	}
	r, err := use("a", "u3")
	if err != nil || r.Credits != 7 || r.RateCard.Version != 2 {
		t.Fatalf("usage after version 2 was written again: %d credits at version %d (%v), want 7 at 2", r.Credits, r.RateCard.Version, err)
	}
	verifyClean(t, svc)
}
