package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
)

// testFailedUpdatesLeaveNothing runs concurrent updates of which half write
// and then fail: those leave nothing, and their neighbours, which may share a
// commit with them, keep everything.
func testFailedUpdatesLeaveNothing(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	errWanted := errors.New("this update fails after writing")
	const updates = 60
	var wg sync.WaitGroup
	for i := range updates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.Update(ctx, func(tx credits.Tx) error {
				if err := tx.CreateAccount(credits.Account{ID: fmt.Sprintf("a%02d", i), Email: "a@example.com", CreatedAt: time.Now()}); err != nil {
					return err
				}
				if i%2 == 1 {
					return errWanted
				}
				return nil
			})
			if want := map[bool]error{true: errWanted, false: nil}[i%2 == 1]; !errors.Is(err, want) {
				t.Errorf("update %d: %v, want %v", i, err, want)
			}
		}()
	}
	wg.Wait()
	var accounts []credits.Account
	err := db.View(ctx, func(tx credits.Tx) (err error) { accounts, err = tx.Accounts("", 100); return err })
	if err != nil {
		t.Fatal(err)
	}
	if len(accounts) != updates/2 {
		t.Fatalf("%d accounts stored, want %d", len(accounts), updates/2)
	}
	for _, a := range accounts {
		var n int
		if _, err := fmt.Sscanf(a.ID, "a%d", &n); err != nil || n%2 == 1 {
			t.Errorf("account %s was stored by an update that failed", a.ID)
		}
	}
}

// testPanicInUpdate checks that a panic reaches the caller, writes nothing,
// and leaves the store working.
func testPanicInUpdate(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller")
			}
		}()
		_ = db.Update(ctx, func(tx credits.Tx) error {
			if err := tx.CreateAccount(credits.Account{ID: "ghost", Email: "g@example.com", CreatedAt: time.Now()}); err != nil {
				return err
			}
			panic("broken invariant")
		})
	}()
	err := db.Update(ctx, func(tx credits.Tx) error {
		return tx.CreateAccount(credits.Account{ID: "after", Email: "a@example.com", CreatedAt: time.Now()})
	})
	if err != nil {
		t.Fatalf("update after a panic: %v", err)
	}
	var accounts []credits.Account
	if err := db.View(ctx, func(tx credits.Tx) (err error) { accounts, err = tx.Accounts("", 10); return err }); err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 1 || accounts[0].ID != "after" {
		t.Errorf("accounts = %+v, want only the one written after the panic", accounts)
	}
}
