package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/credits/credits/internal/pgtest"
)

// TestBenchPostgresPgbench runs the bench on PostgreSQL: debit-100 is
// compared with pgbench's TPC-B run on the same database in the same run,
// and pgbench's tables are gone afterwards.
func TestBenchPostgresPgbench(t *testing.T) {
	t.Parallel()
	databaseURL := pgtest.URL(t)
	if _, err := exec.LookPath("pgbench"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pgbench is not on PATH, and CI must run this test (it comes with PostgreSQL's server package)")
		}
		t.Skip("pgbench is not on PATH")
	}
	ctx := context.Background()
	vars := env(map[string]string{"CREDITS_DATABASE_URL": databaseURL})
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"migrate"}, vars, &stdout, &stderr); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, stderr.String())
	}
	stdout.Reset()
	code := run(ctx, []string{"bench", "--database-url", databaseURL, "--duration", "1s", "--concurrency", "4", "--accounts", "5", "--phases", "debit-100"}, vars, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("bench: exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if !regexp.MustCompile(`\npgbench +[1-9][0-9]* +- +- +- +- +- +0 +-\n`).MatchString(out) {
		t.Errorf("no pgbench row with a rate:\n%s", out)
	}
	if !regexp.MustCompile(`\ndebit-100 +[1-9][0-9]* .* pgbench +[1-9][0-9]* +[0-9]+\.[0-9]{2} +0 `).MatchString(out) {
		t.Errorf("debit-100 is not compared with pgbench:\n%s", out)
	}
	// The round trips of each guarded path are reported (a count over its
	// limit is the bench's warning, not this test's failure).
	if !regexp.MustCompile(`\nround trips \(PostgreSQL\): debit with a key [0-9]+/2;.* purchase [0-9]+/8; purchase, second event [0-9]+/6;( [^\n]*)?\n`).MatchString(out) {
		t.Errorf("no round trips of the guarded paths:\n%s", out)
	}
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'pgbench\_%' AND schemaname = current_schema()`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d pgbench table(s) left in the bench's schema", tables)
	}
}
