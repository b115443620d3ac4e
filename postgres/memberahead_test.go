package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/postgres"
)

// call is a service call that reaches the store's UpdateAccount once, made
// with the service's clock at at (zero: the real one).
type call struct {
	at time.Time
	do func(svc *credits.Service) error
}

// commitCalls runs calls, in order, as one batch of the group commit, and
// returns their errors.
func commitCalls(t *testing.T, db *postgres.DB, calls ...call) []error {
	t.Helper()
	g := &gathering{DB: db, arrived: make(chan struct{})}
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		svc := credits.NewService(g)
		if at := c.at; !at.IsZero() {
			svc.Now = func() time.Time { return at }
		}
		done := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			errs[i] = c.do(svc)
		}()
		select {
		case <-g.arrived:
		case <-done:
			t.Fatalf("call %d did not reach the store's UpdateAccount: %v", i, errs[i])
		}
	}
	results := postgres.CommitWrites(db, g.ws, g.fns)
	for i, err := range results {
		g.results[i] <- err
	}
	wg.Wait()
	return errs
}

// wantCodes checks each error's code ("": none).
func wantCodes(t *testing.T, errs []error, codes ...string) {
	t.Helper()
	for i, err := range errs {
		if got := credits.ErrorCode(err); (err == nil) != (codes[i] == "") || (err != nil && got != codes[i]) {
			t.Errorf("call %d: error %v, want code %q", i, err, codes[i])
		}
	}
}

func debitAs(account, member string, amount int64, key string) func(*credits.Service) error {
	return func(svc *credits.Service) error {
		var idem *credits.Idempotency
		if key != "" {
			idem = &credits.Idempotency{Scope: "debit/" + account, Key: key, RequestHash: credits.HashRequest(member, fmt.Sprint(amount))}
		}
		_, _, err := svc.Debit(context.Background(), account, credits.DebitRequest{Amount: amount, MemberID: member}, idem)
		return err
	}
}

// memberSetup makes accounts with credits and a capped member each.
func memberSetup(t *testing.T, svc *credits.Service, accounts []string, member string, c credits.MemberCap) {
	t.Helper()
	ctx := context.Background()
	for _, id := range accounts {
		if _, err := svc.CreateAccount(ctx, id, id+"@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Grant(ctx, id, credits.GrantRequest{Amount: 1000}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.PutMember(ctx, id, member, credits.MemberRequest{SetCap: true, Cap: &c}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatchMemberIDNotText: a debit whose member id PostgreSQL cannot hold as
// text (a NUL, which JSON's \u0000 decodes to) is not found, as alone; the
// writes batched with it are not failed by it.
func TestBatchMemberIDNotText(t *testing.T) {
	db := pgtest.Open(t)
	svc := credits.NewService(db)
	memberSetup(t, svc, []string{"a0", "a1"}, "m", credits.MemberCap{Credits: 100, Period: credits.PeriodDay})
	errs := commitCalls(t, db,
		call{do: debitAs("a0", "m\x00", 1, "k0")},
		call{do: debitAs("a1", "m", 1, "k1")},
		call{do: debitAs("a1", "", 1, "")},
	)
	wantCodes(t, errs, credits.ENOTFOUND, "", "")
}
