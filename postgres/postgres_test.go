package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/postgres"
	"github.com/credits/credits/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) credits.Store {
		return pgtest.Open(t)
	})
}

func TestPaymentsMigration(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.TestPaymentsMigration(t, db, 3, "now()")
}

func TestExpiryEntriesMigration(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.TestExpiryEntriesMigration(t, db, 23)
}

func TestEntryMembersMigration(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.TestEntryMembersMigration(t, db, 31)
}

func TestEntryMembersMigrationMany(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.TestEntryMembersMigrationMany(t, db, 31)
}

// TestHeldBackWrites checks the writes that go out with the next statement or
// the commit (conn.Defer): a key taken meanwhile by another transaction runs
// the transaction again, where the insert answers ErrConflict; a held-back write that fails fails the transaction, writes
// nothing, is not mistaken for the later statement's own "not found", and
// leaves the connection usable.
func TestHeldBackWrites(t *testing.T) {
	db := pgtest.Open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := db.Update(ctx, func(tx credits.Tx) error {
		return tx.CreateAccount(credits.Account{ID: "u1", Email: "u1@example.com", Trial: true, CreatedAt: now})
	}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		lookUp func(tx credits.Tx) error
		create func(tx credits.Tx, i int) error
	}{
		{"an idempotency key", func(tx credits.Tx) error {
			_, err := tx.IdempotencyRecord("scope", "same")
			return err
		}, func(tx credits.Tx, i int) error {
			return tx.CreateIdempotencyRecord(credits.IdempotencyRecord{Scope: "scope", Key: "same",
				RequestHash: fmt.Sprint(i), Result: []byte("{}"), CreatedAt: now})
		}},
		{"a Stripe event", func(tx credits.Tx) error {
			_, err := tx.Event("evt_same")
			return err
		}, func(tx credits.Tx, i int) error {
			return tx.CreateEvent(credits.Event{ID: "evt_same", Type: "checkout.session.completed", Status: credits.EventPending,
				ReceivedAt: now, NextAttempt: now, Payload: []byte(fmt.Sprint(i))})
		}},
	} {
		t.Run(c.name+" taken meanwhile: the insert answers ErrConflict when run again", func(t *testing.T) {
			var looked sync.WaitGroup
			looked.Add(2)
			errs := make([]error, 2)
			runs := make([]int, 2)
			errSeen := errors.New("the insert, run again, answered ErrConflict")
			var done sync.WaitGroup
			for i := range 2 {
				done.Add(1)
				go func() {
					defer done.Done()
					errs[i] = db.Update(ctx, func(tx credits.Tx) error {
						if runs[i]++; runs[i] > 1 {
							// The conflict met at the commit: the store runs fn
							// again, sending the insert at once.
							if err := c.create(tx, i); !errors.Is(err, credits.ErrConflict) {
								return fmt.Errorf("create, run again: %v, want ErrConflict", err)
							}
							return errSeen
						}
						err := c.lookUp(tx)
						looked.Done() // both have seen nothing before either writes
						looked.Wait()
						if !errors.Is(err, credits.ErrNotFound) {
							return fmt.Errorf("lookup: %v", err)
						}
						return c.create(tx, i) // held back to the commit
					})
				}()
			}
			done.Wait()
			got := fmt.Sprint(errs[0] == nil, errors.Is(errs[1], errSeen), runs[0], runs[1])
			if errs[1] == nil {
				got = fmt.Sprint(errs[1] == nil, errors.Is(errs[0], errSeen), runs[1], runs[0])
			}
			if want := "true true 1 2"; got != want {
				t.Fatalf("got (committed, conflict seen, runs of each) %s (%v), want %s", got, errs, want)
			}
		})
	}

	t.Run("a failed held-back write fails the transaction", func(t *testing.T) {
		err := db.Update(ctx, func(tx credits.Tx) error {
			locked, err := lockAndSetBalance(tx)
			if err != nil {
				return err
			}
			if err := locked.SetLot(424242, 1, 0); err != nil { // no such lot: held back, so no error yet
				return err
			}
			_, err = tx.Account("u1") // the held-back writes go out with this read
			return err
		})
		if err == nil || errors.Is(err, credits.ErrNotFound) {
			t.Fatalf("got %v, want a failure that is not the read's own not-found", err)
		}
		var a credits.Account
		if err := db.View(ctx, func(tx credits.Tx) (err error) { a, err = tx.Account("u1"); return err }); err != nil {
			t.Fatal(err)
		}
		if a.Balance != 0 || !a.Trial {
			t.Fatalf("got balance %d, trial %v: the failed transaction wrote", a.Balance, a.Trial)
		}
	})

	t.Run("a held-back write that fails at the commit", func(t *testing.T) {
		err := db.Update(ctx, func(tx credits.Tx) error {
			locked, err := lockAndSetBalance(tx)
			if err != nil {
				return err
			}
			return locked.AddLotDraws(1<<40, []credits.LotAmount{{LotID: 1 << 40, Amount: 1}}) // no such entry or lot
		})
		if err == nil || errors.Is(err, credits.ErrConflict) || errors.Is(err, credits.ErrNotFound) {
			t.Fatalf("got %v, want the commit to fail", err)
		}
		for range 20 { // every pooled connection is usable, with no transaction left open
			var a credits.Account
			if err := db.Update(ctx, func(tx credits.Tx) (err error) { a, err = tx.Account("u1"); return err }); err != nil {
				t.Fatal(err)
			}
			if a.Balance != 0 {
				t.Fatalf("got balance %d, want 0", a.Balance)
			}
		}
	})
}

// lockAndSetBalance locks u1 and holds back a write of its balance, which a
// failed transaction must not leave behind.
func lockAndSetBalance(tx credits.Tx) (credits.LockedAccount, error) {
	locked, err := tx.LockAccount("u1")
	if err != nil {
		return nil, err
	}
	return locked, locked.SetBalance(999, false)
}

// TestDebitPathsOnPostgres runs the debit paths whose round trips `credits
// bench` guards (with or without a key, from one lot or two, a read of one
// account, a debit that emits an event): each answers right, and the event
// is numbered from the locked row. Their counts are the bench's to report
// (bench_roundtrips.go), not a test's to fail on.
func TestDebitPathsOnPostgres(t *testing.T) {
	db := pgtest.Open(t)
	svc := credits.NewService(db)
	ctx := context.Background()
	if _, err := svc.CreateAccount(ctx, "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, _, err := svc.Grant(ctx, "u1", credits.GrantRequest{Amount: 10}, nil); err != nil {
			t.Fatal(err)
		}
	}
	key := func(k string) *credits.Idempotency {
		return &credits.Idempotency{Scope: "k/u1", Key: k, RequestHash: credits.HashRequest("debit", k)}
	}
	tests := []struct {
		name   string
		amount int64
		idem   *credits.Idempotency
	}{
		{"with a key", 1, key("a")},
		{"without a key", 1, nil},
		{"from two lots", 10, key("b")},
	}
	for _, tt := range tests {
		if _, _, err := svc.Debit(ctx, "u1", credits.DebitRequest{Amount: tt.amount}, tt.idem); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
	}
	// A read of one account is one statement outside a transaction.
	if a, err := svc.GetAccount(ctx, "u1"); err != nil || a.Balance != 8 || a.Available != 8 {
		t.Errorf("account after the debits: %+v (%v), want balance 8", a, err)
	}
	if _, err := svc.GetAccount(ctx, "nobody"); credits.ErrorCode(err) != credits.ENOTFOUND {
		t.Errorf("a read of no account: %v, want not found", err)
	}
	// A debit that empties the account tells the application: its outbox
	// event is numbered from the locked row, and goes out with the COMMIT.
	if r, _, err := svc.Debit(ctx, "u1", credits.DebitRequest{Amount: 8}, key("c")); err != nil || r.Balance != 0 {
		t.Fatalf("the last debit: %+v (%v), want balance 0", r, err)
	}
	var events []credits.OutboxEvent
	if err := db.View(ctx, func(tx credits.Tx) (err error) { events, err = tx.OutboxEventsAfter(0, 100); return err }); err != nil {
		t.Fatal(err)
	}
	var sequences []int64
	for _, e := range events {
		sequences = append(sequences, e.Sequence)
	}
	if n := len(events); n == 0 || events[n-1].Type != credits.OutBalanceDepleted || !slices.Equal(sequences, seq(1, int64(n))) {
		t.Errorf("events %+v, want the last balance.depleted and numbers 1 to %d", events, n)
	}
}

// seq is from, from+1, …, to.
func seq(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// TestPurchaseOnPostgres runs the purchase whose round trips `credits bench`
// guards (a checkout.session.completed of a paid session: seven, and five for
// a second event of the session, bench_roundtrips.go): the first credits the
// pack, the second finds the purchase and adds nothing.
func TestPurchaseOnPostgres(t *testing.T) {
	db := pgtest.Open(t)
	svc := credits.NewService(db)
	ctx := context.Background()
	if _, err := svc.CreateAccount(ctx, "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := db.Update(ctx, func(tx credits.Tx) error {
		if err := tx.CreatePack(credits.Pack{ID: "starter", Name: "Starter", Credits: 100, UnitAmount: 500, Currency: "usd", Active: true, CreatedAt: now}); err != nil {
			return err
		}
		return tx.CreateCheckoutSession(credits.CheckoutSession{ID: "cs_1", AccountID: "u1", PackID: "starter", Quantity: 1, ExpectedAmount: 500,
			Currency: "usd", Status: credits.SessionOpen, CreatedAt: now, UpdatedAt: now})
	}); err != nil {
		t.Fatal(err)
	}
	session := testkit.Session{ID: "cs_1", PaymentStatus: "paid", AmountTotal: 500, Currency: "usd", PaymentIntent: "pi_1"}
	for _, tt := range []struct {
		event string
		error string
	}{
		{"evt_1", ""},
		{"evt_2", "session already credited: nothing added"},
	} {
		ev, err := svc.HandleEvent(ctx, testkit.MustEvent(t, testkit.Event(tt.event, credits.EventCheckoutCompleted, false, session)))
		if err != nil || ev.Status != credits.EventProcessed || ev.Error != tt.error {
			t.Fatalf("%s: %+v (%v), want processed, %q", tt.event, ev, err, tt.error)
		}
	}
	if a, err := svc.GetAccount(ctx, "u1"); err != nil || a.Balance != 100 || a.Trial {
		t.Errorf("account after the purchase: %+v (%v), want 100 credits, no longer trial", a, err)
	}
}

// TestExpiryLinkDoesNotWaitForALockedPayment: settling an account links the
// expiry of a purchase's lot to its payment (a foreign key to the payment's
// row) while an event of that payment may hold the payment and wait for the
// account. The link must not wait for the payment's lock, or the two wait
// for each other.
func TestExpiryLinkDoesNotWaitForALockedPayment(t *testing.T) {
	db := pgtest.Open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := db.Update(ctx, func(tx credits.Tx) error {
		if err := tx.CreateAccount(credits.Account{ID: "u1", Email: "u1@example.com", CreatedAt: now}); err != nil {
			return err
		}
		p, _, err := tx.LockPayment("pi_1", now)
		if err != nil {
			return err
		}
		locked, err := tx.LockAccount("u1")
		if err != nil {
			return err
		}
		p.AccountID, p.SessionID, p.Credits, p.Posted, p.UpdatedAt = "u1", "cs_1", 100, 0, now
		return locked.RecordPurchase(p)
	}); err != nil {
		t.Fatal(err)
	}
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	go func() {
		done <- db.Update(ctx, func(tx credits.Tx) error {
			if _, _, err := tx.LockPayment("pi_1", now); err != nil {
				return err
			}
			once.Do(func() { close(held) })
			<-release
			return nil
		})
	}()
	<-held
	linkCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var entryID int64
	err := db.Update(linkCtx, func(tx credits.Tx) error {
		locked, err := tx.LockAccount("u1")
		if err != nil {
			return err
		}
		entryID, err = locked.AddEntry(credits.Entry{AccountID: "u1", Kind: credits.EntryExpiry, Reference: "lot_1", CreatedAt: now})
		if err != nil {
			return err
		}
		return locked.LinkPurchaseLotEntry(entryID, "cs_1")
	})
	close(release)
	if err != nil {
		t.Fatalf("linking an expiry entry while the payment was locked: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var entries []credits.Entry
	if err := db.View(ctx, func(tx credits.Tx) (err error) { entries, err = tx.PaymentEntries("pi_1"); return err }); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].ID != entryID {
		t.Errorf("payment pi_1's entries: %+v, want the expiry entry %d", entries, entryID)
	}
}
