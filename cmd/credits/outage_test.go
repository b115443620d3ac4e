package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/stripemock"
	"github.com/credits/credits/internal/testkit"
)

// pgBin finds the directory of Debian's PostgreSQL server binaries, of
// whatever version the machine has.
func pgBin() string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return ""
	}
	return filepath.Dir(matches[len(matches)-1])
}

// privatePostgres is a PostgreSQL server of the test's own, so that the test
// can stop it without disturbing the tests that share the machine's server.
type privatePostgres struct {
	t       *testing.T
	bin     string
	dataDir string
	port    int
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	pgUser, err := user.Lookup("postgres")
	bin := pgBin()
	if err != nil || bin == "" || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin), a postgres user and root to run this test")
		}
		t.Skip("needs root, a postgres user and PostgreSQL's server binaries in /usr/lib/postgresql/*/bin")
	}
	dir, err := os.MkdirTemp("", "credits-pg-")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	p := &privatePostgres{t: t, bin: bin, dataDir: filepath.Join(dir, "data"), port: freePort(t)}
	t.Cleanup(func() {
		_ = p.pgctl("stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	if out, err := asPostgres(filepath.Join(bin, "initdb"), "-D", p.dataDir, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start()
	return p
}

func asPostgres(name string, args ...string) *exec.Cmd {
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
}

func (p *privatePostgres) pgctl(args ...string) error {
	out, err := asPostgres(filepath.Join(p.bin, "pg_ctl"), append([]string{"-D", p.dataDir, "-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %v\n%s", args, err, out)
	}
	return nil
}

func (p *privatePostgres) start() {
	p.t.Helper()
	options := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on", p.port, filepath.Dir(p.dataDir))
	if err := p.pgctl("-o", options, "-l", filepath.Join(filepath.Dir(p.dataDir), "log"), "start"); err != nil {
		p.t.Fatal(err)
	}
}

func (p *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestPostgresOutage stops PostgreSQL under a running service: the webhook
// answers 5xx and the API 503; what was acknowledged before is kept; when
// the database is back, the same service resumes without a restart.
func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts and stops a PostgreSQL server")
	}
	pg := startPrivatePostgres(t)
	m, base := startMain(t, map[string]string{
		"CREDITS_DATABASE_URL":  pg.url(),
		"CREDITS_API_KEY":       testAPIKey,
		"STRIPE_SECRET_KEY":     "sk_test_123",
		"STRIPE_WEBHOOK_SECRET": testkit.WebhookSecret,
		"STRIPE_API_BASE":       stripemock.Start(t),
	})
	defer m.Close()
	c := client{t, base}
	c.must(201, "POST", "/v1/packs", map[string]any{"id": "p", "name": "P", "credits": 10, "unit_amount": 100, "currency": "usd"})
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "u", "email": "u@example.com"})
	first := c.must(201, "POST", "/v1/accounts/u/checkout_sessions", map[string]any{"pack_id": "p"})["id"].(string)
	second := c.must(201, "POST", "/v1/accounts/u/checkout_sessions", map[string]any{"pack_id": "p"})["id"].(string)
	deliver := func(eventID, session string) int {
		payload := testkit.Event(eventID, credits.EventCheckoutCompleted, false, testkit.Session{ID: session, PaymentStatus: "paid"})
		status, _ := c.call("POST", "/stripe/webhook", payload, map[string]string{"Stripe-Signature": testkit.Sign(payload)})
		return status
	}
	if status := deliver("evt_before", first); status != 200 {
		t.Fatalf("webhook before the outage: %d", status)
	}

	if err := pg.pgctl("stop", "-m", "immediate"); err != nil { // as a crash would
		t.Fatal(err)
	}
	if status := deliver("evt_during", second); status < 500 {
		t.Errorf("webhook during the outage: %d, want 5xx so that Stripe retries", status)
	}
	if status, body := c.call("GET", "/v1/accounts/u", nil, nil); status != 503 {
		t.Errorf("API during the outage: %d %v, want 503", status, body)
	}
	if status, _ := c.call("GET", "/healthz", nil, nil); status != 503 {
		t.Errorf("healthz during the outage: %d, want 503", status)
	}

	pg.start()
	deadline := time.Now().Add(30 * time.Second)
	for { // Stripe's retry of the refused delivery
		if status := deliver("evt_during", second); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the service did not resume within 30s of the database coming back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	account := c.must(200, "GET", "/v1/accounts/u", nil)
	if account["balance"] != 20.0 {
		t.Errorf("balance after the outage = %v, want 20: both purchases, once each", account["balance"])
	}
	violations, err := m.Service.Verify(context.Background())
	if err != nil || len(violations) != 0 {
		t.Errorf("verify: %v %v", violations, err)
	}
}
