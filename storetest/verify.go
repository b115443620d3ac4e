package storetest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
)

// execer runs raw SQL on a store; both stores have it, so that tests can
// corrupt a database on purpose.
type execer interface {
	Exec(ctx context.Context, query string, args ...any) error
}

// testVerifyFindsCorruption breaks each invariant that verify checks, one
// store at a time, and wants exactly the violation that names it.
func testVerifyFindsCorruption(t *testing.T, open Opener) {
	tests := []struct {
		name    string
		corrupt func(credits.LockedAccount) error
		raw     string // a statement to run after corrupt, if any
		// refusedBy, when set, is what a store's own constraint says when it
		// refuses raw: such a store cannot hold the corruption at all.
		refusedBy string
		want      []credits.Violation
	}{
		{
			name:    "balance differs from its entries",
			corrupt: func(l credits.LockedAccount) error { return l.SetBalance(105, false) },
			want:    []credits.Violation{{Invariant: 1, AccountID: "u1", Message: "balance 105 but entries sum to 100"}},
		},
		{
			name: "entries differ from the lots",
			corrupt: func(l credits.LockedAccount) error {
				lots, err := l.SpendableLots(fixtureNow, 10)
				if err != nil {
					return err
				}
				return l.SetLot(lots[0].ID, 90, 0)
			},
			want: []credits.Violation{{Invariant: 1, AccountID: "u1", Message: "lots hold 90 and debt is 0, but entries sum to 100"}},
		},
		{
			name:    "held total differs from the holds",
			corrupt: func(l credits.LockedAccount) error { return l.SetHeld(7) },
			want: []credits.Violation{
				{Invariant: 1, AccountID: "u1", Message: "held 7, but active holds sum to 0 and lots reserve 0"},
			},
		},
		{
			name: "an entry's running balance is wrong",
			corrupt: func(l credits.LockedAccount) error {
				if _, err := l.AddEntry(credits.Entry{Amount: 0, Kind: credits.EntryAdjustment, Reference: "bad", BalanceAfter: 42, CreatedAt: fixtureNow}); err != nil {
					return err
				}
				return l.SetBalance(100, l.Account().Trial) // the balance right, the entry wrong
			},
			want: []credits.Violation{{Invariant: 2, AccountID: "u1", Message: "entry {bad} says balance_after 42, which is not the running sum"}},
		},
		{
			name:    "the account does not name its latest entry",
			corrupt: func(l credits.LockedAccount) error { return nil },
			raw:     `UPDATE accounts SET last_entry_id = NULL WHERE id = 'u1'`,
			want: []credits.Violation{{Invariant: 2, AccountID: "u1",
				Message: "the entries' chain (each naming the one before; the account naming the latest) is broken: the ledger would list wrong"}},
		},
		{
			name:    "the account names a purchase that is not its latest",
			corrupt: func(l credits.LockedAccount) error { return nil },
			raw:     `UPDATE accounts SET last_purchase_id = 42 WHERE id = 'u1'`,
			want: []credits.Violation{{Invariant: 3, AccountID: "u1",
				Message: "the purchases' chain (each naming the one before; the account naming the latest) is broken: the account's purchases would list wrong"}},
		},
		{
			name:    "a lot with credits is not marked spendable",
			corrupt: func(l credits.LockedAccount) error { return nil },
			raw:     `UPDATE lots SET spendable = FALSE WHERE account_id = 'u1'`,
			want: []credits.Violation{{Invariant: 1, AccountID: "u1",
				Message: "lot 2 holds 100 with 0 reserved, but its spendable flag says otherwise: draws would not find its credits, or would look at a spent lot"}},
		},
		{
			// Lot 1 is u0's; the entry ({any}: ids may have gaps) follows the grants (the
			// ledger, which {bad} reads, no longer reaches it: the raw
			// INSERT leaves the account naming its entry before, which
			// verify finds too).
			name:    "an entry names another account's lot",
			corrupt: func(l credits.LockedAccount) error { return nil },
			raw: `INSERT INTO entries (account_id, amount, kind, reference, description, balance_after, created_at, prev_entry_id, lot_id)
				SELECT 'u1', 0, 'adjustment', 'bad', '', 100, created_at, id, 1 FROM entries WHERE account_id = 'u1'`,
			want: []credits.Violation{
				{Invariant: 2, AccountID: "u1", Message: "the entries' chain (each naming the one before; the account naming the latest) is broken: the ledger would list wrong"},
				{Invariant: 1, AccountID: "u1", Message: "entry {any} (0 credits) names lot 1 as the lot it drew from, but that is not a lot of its account, or the entry took nothing"},
			},
		},
		{
			// SQLite's foreign key refuses the entry; PostgreSQL has none
			// (a check per entry on the batches' backend), so verify must
			// find it.
			name:    "an entry of an account that does not exist",
			corrupt: func(l credits.LockedAccount) error { return nil },
			raw: `INSERT INTO entries (account_id, amount, kind, reference, description, balance_after, created_at)
				SELECT 'ghost', 5, 'grant', 'bad', '', 5, created_at FROM entries WHERE account_id = 'u1'`,
			refusedBy: "FOREIGN KEY constraint failed",
			want: []credits.Violation{
				{Invariant: 1, AccountID: "ghost", Message: "entry {any} (5 credits) is of account ghost, which does not exist: no balance counts it"},
			},
		},
		{
			name: "a session credited twice",
			corrupt: func(l credits.LockedAccount) error {
				for range 2 {
					if _, err := l.AddEntry(credits.Entry{Amount: 0, Kind: credits.EntryPurchase, Reference: "cs_twice", BalanceAfter: 100, CreatedAt: fixtureNow}); err != nil {
						return err
					}
				}
				return nil
			},
			want: []credits.Violation{{Invariant: 3, Message: "checkout session cs_twice was credited more than once"}},
		},
		{
			name: "a debt with unreserved credits left",
			corrupt: func(l credits.LockedAccount) error {
				if err := l.SetDebt(5); err != nil {
					return err
				}
				return nil
			},
			want: []credits.Violation{
				{Invariant: 1, AccountID: "u1", Message: "lots hold 100 and debt is 5, but entries sum to 100"},
				{Invariant: 4, AccountID: "u1", Message: "debt 5, but available is 100: unreserved credits must pay a debt"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := open(t)
			svc := credits.NewService(db)
			ctx := context.Background()
			if _, err := svc.CreateAccount(ctx, "u1", "u1@example.com"); err != nil {
				t.Fatal(err)
			}
			// Entry 1 is a grant to another account, so that entry ids and
			// account ids do not coincide.
			if _, err := svc.CreateAccount(ctx, "u0", "u0@example.com"); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"u0", "u1"} {
				if _, _, err := svc.Grant(ctx, id, credits.GrantRequest{Amount: 100}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := svc.Verify(ctx); err != nil || len(got) != 0 {
				t.Fatalf("before the corruption: %+v (%v)", got, err)
			}
			err := db.Update(ctx, func(tx credits.Tx) error {
				locked, err := tx.LockAccount("u1")
				if err != nil {
					return err
				}
				return tt.corrupt(locked)
			})
			if err != nil {
				t.Fatal(err)
			}
			if tt.raw != "" {
				raw, ok := db.(execer)
				if !ok {
					t.Fatalf("%T has no Exec: the suite needs raw SQL to break the entries' chain", db)
				}
				err := raw.Exec(ctx, tt.raw)
				if err != nil && tt.refusedBy != "" && strings.Contains(err.Error(), tt.refusedBy) {
					return // the store refuses the corruption itself
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			got, err := svc.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tt.want)
			for i := range want {
				want[i].Message = strings.ReplaceAll(want[i].Message, "{bad}", fmt.Sprint(entryID(t, db, "bad")))
				// {any}: an entry id that the ledger does not reach, any number.
				pattern := "^" + strings.ReplaceAll(regexp.QuoteMeta(want[i].Message), `\{any\}`, "[0-9]+") + "$"
				if i < len(got) && regexp.MustCompile(pattern).MatchString(got[i].Message) {
					want[i].Message = got[i].Message
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("violations:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// testLedgerIsAppendOnly: the database itself refuses to change or remove a
// ledger entry, whoever asks.
func testLedgerIsAppendOnly(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	raw, ok := f.db.(execer)
	if !ok {
		t.Fatalf("%T has no Exec: the suite needs raw SQL to test the append-only rule", f.db)
	}
	for _, stmt := range []string{
		`UPDATE entries SET amount = amount + 1`,
		`UPDATE entries SET balance_after = 0`,
		`DELETE FROM entries`,
	} {
		if err := raw.Exec(context.Background(), stmt); err == nil {
			t.Errorf("%s: the database allowed it", stmt)
		}
	}
	if a := f.accountNow("u1"); a.Balance != 100 {
		t.Errorf("balance %d after refused changes, want 100", a.Balance)
	}
}

// testEntriesOfTwoLocksOfOneAccount: a transaction may lock one account
// twice (a purchase, then what follows it); entries added through each lock
// still form one chain, which verify accepts and the ledger lists in full.
func testEntriesOfTwoLocksOfOneAccount(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	err := f.db.Update(context.Background(), func(tx credits.Tx) error {
		first, err := tx.LockAccount("u1")
		if err != nil {
			return err
		}
		second, err := tx.LockAccount("u1")
		if err != nil {
			return err
		}
		for i, l := range []credits.LockedAccount{first, second, first} {
			entry := credits.Entry{Amount: 0, Kind: credits.EntryAdjustment, Reference: fmt.Sprint("lock-", i), BalanceAfter: 100, CreatedAt: fixtureNow}
			if _, err := l.AddEntry(entry); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.svc.Verify(context.Background()); err != nil || len(got) != 0 {
		t.Fatalf("verify: %+v (%v)", got, err)
	}
	page, err := f.svc.ListEntries(context.Background(), "u1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Data {
		got = append(got, e.Reference)
	}
	if len(got) != 4 || fmt.Sprint(got[:3]) != "[lock-2 lock-1 lock-0]" {
		t.Errorf("entries newest first: %v, want lock-2, lock-1, lock-0 and the grant", got)
	}
}

// testFailedWriteLeavesNothing: a write that changes an account and then
// fails leaves no trace, neither in the database nor in what a store
// remembers of the account for its next write (SQLite's writer does), while
// writes beside it keep theirs.
func testFailedWriteLeavesNothing(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	ctx := context.Background()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				if _, _, err := f.svc.Debit(ctx, "u1", credits.DebitRequest{Amount: 1}, nil); err != nil {
					t.Error(err)
				}
				return
			}
			err := f.db.Update(ctx, func(tx credits.Tx) error {
				locked, err := tx.LockAccount("u1")
				if err != nil {
					return err
				}
				if _, err := locked.AddEntry(credits.Entry{Amount: 500, Kind: credits.EntryAdjustment, Reference: "failed", BalanceAfter: 999, CreatedAt: fixtureNow}); err != nil {
					return err
				}
				if err := locked.SetHeld(7); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Errorf("got %v, want the write's own error", err)
			}
		}()
	}
	wg.Wait()
	if _, err := f.debit("u1", 1); err != nil { // through whatever the store remembers of u1
		t.Fatal(err)
	}
	f.wantAccount("u1", 95, 95)
	if got, err := f.svc.Verify(ctx); err != nil || len(got) != 0 {
		t.Fatalf("verify: %+v (%v)", got, err)
	}
}

// entryID finds u1's entry with the given reference (0 when there is none).
func entryID(t *testing.T, db credits.Store, reference string) int64 {
	t.Helper()
	var id int64
	err := db.View(context.Background(), func(tx credits.Tx) error {
		entries, err := tx.Entries("u1", 0, 100)
		for _, e := range entries {
			if e.Reference == reference {
				id = e.ID
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// testVerifyFindsALateDueTime: an account whose due time is later than its
// hold's expiry would not be settled on time; verify says so.
func testVerifyFindsALateDueTime(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.account("u1", "u1@example.com")
	f.grant("u1", 100, 0, 0)
	f.hold("u1", 10, time.Minute)
	ctx := context.Background()
	if got, err := f.svc.Verify(ctx); err != nil || len(got) != 0 {
		t.Fatalf("before: %+v (%v)", got, err)
	}
	raw, ok := f.db.(execer)
	if !ok {
		t.Skip("the store cannot run raw SQL")
	}
	if err := raw.Exec(ctx, "UPDATE accounts SET due_at = NULL WHERE id = 'u1'"); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Verify(ctx)
	want := []credits.Violation{{Invariant: 4, AccountID: "u1", Message: "due_at is later than a hold or a lot of the account expires: it would not be settled on time"}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("violations %+v (%v), want %+v", got, err, want)
	}
	// Repaired, so that the suite's own verify at the end passes.
	if err := raw.Exec(ctx, "UPDATE accounts SET due_at = (SELECT MIN(expires_at) FROM holds WHERE account_id = 'u1')"); err != nil {
		t.Fatal(err)
	}
}
