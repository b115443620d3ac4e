package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/sqlite"
)

// openShared opens two stores on one new database file, as the server and
// the CLI do.
func openShared(t *testing.T) (server, cli *sqlite.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shared.db")
	var dbs []*sqlite.DB
	for range 2 {
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		dbs = append(dbs, db)
	}
	return dbs[0], dbs[1]
}

// openAccounts creates the accounts and grants each amount credits.
func openAccounts(t *testing.T, svc *credits.Service, amount int64, ids ...string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		if _, err := svc.CreateAccount(ctx, id, id+"@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Grant(ctx, id, credits.GrantRequest{Amount: amount}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriterSeesOtherWriters: a write by another connection to the same
// file (the CLI, while the server runs) must not be overwritten by the
// server's writer. Each
// service debits and grants in turn on one account: the balance must be
// the sum of the entries every time.
func TestWriterSeesOtherWriters(t *testing.T) {
	ctx := context.Background()
	serverDB, cliDB := openShared(t)
	server, cli := credits.NewService(serverDB), credits.NewService(cliDB)
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

// TestReadsFollowEveryWriter: a read of one account shows what was last
// committed, by the server's writer, by another process (the CLI), or by the
// writer's own connection outside the service (a raw Exec).
func TestReadsFollowEveryWriter(t *testing.T) {
	ctx := context.Background()
	serverDB, cliDB := openShared(t)
	server, cli := credits.NewService(serverDB), credits.NewService(cliDB)
	if _, err := server.CreateAccount(ctx, "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	balance := func(svc *credits.Service) int64 {
		t.Helper()
		a, err := svc.GetAccount(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		return a.Balance
	}

	if _, _, err := server.Grant(ctx, "u1", credits.GrantRequest{Amount: 100}, nil); err != nil {
		t.Fatal(err)
	}
	if got := balance(server); got != 100 {
		t.Fatalf("after the server's grant the server reads %d, want 100", got)
	}

	if _, _, err := cli.Grant(ctx, "u1", credits.GrantRequest{Amount: 50}, nil); err != nil {
		t.Fatal(err)
	}
	if got := balance(server); got != 150 {
		t.Errorf("after the CLI's grant the server reads %d, want 150", got)
	}

	if _, _, err := server.Debit(ctx, "u1", credits.DebitRequest{Amount: 30}, nil); err != nil {
		t.Fatal(err)
	}
	if got := balance(server); got != 120 {
		t.Errorf("after the server's debit the server reads %d, want 120", got)
	}

	if err := serverDB.Exec(ctx, "UPDATE accounts SET email = 'moved@example.com' WHERE id = 'u1'"); err != nil {
		t.Fatal(err)
	}
	if a, err := server.GetAccount(ctx, "u1"); err != nil || a.Email != "moved@example.com" || a.Balance != 120 {
		t.Errorf("after a raw update the server reads %+v (%v), want the new email and 120", a, err)
	}
	if got := balance(cli); got != 120 {
		t.Errorf("the CLI reads %d, want 120", got)
	}
}

// TestReadsFollowWrites: every read that begins after a write was
// answered shows that write, whether the server or another store on the
// file (the CLI) wrote it, while reads and the server's writes of another
// account run beside it. (Two stores writing at once would wait on SQLite's busy handler,
// which sleeps: the other store writes only in turn here.)
func TestReadsFollowWrites(t *testing.T) {
	ctx := context.Background()
	serverDB, cliDB := openShared(t)
	server, cli := credits.NewService(serverDB), credits.NewService(cliDB)
	openAccounts(t, server, 1_000_000, "u1", "u2")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }() // before the stores close
	background := func(fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := fn(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	background(func() error { // the server writes another account
		_, _, err := server.Debit(ctx, "u2", credits.DebitRequest{Amount: 1}, nil)
		return err
	})
	background(func() error { // and reads go on beside
		_, err := server.GetAccount(ctx, "u1")
		return err
	})
	for i := range 90 {
		svc := server
		if i%10 == 9 {
			svc = cli // some of u1's writes come from the other store
		}
		r, _, err := svc.Debit(ctx, "u1", credits.DebitRequest{Amount: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := server.GetAccount(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if a.Balance != r.Balance {
			t.Fatalf("write %d answered balance %d; a read after it shows %d", i, r.Balance, a.Balance)
		}
	}
}

// TestReadsAfterWritesOfEither: reads of two accounts, between writes of
// one or the other by the server or by another store (the CLI), show every
// account as last committed.
func TestReadsAfterWritesOfEither(t *testing.T) {
	ctx := context.Background()
	serverDB, cliDB := openShared(t)
	server, cli := credits.NewService(serverDB), credits.NewService(cliDB)
	openAccounts(t, cli, 100, "u1", "u2")
	read := func(svc *credits.Service, id string) int64 {
		t.Helper()
		a, err := svc.GetAccount(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return a.Balance
	}
	debit := func(svc *credits.Service, id string) func() error {
		return func() error {
			_, _, err := svc.Debit(ctx, id, credits.DebitRequest{Amount: 10}, nil)
			return err
		}
	}
	steps := []struct {
		name string
		do   func() error
		want map[string]int64 // account: balance the server reads after the step
	}{
		{"the server reads u1 first", func() error { read(server, "u1"); return nil }, map[string]int64{"u1": 100, "u2": 100}},
		{"the server writes u2", debit(server, "u2"), map[string]int64{"u1": 100, "u2": 90}},
		{"the server reads u1", func() error { read(server, "u1"); return nil }, map[string]int64{"u1": 100, "u2": 90}},
		{"the server writes u2 again", debit(server, "u2"), map[string]int64{"u1": 100, "u2": 80}},
		{"the CLI writes u1", debit(cli, "u1"), map[string]int64{"u1": 90, "u2": 80}},
		{"the server writes u2 once more", debit(server, "u2"), map[string]int64{"u1": 90, "u2": 70}},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		for _, id := range []string{"u1", "u2"} {
			if got := read(server, id); got != step.want[id] {
				t.Errorf("%s: the server reads %s at %d, want %d", step.name, id, got, step.want[id])
			}
		}
	}
	if got := read(cli, "u2"); got != 70 {
		t.Errorf("the CLI reads u2 at %d, want 70", got)
	}
}
