//go:build linux

package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/sqlite"
)

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestFullDiskHeals: on a small file system filled to the last byte,
// debits fail (503, nothing half-written) and the health check says writes
// fail even when its own small row fits; freeing a few MiB brings writes
// back at once and for good (the WAL does not fill the disk again), without
// a restart.
func TestFullDiskHeals(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=12m"); err != nil {
		t.Skipf("cannot mount a small tmpfs here (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(dir, "credits.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc := credits.NewService(db)
	if _, err := svc.CreateAccount(ctx, "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Grant(ctx, "u1", credits.GrantRequest{Amount: 1_000_000_000, Reason: "start"}, nil); err != nil {
		t.Fatal(err)
	}
	debit := func(i int) error {
		key := &credits.Idempotency{Scope: "debit:u1", Key: fmt.Sprint("d", i), RequestHash: fmt.Sprint(i)}
		_, _, err := svc.Debit(ctx, "u1", credits.DebitRequest{Amount: 1, Description: "a debit with some words in it"}, key)
		return err
	}
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()
	if _, err := io.Copy(filler, zeros{}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v", err)
	}
	n, failed := 0, false
	for ; n < 100_000 && !failed; n++ {
		if err := debit(n); err != nil {
			if !errors.Is(err, credits.ErrDiskFull) || credits.ErrorCode(err) != credits.EUNAVAILABLE {
				t.Fatalf("debit %d on a full disk: %v", n, err)
			}
			failed = true
		}
	}
	if !failed {
		t.Fatal("100,000 debits fit on a full disk")
	}
	if _, writes := svc.Health(ctx); writes == nil {
		t.Error("health: writes ok while debits fail for lack of space")
	}
	size, _ := filler.Seek(0, io.SeekEnd)
	if err := filler.Truncate(size - 4<<20); err != nil { // free 4 MiB
		t.Fatal(err)
	}
	for i := range 3000 {
		if err := debit(n + i); err != nil {
			t.Fatalf("debit %d after 4 MiB were freed: %v", i, err)
		}
	}
	if _, writes := svc.Health(ctx); writes != nil {
		t.Errorf("health after the space came back: %v", writes)
	}
	if violations, err := svc.Verify(ctx); err != nil || len(violations) != 0 {
		t.Errorf("verify: %v %v", violations, err)
	}
}
