package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/sqlite"
)

// TestWriterSeesOtherWriters: the writer remembers account rows between its
// transactions; a write by another connection to the same file (the CLI,
// while the server runs) must not be overwritten from that memory. Each
// service debits and grants in turn on one account: the balance must be
// the sum of the entries every time.
func TestWriterSeesOtherWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	ctx := context.Background()
	var services []*credits.Service
	for range 2 {
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		services = append(services, credits.NewService(db))
	}
	server, cli := services[0], services[1]
	if _, err := server.CreateAccount(ctx, "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	for i := range 5 {
		for _, svc := range []*credits.Service{server, cli} {
			if _, _, err := svc.Grant(ctx, "u1", credits.GrantRequest{Amount: 10}, nil); err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.Debit(ctx, "u1", credits.DebitRequest{Amount: 3}, nil); err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
			want += 7
		}
	}
	a, err := server.GetAccount(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Balance != want {
		t.Errorf("balance %d, want %d", a.Balance, want)
	}
	if violations, err := server.Verify(ctx); err != nil || len(violations) != 0 {
		t.Errorf("verify: %+v (%v)", violations, err)
	}
}
