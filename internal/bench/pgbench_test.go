package bench

import (
	"net/url"
	"strings"
	"testing"
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
