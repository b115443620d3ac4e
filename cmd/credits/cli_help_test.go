package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/credits/credits"
)

// TestGroupHelp: credits GROUP -h lists each subcommand of the group with
// a line saying what it does, and exits 0; a wrong subcommand points there.
func TestGroupHelp(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "absent.db") // help opens no database
	for group, subs := range groups {
		for _, helpArg := range []string{"-h", "--help", "help"} {
			r := runCLI(t, db, group, helpArg)
			if r.code != 0 {
				t.Errorf("credits %s %s: exit %d (%s)", group, helpArg, r.code, r.stderr)
			}
			for _, sub := range subs {
				line := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(sub.name) + `\b.*?\s{2,}` + regexp.QuoteMeta(sub.summary) + `$`)
				if !line.MatchString(r.stdout) {
					t.Errorf("credits %s %s does not list %q with its summary:\n%s", group, helpArg, sub.name, r.stdout)
				}
			}
		}
		r := runCLI(t, db, group, "nonsense")
		if got, want := r.code, 2; got != want || !strings.Contains(r.stderr, "credits "+group+" -h") {
			t.Errorf("credits %s nonsense: exit %d, stderr %q; want exit %d naming credits %s -h", group, got, r.stderr, want, group)
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("help made a database file: %v", err)
	}
}

// TestSubcommandHelpListsItsOwnFlags: a subcommand's -h lists its own flags
// and not the global ones, which credits -h lists once.
func TestSubcommandHelpListsItsOwnFlags(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "absent.db")
	own := map[string][]string{
		"accounts debit":  {"--amount", "--reason", "--idempotency-key", "--json"},
		"accounts grant":  {"--amount", "--expires-at", "--priority", "--idempotency-key"},
		"packs create":    {"--name", "--credits", "--unit-amount", "--currency"},
		"webhooks add":    {"--url", "--events"},
		"stripe replay":   {"--since"},
		"keys create":     {"--scope", "--account"},
		"events list":     {"--status", "--type", "--limit"},
		"holds capture":   {"--amount"},
		"reconcile":       {"--since", "--fix", "--restart"},
		"backup":          {"--to"},
		"restore":         {"--from"},
		"accounts show":   {"--json"},
		"sessions revoke": {"--json"},
	}
	var commands []string
	for group, subs := range groups {
		for _, sub := range subs {
			commands = append(commands, group+" "+sub.name)
		}
	}
	commands = append(commands, "verify", "reconcile", "migrate", "backup", "restore")
	for _, command := range commands {
		r := runCLI(t, db, append(strings.Fields(command), "-h")...)
		if r.code != 0 {
			t.Errorf("credits %s -h: exit %d (%s)", command, r.code, r.stderr)
			continue
		}
		if !strings.HasPrefix(r.stdout, "Usage: credits "+command+" ") {
			t.Errorf("credits %s -h starts %q", command, firstLine(r.stdout))
		}
		for _, global := range []string{"--database-url", "--env", "--stripe-secret-key", "--signing-secret"} {
			if strings.Contains(r.stdout, "  "+global+" ") || strings.Contains(r.stdout, "  "+global+"\n") {
				t.Errorf("credits %s -h lists the global flag %s:\n%s", command, global, r.stdout)
			}
		}
		for _, flag := range own[command] {
			if !strings.Contains(r.stdout, "  "+flag+" ") && !strings.Contains(r.stdout, "  "+flag+"\n") {
				t.Errorf("credits %s -h does not list its flag %s:\n%s", command, flag, r.stdout)
			}
		}
	}
	r := runCLI(t, db, "-h")
	if r.code != 0 {
		t.Fatalf("credits -h: exit %d", r.code)
	}
	for _, global := range []string{"--database-url", "--env", "--stripe-secret-key", "--signing-secret"} {
		if got, want := strings.Count(r.stdout, "  "+global+" "), 1; got != want {
			t.Errorf("credits -h lists %s %d times, want %d", global, got, want)
		}
	}
	for group := range groups {
		if !strings.Contains(r.stdout, group) {
			t.Errorf("credits -h does not name the group %s", group)
		}
	}
}

func firstLine(s string) string { line, _, _ := strings.Cut(s, "\n"); return line }

// TestCLISpendSendsAnIdempotencyKey: every debit and grant has a key,
// printed to stderr; repeated with --idempotency-key, the debit spends once.
func TestCLISpendSendsAnIdempotencyKey(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "idem.db")
	ok := func(args ...string) cliRun {
		t.Helper()
		r := runCLI(t, db, args...)
		if r.code != 0 {
			t.Fatalf("credits %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		return r
	}
	ok("migrate")
	ok("accounts", "create", "--id", "u1", "--email", "u1@example.com")
	keyLine := regexp.MustCompile(`idempotency key: (cli_[0-9a-f]{32}) `)
	grant := ok("accounts", "grant", "u1", "--amount", "10", "--reason", "welcome")
	grantKey := keyLine.FindStringSubmatch(grant.stderr)
	debit := ok("accounts", "debit", "u1", "--amount", "3", "--reason", "image")
	debitKey := keyLine.FindStringSubmatch(debit.stderr)
	if grantKey == nil || debitKey == nil || grantKey[1] == debitKey[1] {
		t.Fatalf("keys printed: grant %q, debit %q; want two different cli_ keys", grant.stderr, debit.stderr)
	}
	again := ok("accounts", "debit", "u1", "--amount", "3", "--reason", "image", "--idempotency-key", debitKey[1], "--json")
	if strings.Contains(again.stderr, "idempotency key:") {
		t.Errorf("a given key was replaced by a new one: %q", again.stderr)
	}
	ok("accounts", "grant", "u1", "--amount", "10", "--reason", "welcome", "--idempotency-key", grantKey[1])
	var account credits.Account
	if err := json.Unmarshal([]byte(ok("accounts", "show", "u1", "--json").stdout), &account); err != nil {
		t.Fatal(err)
	}
	if got, want := account.Balance, int64(7); got != want {
		t.Errorf("balance after grant 10, debit 3, each sent twice with its key = %d, want %d", got, want)
	}
	other := runCLI(t, db, "accounts", "debit", "u1", "--amount", "4", "--idempotency-key", debitKey[1])
	if other.code != 1 || !strings.Contains(other.stderr, "Idempotency-Key") {
		t.Errorf("the key of a debit of 3 reused for a debit of 4: exit %d, %q; want it refused", other.code, other.stderr)
	}
}

// TestDatabaseURLErrors: an unsupported scheme is refused by name (and no
// file is made of it); an unreachable PostgreSQL is named by host with the
// cause, never with its password.
func TestDatabaseURLErrors(t *testing.T) {
	t.Parallel()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := listener.Addr().(*net.TCPAddr).Port
	listener.Close() // nothing listens there now
	const password = "pw_Zq81xVr"
	dir := t.TempDir()
	tests := []struct {
		name, url string
		wantCode  int
		want      []string
	}{
		{"mysql", "mysql://root:" + password + "@db.example.com/credits", 2, []string{`scheme "mysql" is not supported`, "postgres://"}},
		{"redis", "redis://cache:6379", 2, []string{`scheme "redis" is not supported`}},
		{"postgres down", fmt.Sprintf("postgres://credits:%s@127.0.0.1:%d/credits?sslmode=disable", password, closedPort), 1,
			[]string{fmt.Sprintf("postgres://credits@127.0.0.1:%d/credits", closedPort), "connection refused"}},
		{"postgres down, password in the query", fmt.Sprintf("postgresql://127.0.0.1:%d/credits?user=credits&password=%s&sslmode=disable", closedPort, password), 1,
			[]string{fmt.Sprintf("127.0.0.1:%d", closedPort), "connection refused"}},
	}
	for _, tt := range tests {
		for _, command := range [][]string{{"verify"}, {"accounts", "list"}, {"migrate"}, {"serve", "--addr", "127.0.0.1:0"}} {
			r := runCLI(t, filepath.Join(dir, "unused.db"), append(command, "--database-url", tt.url)...)
			if r.code != tt.wantCode {
				t.Errorf("%s, credits %s: exit %d, want %d (%s)", tt.name, command[0], r.code, tt.wantCode, r.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%s, credits %s: stderr %q does not say %q", tt.name, command[0], r.stderr, want)
				}
			}
			if strings.Contains(r.stderr+r.stdout, password) {
				t.Errorf("%s, credits %s: the password is in the output: %q", tt.name, command[0], r.stderr)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files were made: %v", entries)
	}
}

// TestRedactPassword: should a driver echo the URL or its password, neither
// reaches the message.
func TestRedactPassword(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, text, want string }{
		{"postgres://u:s3cr%21t@h:5432/d", "dial postgres://u:s3cr%21t@h:5432/d failed", "dial postgres://u@h:5432/d failed"},
		{"postgres://u:s3cr%21t@h:5432/d", "auth with s3cr!t refused", "auth with [password] refused"},
		{"postgres://h/d?password=hunter22", "password hunter22 wrong", "password [password] wrong"},
		{"postgres://h/d", "no password here", "no password here"},
	}
	for _, tt := range tests {
		if got := redactPassword(tt.url, tt.text); got != tt.want {
			t.Errorf("redactPassword(%q, %q) = %q, want %q", tt.url, tt.text, got, tt.want)
		}
	}
}

// TestEverySettingNamedAtOnce: one start names each wrong setting, the
// general ones and production's together.
func TestEverySettingNamedAtOnce(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"CREDITS_ENV": "production", "CREDITS_TRIAL_CREDITS": "many", "CREDITS_RATE_API": "-1",
		"STRIPE_SECRET_KEY": "pk_live_SECRETVALUE", "CREDITS_DATABASE_URL": "mysql://db/credits", "CREDITS_RECHARGE_LEASE": "1s"}
	err := NewMain(&strings.Builder{}, &strings.Builder{}).ParseFlags(nil, env(vars))
	if err == nil {
		t.Fatal("production started")
	}
	for _, want := range []string{"CREDITS_DATABASE_URL", "CREDITS_TRIAL_CREDITS", "CREDITS_RATE_API", "STRIPE_SECRET_KEY must start",
		"CREDITS_RECHARGE_LEASE", "production needs CREDITS_API_KEY", "production needs STRIPE_WEBHOOK_SECRET",
		"production needs CREDITS_PUBLIC_URL", "production needs CREDITS_SIGNING_SECRET"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "SECRETVALUE") {
		t.Errorf("a secret value leaked: %v", err)
	}
	devErr := NewMain(&strings.Builder{}, &strings.Builder{}).ParseFlags(nil, env(map[string]string{"CREDITS_TRIAL_DAYS": "x", "CREDITS_RATE_PAGES": "y"}))
	if devErr == nil || !strings.Contains(devErr.Error(), "2 settings to fix") || !strings.Contains(devErr.Error(), "CREDITS_TRIAL_DAYS") || !strings.Contains(devErr.Error(), "CREDITS_RATE_PAGES") {
		t.Errorf("two wrong settings in development: %v", devErr)
	}
}
