package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/sqlite"
)

// capped gives account u1 (with 100 credits) a member ann capped at 10
// credits a day.
func capped(t *testing.T, svc *credits.Service) {
	t.Helper()
	openAccounts(t, svc, 100, "u1")
	if _, err := svc.PutMember(context.Background(), "u1", "ann", credits.MemberRequest{SetCap: true,
		Cap: &credits.MemberCap{Credits: 10, Period: credits.PeriodDay}}); err != nil {
		t.Fatal(err)
	}
}

// cappedDB opens a store and its service with capped's account and member.
func cappedDB(t *testing.T) (*sqlite.DB, *credits.Service) {
	t.Helper()
	db, _ := openShared(t)
	svc := credits.NewService(db)
	capped(t, svc)
	return db, svc
}

// TestMemoFollowsOtherWriters: the server's writer remembers ann's spending
// (WriterMemo); what another process (the CLI) spends or changes of her is
// seen by the server's next spend: her cap holds across both.
func TestMemoFollowsOtherWriters(t *testing.T) {
	ctx := context.Background()
	serverDB, cliDB := openShared(t)
	server, cli := credits.NewService(serverDB), credits.NewService(cliDB)
	capped(t, server)
	if code := debitAnn(t, server, 4); code != "" {
		t.Fatalf("server's first spend: %s", code)
	}
	if code := debitAnn(t, cli, 4); code != "" {
		t.Fatalf("CLI's spend: %s", code)
	}
	if code := debitAnn(t, server, 4); code != credits.EMEMBERCAP {
		t.Fatalf("the server's spend past the cap (4 + 4 + 4 of 10) answered %q, want %s", code, credits.EMEMBERCAP)
	}
	if _, err := cli.PutMember(ctx, "u1", "ann", credits.MemberRequest{SetCap: true,
		Cap: &credits.MemberCap{Credits: 12, Period: credits.PeriodDay}}); err != nil {
		t.Fatal(err)
	}
	if code := debitAnn(t, server, 4); code != "" {
		t.Fatalf("after the CLI raised the cap to 12, the server's spend of 4 answered %q", code)
	}
	if code := debitAnn(t, server, 1); code != credits.EMEMBERCAP {
		t.Fatalf("a spend past the raised cap answered %q, want %s", code, credits.EMEMBERCAP)
	}
	verifyClean(t, server)
}

// TestMemoForgetsWhatARollbackUndid: a write that saved a member's spending
// and then failed is rolled back; the writer must not remember its spending.
func TestMemoForgetsWhatARollbackUndid(t *testing.T) {
	db, svc := cappedDB(t)
	if code := debitAnn(t, svc, 4); code != "" {
		t.Fatalf("first spend: %s", code)
	}
	failed := errors.New("the write fails after saving")
	if err := saveAnnSpent(db, 9, time.Now(), failed); !errors.Is(err, failed) {
		t.Fatalf("the failing write answered %v", err)
	}
	if code := debitAnn(t, svc, 6); code != "" {
		t.Fatalf("a spend of 6 after 4 (cap 10) answered %q: the writer remembered a spending that was rolled back", code)
	}
	verifyClean(t, svc)
}

// TestMemoForgetsRawStatements: a statement run on the writer's own
// connection outside the service (DB.Exec) is seen by the next spend.
func TestMemoForgetsRawStatements(t *testing.T) {
	ctx := context.Background()
	db, svc := cappedDB(t)
	if code := debitAnn(t, svc, 4); code != "" {
		t.Fatalf("first spend: %s", code)
	}
	if err := db.Exec(ctx, "UPDATE members SET cap_credits = 5 WHERE account_id = 'u1' AND member_id = 'ann'"); err != nil {
		t.Fatal(err)
	}
	if code := debitAnn(t, svc, 2); code != credits.EMEMBERCAP {
		t.Fatalf("a spend of 2 after 4 with the cap lowered to 5 answered %q, want %s", code, credits.EMEMBERCAP)
	}
}

// TestMemoPricesByTheVersionInEffect: the writer remembers each account's
// rate card and the version in effect until the next takes effect; a usage
// is still priced by the version in effect at its time, after the clock
// passes a version's effective_at, after it goes back, after another
// process (the CLI) adds a version or moves the account to another card,
// and after the server itself moves it back.
func TestMemoPricesByTheVersionInEffect(t *testing.T) {
	ctx := context.Background()
	serverDB, cliDB := openShared(t)
	server, cli := credits.NewService(serverDB), credits.NewService(cliDB)
	t0 := time.Date(2027, 3, 10, 10, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	now := t0
	server.Now = func() time.Time { return now }
	cli.Now = server.Now
	openAccounts(t, server, 1000, "a")
	if _, err := server.CreateFeature(ctx, credits.Feature{ID: "image", Name: "Images", Unit: "image"}); err != nil {
		t.Fatal(err)
	}
	rates := func(c string) []credits.Rate { return []credits.Rate{{Feature: "image", Credits: c}} }
	if _, err := server.CreateRateCard(ctx, credits.RateCardRequest{ID: credits.DefaultRateCard, Name: "Default", Rates: rates("3")}); err != nil {
		t.Fatal(err)
	}
	at10 := sec(10)
	if _, err := server.AddRateCardVersion(ctx, credits.DefaultRateCard, credits.RateCardRequest{Rates: rates("5"), EffectiveAt: &at10}); err != nil {
		t.Fatal(err)
	}
	n := 0
	use := func(at time.Time, want int64) {
		t.Helper()
		now, n = at, n+1
		one := int64(1)
		key := fmt.Sprint("u", n)
		r, _, err := server.RecordUsage(ctx, "a", credits.UsageRequest{Feature: "image", Quantity: &one},
			&credits.Idempotency{Scope: "usage/a", Key: key, RequestHash: key})
		if err != nil || r.Credits != want {
			t.Fatalf("usage %d at +%s: %d credits (%v), want %d", n, at.Sub(t0), r.Credits, err, want)
		}
	}
	use(sec(1), 3)
	use(sec(9), 3)
	use(sec(10), 5)
	use(sec(5), 3) // the clock went back
	use(sec(10), 5)
	at11 := sec(11)
	if _, err := cli.AddRateCardVersion(ctx, credits.DefaultRateCard, credits.RateCardRequest{Rates: rates("7"), EffectiveAt: &at11}); err != nil {
		t.Fatal(err)
	}
	use(sec(12), 7)
	if _, err := cli.CreateRateCard(ctx, credits.RateCardRequest{ID: "own", Name: "Own", Rates: rates("1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.SetAccountRateCard(ctx, "a", "own"); err != nil {
		t.Fatal(err)
	}
	use(sec(12), 1)
	if _, err := server.SetAccountRateCard(ctx, "a", credits.DefaultRateCard); err != nil {
		t.Fatal(err)
	}
	use(sec(12), 7)
	verifyClean(t, server)
}
