package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/credits/credits/internal/pgtest"
)

// TestLibpqURI: pgbench reads the URL as libpq does: the password goes to
// PGPASSWORD (never the command line), pgx's own parameters go, and the
// run-time settings pgx passes to the server (search_path) become -c in
// options.
func TestLibpqURI(t *testing.T) {
	t.Parallel()
	uri, password, err := libpqURI("postgres://bench:s3cret@db.example:5433/credits?sslmode=require&pool_max_conns=20&search_path=tenant_1&statement_cache_capacity=64&options=-cwork_mem%3D8MB")
	if err != nil {
		t.Fatal(err)
	}
	if password != "s3cret" || strings.Contains(uri, "s3cret") {
		t.Errorf("password %q, uri %q: want the password apart and out of the URI", password, uri)
	}
	if strings.Contains(uri, "+") {
		t.Errorf("uri %q has a +, which libpq does not read as a space", uri)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.User.Username() != "bench" || u.Host != "db.example:5433" || u.Path != "/credits" || q.Get("sslmode") != "require" {
		t.Errorf("uri %q lost the user, host, database or sslmode", uri)
	}
	if q.Has("pool_max_conns") || q.Has("statement_cache_capacity") || q.Has("search_path") {
		t.Errorf("uri %q keeps a parameter libpq refuses", uri)
	}
	if got, want := q.Get("options"), "-cwork_mem=8MB -c search_path=tenant_1"; got != want {
		t.Errorf("options = %q, want %q", got, want)
	}
	if _, _, err := libpqURI("postgres://%zz"); err == nil || strings.Contains(err.Error(), "%zz") {
		t.Errorf("a URL that does not parse: %v", err)
	}
}

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
	if !regexp.MustCompile(`\nround trips \(PostgreSQL\): debit with a key [0-9]+/2;.* purchase [0-9]+/7; purchase, second event [0-9]+/5;\n`).MatchString(out) {
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
