package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/internal/sqlstore"
	"github.com/credits/credits/postgres"
)

// gathering is a store whose grouped writes wait to be run together, as one
// batch, by the test (postgres.CommitWrites): what the service hands the
// group commit, gathered in a known order.
type gathering struct {
	*postgres.DB
	mu      sync.Mutex
	ws      []credits.AccountWrite
	fns     []func(credits.Tx) error
	results []chan error
	arrived chan struct{}
}

func (g *gathering) UpdateAccount(ctx context.Context, w credits.AccountWrite, fn func(credits.Tx) error) error {
	result := make(chan error, 1)
	g.mu.Lock()
	g.ws, g.fns, g.results = append(g.ws, w), append(g.fns, fn), append(g.results, result)
	g.mu.Unlock()
	g.arrived <- struct{}{}
	return <-result
}

// TestGroupCommitReadAhead runs, as one batch, the debits of the service on
// distinct accounts, a second debit of one of them, a replayed key, a debit
// refused for want of credits, one without a key and one of an account that
// does not exist. The batch reads its accounts, lots, entry ids and keys in
// its first round trip; the second debit of an account takes the account as
// the first left it; everything else goes out with the COMMIT. Each answer
// is the one the debit gets alone.
func TestGroupCommitReadAhead(t *testing.T) {
	db := pgtest.Open(t)
	ctx := context.Background()
	svc := credits.NewService(db)
	for i := range 4 {
		id := fmt.Sprint("a", i)
		if _, err := svc.CreateAccount(ctx, id, id+"@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Grant(ctx, id, credits.GrantRequest{Amount: 10}, nil); err != nil {
			t.Fatal(err)
		}
	}
	key := func(account, k string) *credits.Idempotency {
		if k == "" {
			return nil
		}
		return &credits.Idempotency{Scope: "debit/" + account, Key: k, RequestHash: "h"}
	}
	first, _, err := svc.Debit(ctx, "a0", credits.DebitRequest{Amount: 1}, key("a0", "old"))
	if err != nil {
		t.Fatal(err)
	}

	g := &gathering{DB: db, arrived: make(chan struct{})}
	grouped := credits.NewService(g)
	debits := []struct {
		account string
		amount  int64
		key     string
		want    string // the error's code; "" none
	}{
		{"a0", 2, "k1", ""},
		{"a1", 3, "k2", ""},
		{"a2", 20, "k3", credits.EINSUFFICIENT},
		{"a1", 1, "k4", ""},  // the account's second write in the batch
		{"a0", 1, "old", ""}, // replayed
		{"a3", 4, "", ""},
		{"nobody", 1, "k5", credits.ENOTFOUND},
	}
	type answer struct {
		result   credits.DebitResult
		replayed bool
		err      error
	}
	answers := make([]answer, len(debits))
	var wg sync.WaitGroup
	for i, d := range debits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, replayed, err := grouped.Debit(ctx, d.account, credits.DebitRequest{Amount: d.amount}, key(d.account, d.key))
			answers[i] = answer{r, replayed, err}
		}()
		<-g.arrived // one at a time: the batch's order is the table's
	}
	before := postgres.RoundTrips(db)
	errs := postgres.CommitWrites(db, g.ws, g.fns)
	if got := postgres.RoundTrips(db) - before; got != 2 {
		t.Errorf("a batch of %d debits took %d round trips, want 2 (what it reads, the commit)", len(debits), got)
	}
	for i, err := range errs {
		g.results[i] <- err
	}
	wg.Wait()

	for i, d := range debits {
		a := answers[i]
		if got := credits.ErrorCode(a.err); (a.err == nil) != (d.want == "") || (a.err != nil && got != d.want) {
			t.Errorf("debit %d: error %v, want code %q", i, a.err, d.want)
		}
	}
	if a := answers[4]; !a.replayed || a.result.ID != first.ID {
		t.Errorf("the replayed debit: %+v, want the first answer %+v again", a, first)
	}
	if ids := []int64{answers[0].result.ID, answers[1].result.ID, answers[3].result.ID, answers[5].result.ID}; slices.Contains(ids, 0) || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 4 {
		t.Errorf("entry ids %v, want four distinct", ids)
	}
	for id, want := range map[string]int64{"a0": 7, "a1": 6, "a2": 10, "a3": 6} {
		a, err := svc.GetAccount(ctx, id)
		if err != nil || a.Balance != want {
			t.Errorf("account %s: balance %d (%v), want %d", id, a.Balance, err, want)
		}
	}
	if got := answers[3].result.Balance; got != 6 {
		t.Errorf("a1's second debit answered balance %d, want 6 (after the first)", got)
	}
	report, err := svc.Verify(ctx)
	if err != nil || len(report) > 0 {
		t.Errorf("verify: %+v (%v)", report, err)
	}
}

// TestGroupCommitReadAheadFailure fails a write whose statements went out,
// with the statements of the writes after it, at the COMMIT: it is undone,
// and the writes after it, which did not run, run again, reading for
// themselves what the batch read ahead for them the first time, or what an
// earlier write of their account handed back.
func TestGroupCommitReadAheadFailure(t *testing.T) {
	db := pgtest.Open(t)
	ctx := context.Background()
	svc := credits.NewService(db)
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := db.Update(ctx, func(tx credits.Tx) error {
		return tx.CreateIdempotencyRecord(credits.IdempotencyRecord{Scope: "s", Key: "taken", RequestHash: "h", Result: []byte("{}"), CreatedAt: now})
	}); err != nil {
		t.Fatal(err)
	}
	var ws []credits.AccountWrite
	var fns []func(credits.Tx) error
	runs := make([]int, 4)
	for i := range 4 {
		id := fmt.Sprint("b", i)
		if _, err := svc.CreateAccount(ctx, id, id+"@example.com"); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, credits.AccountWrite{AccountID: id, Now: now, Scope: "s", Key: id})
		fns = append(fns, func(tx credits.Tx) error {
			runs[i]++
			if _, err := tx.IdempotencyRecord("s", id); !errors.Is(err, credits.ErrNotFound) {
				return fmt.Errorf("key %s: %v, want none", id, err)
			}
			locked, err := tx.LockAccount(id)
			if err != nil {
				return err
			}
			if err := locked.SetLowBalanceThreshold(int64(10 + i)); err != nil {
				return err
			}
			if i == 1 {
				return tx.CreateIdempotencyRecord(credits.IdempotencyRecord{Scope: "s", Key: "taken", RequestHash: "h", CreatedAt: now})
			}
			return tx.CreateIdempotencyRecord(credits.IdempotencyRecord{Scope: "s", Key: id, RequestHash: "h", Result: []byte("{}"), CreatedAt: now})
		})
	}
	// Second writes: of the failed write's account, whose first run takes
	// the account as the failed write left it (threshold 11) and whose
	// second must read it as it is; and of b0, earlier than its first, which
	// reads for itself (taking no entry id, so one is left when the writes
	// run again; its read sends what the others held back, and the failure
	// comes back with it).
	seen := map[string]int64{}
	again := func(index int, id string, at time.Time, threshold int64) {
		runs = append(runs, 0)
		ws = append(ws, credits.AccountWrite{AccountID: id, Now: at, Scope: "s", Key: id + "-again"})
		fns = append(fns, func(tx credits.Tx) error {
			runs[index]++
			if _, err := tx.IdempotencyRecord("s", id+"-again"); !errors.Is(err, credits.ErrNotFound) {
				return fmt.Errorf("key %s-again: %v, want none", id, err)
			}
			locked, err := tx.LockAccount(id)
			if err != nil {
				return err
			}
			seen[id] = locked.Account().LowBalanceThreshold
			if err := locked.SetLowBalanceThreshold(threshold); err != nil {
				return err
			}
			return tx.CreateIdempotencyRecord(credits.IdempotencyRecord{Scope: "s", Key: id + "-again", RequestHash: "h", Result: []byte("{}"), CreatedAt: at})
		})
	}
	again(4, "b1", now, 21)
	again(5, "b0", now.Add(-time.Second), 30)
	// In the batch, b1's second write comes right after the failed one: when
	// the writes run again, entry ids are left for it.
	order := []int{0, 1, 4, 2, 3, 5}
	var batchWs []credits.AccountWrite
	var batchFns []func(credits.Tx) error
	for _, i := range order {
		batchWs, batchFns = append(batchWs, ws[i]), append(batchFns, fns[i])
	}
	errs := postgres.CommitWrites(db, batchWs, batchFns)
	for place, want := range []error{nil, sqlstore.ErrConflictAtCommit, nil, nil, nil, nil} {
		if !errors.Is(errs[place], want) || (want == nil && errs[place] != nil) {
			t.Errorf("write %d: error %v, want %v", order[place], errs[place], want)
		}
	}
	if want := []int{1, 1, 2, 2, 2, 2}; !slices.Equal(runs, want) {
		t.Errorf("runs %v, want %v (the writes after the failed one again)", runs, want)
	}
	t.Logf("runs %v seen %v errs %v", runs, seen, errs)
	if want := map[string]int64{"b0": 10, "b1": -1}; !maps.Equal(seen, want) {
		t.Errorf("the second writes, when they ran again, saw thresholds %v, want %v (the failed write's 11 undone)", seen, want)
	}
	for i, want := range []int64{30, 21, 12, 13} {
		a, err := svc.GetAccount(ctx, fmt.Sprint("b", i))
		if err != nil || a.LowBalanceThreshold != want {
			t.Errorf("account b%d: threshold %d (%v), want %d", i, a.LowBalanceThreshold, err, want)
		}
	}
}

// TestReadAheadKeysStayIndexed plans the batch's read of its idempotency
// keys as pgx leaves it (a prepared statement, planned once the table has a
// few rows, then generic), lets the table grow, and checks the plan still
// looks each key up by its index. Written as (scope, key) IN (SELECT …
// unnest), the read was planned as a sequential scan of the table probing a
// hash of the keys, and kept that plan while the table grew: a bench run
// read 38 million rows in 1,554 such scans.
func TestReadAheadKeysStayIndexed(t *testing.T) {
	url := pgtest.URL(t)
	pgtest.OpenURL(t, url)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, reads := sqlstore.ReadAhead(sqlstore.Postgres, []credits.AccountWrite{{AccountID: "a", Now: time.Now(), Scope: "s", Key: "k"}})
	query := ""
	for _, r := range reads {
		if r.Op == "read the batch's idempotency keys" {
			query = r.Query
		}
	}
	if query == "" {
		t.Fatal("the batch reads no idempotency keys ahead")
	}
	simple := pgx.QueryExecModeSimpleProtocol
	fill := func(from, to int) {
		t.Helper()
		if _, err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO idempotency_keys (scope, key, request_hash, created_at)
			SELECT 'debit/a' || (i %% 100), 'k' || i, 'h', now() FROM generate_series(%d, %d) i`, from, to), simple); err != nil {
			t.Fatal(err)
		}
	}
	fill(1, 20)
	if _, err := conn.Exec(ctx, "PREPARE keys (text[], text[]) AS "+query, simple); err != nil {
		t.Fatal(err)
	}
	for range 10 { // past the five custom plans after which PostgreSQL may keep a generic one
		if _, err := conn.Exec(ctx, "EXECUTE keys ('{debit/a1}', '{k1}')", simple); err != nil {
			t.Fatal(err)
		}
	}
	fill(21, 20000)
	rows, err := conn.Query(ctx, "EXPLAIN EXECUTE keys ('{debit/a1}', '{k1}')", simple)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if strings.Contains(text, "Seq Scan on idempotency_keys") || !strings.Contains(text, "idempotency_keys_pkey") {
		t.Errorf("the batch's key lookup is not by the key's index once the table grew:\n%s", text)
	}
}
