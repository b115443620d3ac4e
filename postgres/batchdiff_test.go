package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/postgres"
)

// batchOp is one grouped write of the service: what it was asked and what
// it answered, in the fields that do not depend on the store's ids for
// entries and holds.
type batchOp struct {
	account string
	kind    string // debit, grant, hold, adjust
	amount  int64
	key     string // "": none
	member  string // a debit's or hold's member ("": none)
}

type batchAnswer struct {
	code      string // "": none
	replayed  bool
	balance   int64
	available int64
	lots      []credits.LotAmount
}

func (op batchOp) run(ctx context.Context, svc *credits.Service, expires time.Time) batchAnswer {
	var idem *credits.Idempotency
	if op.key != "" {
		idem = &credits.Idempotency{Scope: op.kind + "/" + op.account, Key: op.key, RequestHash: credits.HashRequest(op.kind, fmt.Sprint(op.amount))}
	}
	var a batchAnswer
	var err error
	switch op.kind {
	case "debit":
		var r credits.DebitResult
		r, a.replayed, err = svc.Debit(ctx, op.account, credits.DebitRequest{Amount: op.amount, MemberID: op.member}, idem)
		a.balance, a.available, a.lots = r.Balance, r.Available, r.Lots
	case "adjust":
		var r credits.DebitResult
		r, a.replayed, err = svc.Adjust(ctx, op.account, credits.AdjustmentRequest{Amount: op.amount, Reason: "test"}, idem)
		a.balance, a.available, a.lots = r.Balance, r.Available, r.Lots
	case "grant":
		req := credits.GrantRequest{Amount: op.amount, Priority: op.amount % 3}
		if op.amount%2 == 0 {
			req.ExpiresAt = &expires
		}
		var r credits.GrantResult
		r, a.replayed, err = svc.Grant(ctx, op.account, req, idem)
		a.balance, a.lots = r.Balance, []credits.LotAmount{{LotID: r.LotID, Amount: r.Amount}}
	case "hold":
		var h credits.Hold
		h, a.replayed, err = svc.CreateHold(ctx, op.account, credits.HoldRequest{Amount: op.amount, ExpiresInSeconds: 3600, MemberID: op.member}, idem)
		a.balance = h.Amount
	}
	if err != nil {
		a.code = credits.ErrorCode(err)
	}
	return a
}

// TestGroupCommitBatchesAnswerAsAlone runs random grouped writes on three
// accounts (debits, grants of lots with priorities and expiries, holds,
// adjustments, keys repeated), each round as one batch of PostgreSQL's group
// commit, and the same writes one at a time on SQLite: every answer, draw by
// draw, and every account must be the same. A batch holds several writes of
// each account, so most take the account as the write before left it
// (Tx.HandBack), and lots run out within a batch. A third of the debits and
// holds spend as one of two capped members of their account, whose caps run
// out too: a batch reads each member once, ahead, and a member's later
// writes in the batch read for themselves.
func TestGroupCommitBatchesAnswerAsAlone(t *testing.T) {
	pg := pgtest.Open(t)
	lite, _ := testkit.OpenSQLite(t)
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
		}
	})
	alone := credits.NewService(lite)
	plain := credits.NewService(pg)
	accounts := []string{"x0", "x1", "x2"}
	caps := map[string]*credits.MemberCap{"m0": {Credits: 60, Period: credits.PeriodDay}, "m1": {Credits: 150, Period: credits.PeriodMonth}}
	for _, svc := range []*credits.Service{alone, plain} {
		for _, id := range accounts {
			if _, err := svc.CreateAccount(ctx, id, id+"@example.com"); err != nil {
				t.Fatal(err)
			}
			for member, c := range caps {
				if _, err := svc.PutMember(ctx, id, member, credits.MemberRequest{SetCap: true, Cap: c}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	kinds := []string{"debit", "debit", "debit", "grant", "hold", "adjust"}
	var keys []string
	for round := range 12 {
		ops := make([]batchOp, 4+rng.IntN(24))
		for i := range ops {
			op := batchOp{account: accounts[rng.IntN(len(accounts))], kind: kinds[rng.IntN(len(kinds))], amount: 1 + rng.Int64N(25)}
			if op.kind == "adjust" && rng.IntN(2) == 0 {
				op.amount = -op.amount
			}
			if (op.kind == "debit" || op.kind == "hold") && rng.IntN(3) == 0 {
				op.member = fmt.Sprint("m", rng.IntN(2))
			}
			switch n := rng.IntN(10); {
			case n < 6:
				op.key = fmt.Sprintf("k%d-%d", round, i)
			case n < 8 && len(keys) > 0:
				op.key = keys[rng.IntN(len(keys))] // a repeat: replayed, or refused when it differs
			}
			if op.key != "" {
				keys = append(keys, op.key)
			}
			ops[i] = op
		}
		want := make([]batchAnswer, len(ops))
		for i, op := range ops {
			want[i] = op.run(ctx, alone, expires)
		}
		g := &gathering{DB: pg, arrived: make(chan struct{})}
		grouped := credits.NewService(g)
		got := make([]batchAnswer, len(ops))
		var wg sync.WaitGroup
		for i, op := range ops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i] = op.run(ctx, grouped, expires)
			}()
			<-g.arrived
		}
		errs := postgres.CommitWrites(pg, g.ws, g.fns)
		for i, err := range errs {
			g.results[i] <- err
		}
		wg.Wait()
		for i := range ops {
			w, gt := want[i], got[i]
			if w.code == credits.EINTERNAL || w.code == credits.EUNAVAILABLE {
				t.Fatalf("round %d, write %d %+v, alone: %+v", round, i, ops[i], w)
			}
			if gt.code != w.code || gt.replayed != w.replayed || gt.balance != w.balance || gt.available != w.available || !slices.Equal(gt.lots, w.lots) {
				t.Fatalf("round %d, write %d %+v: batched %+v, alone %+v", round, i, ops[i], gt, w)
			}
		}
		for _, id := range accounts {
			for member := range caps {
				a, errA := alone.GetMember(ctx, id, member)
				b, errB := plain.GetMember(ctx, id, member)
				if errA != nil || errB != nil || a.Spent != b.Spent || a.Held != b.Held {
					t.Fatalf("round %d, member %s of %s: batched %+v (%v), alone %+v (%v)", round, member, id, b, errB, a, errA)
				}
			}
			a, errA := alone.GetAccount(ctx, id)
			b, errB := plain.GetAccount(ctx, id)
			if errA != nil || errB != nil || a.Balance != b.Balance || a.Held != b.Held || a.Available != b.Available {
				t.Fatalf("round %d, account %s: batched %+v (%v), alone %+v (%v)", round, id, b, errB, a, errA)
			}
		}
	}
	report, err := plain.Verify(ctx)
	if err != nil || len(report) > 0 {
		t.Errorf("verify: %+v (%v)", report, err)
	}
}
