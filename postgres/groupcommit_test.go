package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/internal/sqlstore"
	"github.com/credits/credits/postgres"
)

// TestGroupCommitBatch runs one batch of the group commit (groupcommit.go)
// whose writes fail in each way a write can: its held-back statement fails
// when it goes out with the next write's first statement (which then runs
// again) or with the commit; it returns an error; it panics; it sends
// nothing itself. Each failed write leaves nothing, and its neighbours are
// committed.
func TestGroupCommitBatch(t *testing.T) {
	db := pgtest.Open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	record := func(key string) credits.IdempotencyRecord {
		return credits.IdempotencyRecord{Scope: "s", Key: key, RequestHash: "h", Result: []byte("{}"), CreatedAt: now}
	}
	if err := db.Update(ctx, func(tx credits.Tx) error { return tx.CreateIdempotencyRecord(record("taken")) }); err != nil {
		t.Fatal(err)
	}
	account := func(tx credits.Tx, id string) error {
		return tx.CreateAccount(credits.Account{ID: id, Email: id + "@example.com", CreatedAt: now})
	}
	runs := make([]int, 8)
	errRefused := errors.New("refused")
	fns := []func(credits.Tx) error{
		func(tx credits.Tx) error { // held back, fails with the next write's first statement
			runs[0]++
			if err := account(tx, "w0"); err != nil {
				return err
			}
			return tx.CreateIdempotencyRecord(record("taken"))
		},
		func(tx credits.Tx) error { runs[1]++; return account(tx, "w1") },
		func(tx credits.Tx) error {
			runs[2]++
			if err := account(tx, "w2"); err != nil {
				return err
			}
			return errRefused
		},
		func(tx credits.Tx) error { runs[3]++; return tx.CreateIdempotencyRecord(record("fresh")) }, // sends nothing
		func(tx credits.Tx) error { runs[4]++; return tx.CreateIdempotencyRecord(record("taken")) }, // sends nothing, fails
		func(tx credits.Tx) error {
			runs[5]++
			if err := account(tx, "w5"); err != nil {
				return err
			}
			panic("broken invariant")
		},
		func(tx credits.Tx) error { runs[6]++; return account(tx, "w6") },
		func(tx credits.Tx) error { // the last: fails with the commit
			runs[7]++
			if err := account(tx, "w7"); err != nil {
				return err
			}
			return tx.CreateIdempotencyRecord(record("taken"))
		},
	}
	errs, panics := postgres.CommitBatch(db, "a", fns...)
	for i, want := range []error{sqlstore.ErrConflictAtCommit, nil, errRefused, nil, sqlstore.ErrConflictAtCommit, nil, nil, sqlstore.ErrConflictAtCommit} {
		if !errors.Is(errs[i], want) || (want == nil && errs[i] != nil) {
			t.Errorf("write %d: error %v, want %v", i, errs[i], want)
		}
	}
	if panics[5] != "broken invariant" || slices.ContainsFunc(append(slices.Clone(panics[:5]), panics[6:]...), func(p any) bool { return p != nil }) {
		t.Errorf("panics %v, want only write 5's", panics)
	}
	// A write whose first statement went out with a failed one runs again.
	if want := []int{1, 2, 1, 1, 1, 2, 1, 1}; !slices.Equal(runs, want) {
		t.Errorf("runs %v, want %v", runs, want)
	}
	var ids []string
	err := db.View(ctx, func(tx credits.Tx) error {
		accounts, err := tx.Accounts("", 100)
		for _, a := range accounts {
			ids = append(ids, a.ID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Sort(ids); !slices.Equal(ids, []string{"w1", "w6"}) {
		t.Errorf("accounts %v, want those of the writes that succeeded: [w1 w6]", ids)
	}
	err = db.View(ctx, func(tx credits.Tx) error { _, err := tx.IdempotencyRecord("s", "fresh"); return err })
	if err != nil {
		t.Errorf("the key of write 3: %v", err)
	}
}

// TestGroupCommitRoundTrips holds a batch of n writes to n+1 round trips:
// each write's statements go out with the next one's first, the last's with
// the commit.
func TestGroupCommitRoundTrips(t *testing.T) {
	db := pgtest.Open(t)
	var fns []func(credits.Tx) error
	for i := range 5 {
		fns = append(fns, func(tx credits.Tx) error {
			return tx.CreateAccount(credits.Account{ID: fmt.Sprint("a", i), Email: "a@example.com", CreatedAt: time.Now()})
		})
	}
	before := postgres.RoundTrips(db)
	errs, _ := postgres.CommitBatch(db, "a0", fns...)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := postgres.RoundTrips(db) - before; got != 6 {
		t.Errorf("a batch of 5 writes took %d round trips, want 6", got)
	}
}

// TestGroupCommitAcrossStores debits accounts through two stores on one
// database at once, as two replicas do: their batches lock the same
// accounts, and no debit is lost, doubled or failed.
func TestGroupCommitAcrossStores(t *testing.T) {
	url := pgtest.URL(t)
	first, second := pgtest.OpenURL(t, url), pgtest.OpenURL(t, url)
	ctx := context.Background()
	services := []*credits.Service{credits.NewService(first), credits.NewService(second)}
	const accounts, debits = 5, 400
	for i := range accounts {
		id := fmt.Sprint("u", i)
		if _, err := services[0].CreateAccount(ctx, id, id+"@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := services[0].Grant(ctx, id, credits.GrantRequest{Amount: debits}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range debits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc, id := services[i%2], fmt.Sprint("u", i%accounts)
			var idem *credits.Idempotency
			if i%3 == 0 {
				idem = &credits.Idempotency{Scope: "k/" + id, Key: fmt.Sprint(i), RequestHash: "h"}
			}
			if _, _, err := svc.Debit(ctx, id, credits.DebitRequest{Amount: 1}, idem); err != nil {
				t.Errorf("debit %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i := range accounts {
		a, err := services[1].GetAccount(ctx, fmt.Sprint("u", i))
		if err != nil || a.Balance != debits-debits/accounts {
			t.Errorf("account u%d: %+v (%v), want balance %d", i, a, err, debits-debits/accounts)
		}
	}
	report, err := services[0].Verify(ctx)
	if err != nil || len(report) > 0 {
		t.Errorf("verify: %+v (%v)", report, err)
	}
}

// TestGroupCommitHeldAccount holds an account's row lock in another
// session while a batch writes that account and another: the batch waits
// for the lock no longer than batchLockTimeout, the other account's write is
// then committed on its own, and the held account's once the lock is let go
// (so one account held for long cannot stall the others for long).
func TestGroupCommitHeldAccount(t *testing.T) {
	t.Run("lock sent with the first write", func(t *testing.T) { testHeldAccount(t, false) })
	t.Run("lock sent with the reads ahead", func(t *testing.T) { testHeldAccount(t, true) })
}

func testHeldAccount(t *testing.T, readAhead bool) {
	url := pgtest.URL(t)
	ctx := context.Background()
	db := pgtest.OpenURL(t, url)
	svc := credits.NewService(db)
	for _, id := range []string{"u1", "u2"} {
		if _, err := svc.CreateAccount(ctx, id, id+"@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, "SELECT id FROM accounts WHERE id = 'u1' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	var runs [2]atomic.Int32
	threshold := func(i int, id string, n int64) func(credits.Tx) error {
		return func(tx credits.Tx) error {
			runs[i].Add(1)
			locked, err := tx.LockAccount(id)
			if err != nil {
				return err
			}
			return locked.SetLowBalanceThreshold(n)
		}
	}
	done := make(chan []error, 1)
	go func() {
		fns := []func(credits.Tx) error{threshold(0, "u1", 5), threshold(1, "u2", 7)}
		var now time.Time // zero: nothing to read ahead, the batch's lock goes with the first write
		if readAhead {
			now = time.Now()
		}
		done <- postgres.CommitWrites(db, []credits.AccountWrite{{AccountID: "u1", Now: now}, {AccountID: "u2", Now: now}}, fns)
	}()
	deadline := time.Now().Add(8 * time.Second)
	for {
		if a, err := svc.GetAccount(ctx, "u2"); err == nil && a.LowBalanceThreshold == 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("u2's write was not committed while another session held u1: the batch waited for u1's lock until it was let go")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := other.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(<-done...); err != nil {
		t.Fatal(err)
	}
	if a, err := svc.GetAccount(ctx, "u1"); err != nil || a.LowBalanceThreshold != 5 {
		t.Errorf("u1 after its lock was let go: %+v (%v), want threshold 5", a, err)
	}
	// With reads ahead, the batch's lock times out before any write runs.
	if got, want := runs[0].Load(), map[bool]int32{false: 2, true: 1}[readAhead]; got != want {
		t.Errorf("u1's write ran %d times, want %d (in the batch, if it began before the lock timed out; then on its own)", got, want)
	}
}
