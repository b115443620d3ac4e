package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/stripemock"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/sqlite"
	"github.com/credits/credits/stripe"
)

type cliRun struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, dbPath string, args ...string) cliRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env(map[string]string{"CREDITS_DATABASE_URL": dbPath}), &stdout, &stderr)
	return cliRun{code, stdout.String(), stderr.String()}
}

func TestCLI(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "cli.db")
	ok := func(r cliRun) cliRun {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		return r
	}
	ok(runCLI(t, db, "migrate"))
	ok(runCLI(t, db, "packs", "create", "--id", "starter", "--name", "Starter", "--credits", "100", "--unit-amount", "999", "--stripe-price-id", "price_1"))
	ok(runCLI(t, db, "accounts", "create", "--id", "u1", "--email", "u1@example.com"))

	var packs []credits.Pack
	if err := json.Unmarshal([]byte(ok(runCLI(t, db, "packs", "list", "--json")).stdout), &packs); err != nil || len(packs) != 1 || packs[0].StripePriceID != "price_1" {
		t.Errorf("packs list --json = %+v (%v)", packs, err)
	}
	if out := ok(runCLI(t, db, "packs", "list")).stdout; !strings.Contains(out, "starter") || !strings.Contains(out, "$9.99") {
		t.Errorf("packs list = %q", out)
	}
	var account credits.Account
	if err := json.Unmarshal([]byte(ok(runCLI(t, db, "accounts", "show", "u1", "--json")).stdout), &account); err != nil || account.ID != "u1" || !account.Trial {
		t.Errorf("accounts show --json = %+v (%v)", account, err)
	}
	var page credits.Page[credits.Account]
	if err := json.Unmarshal([]byte(ok(runCLI(t, db, "accounts", "list", "--json")).stdout), &page); err != nil || len(page.Data) != 1 {
		t.Errorf("accounts list --json = %+v (%v)", page, err)
	}
	if out := ok(runCLI(t, db, "events", "list", "--status", "unmatched")).stdout; !strings.HasPrefix(out, "EVENT") {
		t.Errorf("events list = %q", out)
	}

	errorCases := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"accounts", "create", "--id", "u1", "--email", "u1@example.com"}, 1, "credits: account u1 already exists\n"},
		{[]string{"accounts", "show", "ghost"}, 1, "credits: account ghost not found\n"},
		{[]string{"packs", "create", "--name", "x", "--credits", "0", "--unit-amount", "1"}, 1, "credits: credits must be between 1"},
		{[]string{"events", "list", "--status", "odd"}, 1, "credits: status must be one of"},
		{[]string{"nonsense"}, 2, "credits: unknown command"},
		{[]string{"packs"}, 2, "credits: packs needs a subcommand"},
		{[]string{"accounts", "show"}, 2, "credits: accounts show takes 1 argument"},
	}
	for _, tt := range errorCases {
		r := runCLI(t, db, tt.args...)
		lastLine := r.stderr[strings.LastIndex(strings.TrimRight(r.stderr, "\n"), "\n")+1:]
		if r.code != tt.wantCode || !strings.HasPrefix(lastLine, tt.wantErr) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, r.code, r.stderr, tt.wantCode, tt.wantErr)
		}
	}
}

func TestVerifyFindsCorruptedBalance(t *testing.T) {
	t.Parallel()
	store, path := testkit.OpenSQLite(t)
	svc := credits.NewService(store)
	ctx := context.Background()
	if _, err := svc.CreatePack(ctx, credits.Pack{ID: "p", Name: "P", Credits: 100, UnitAmount: 100, Currency: "usd"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateAccount(ctx, "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	err := store.Update(ctx, func(tx credits.Tx) error {
		return tx.CreateCheckoutSession(credits.CheckoutSession{ID: "cs_1", AccountID: "u1", PackID: "p", Quantity: 1, Currency: "usd", Status: "open"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.HandleEvent(ctx, testkit.MustEvent(t, testkit.Event("evt_1", credits.EventCheckoutCompleted, false, testkit.Session{ID: "cs_1", PaymentStatus: "paid"}))); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, path, "verify"); r.code != 0 || !strings.Contains(r.stdout, "ok") {
		t.Fatalf("verify before corruption: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	if err := store.Exec(ctx, `UPDATE accounts SET balance = balance + 5 WHERE id = 'u1'`); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, path, "verify", "--json")
	if r.code != 1 {
		t.Fatalf("verify after corruption: exit %d, want 1", r.code)
	}
	var report struct {
		OK         bool                `json:"ok"`
		Violations []credits.Violation `json:"violations"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatal(err)
	}
	if report.OK || len(report.Violations) != 1 || report.Violations[0].Invariant != 1 || report.Violations[0].AccountID != "u1" ||
		report.Violations[0].Message != "balance 105 but entries sum to 100" {
		t.Errorf("report = %+v", report)
	}
}

func TestLedgerIsAppendOnly(t *testing.T) {
	t.Parallel()
	store, _ := testkit.OpenSQLite(t)
	ctx := context.Background()
	for _, stmt := range []string{`UPDATE entries SET amount = 1`, `DELETE FROM entries`} {
		if err := store.Exec(ctx, `INSERT INTO accounts (id, email, created_at) VALUES ('a', 'a@example.com', 0)`); err != nil && !strings.Contains(err.Error(), "UNIQUE") {
			t.Fatal(err)
		}
		if err := store.Exec(ctx, `INSERT INTO entries (account_id, amount, kind, reference, balance_after, created_at) VALUES ('a', 1, 'grant', 'x', 1, 0)`); err != nil {
			t.Fatal(err)
		}
		if err := store.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only trigger to refuse", stmt, err)
		}
	}
	var _ *sqlite.DB = store
}

func TestCLISpending(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "spend.db")
	ok := func(args ...string) string {
		t.Helper()
		r := runCLI(t, db, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	ok("migrate")
	ok("accounts", "create", "--id", "u1", "--email", "u1@example.com")
	ok("accounts", "grant", "u1", "--amount", "100", "--reason", "welcome", "--expires-at", "2999-01-01T00:00:00Z", "--priority", "2")
	if out := ok("accounts", "debit", "u1", "--amount", "30", "--reason", "job", "--idempotency-key", "job-1"); !strings.Contains(out, "balance 70") {
		t.Errorf("debit output %q", out)
	}
	if out := ok("accounts", "debit", "u1", "--amount", "30", "--reason", "job", "--idempotency-key", "job-1"); !strings.Contains(out, "replayed") || !strings.Contains(out, "balance 70") {
		t.Errorf("repeated debit output %q, want a replay", out)
	}
	ok("accounts", "adjust", "u1", "--amount", "-5", "--reason", "correction")
	out := ok("accounts", "history", "u1")
	for _, want := range []string{"grant", "debit", "adjustment", "+100", "-30", "-5"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	if r := runCLI(t, db, "accounts", "debit", "u1", "--amount", "1000"); r.code != 1 || !strings.Contains(r.stderr, "available") {
		t.Errorf("debit beyond available: exit %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, db, "holds", "capture", "hold_nope"); r.code != 1 || !strings.Contains(r.stderr, "hold hold_nope not found") {
		t.Errorf("capture of an unknown hold: exit %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, db, "holds", "list", "u1"); r.code != 0 || !strings.HasPrefix(r.stdout, "HOLD") {
		t.Errorf("holds list: %d %q", r.code, r.stdout)
	}
	if r := runCLI(t, db, "verify"); r.code != 0 {
		t.Errorf("verify: %d %s", r.code, r.stdout)
	}
}

func TestCLIHolds(t *testing.T) {
	t.Parallel()
	store, path := testkit.OpenSQLite(t)
	svc := credits.NewService(store)
	ctx := context.Background()
	if _, err := svc.CreateAccount(ctx, "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Grant(ctx, "u1", credits.GrantRequest{Amount: 50}, nil); err != nil {
		t.Fatal(err)
	}
	a, _, err := svc.CreateHold(ctx, "u1", credits.HoldRequest{Amount: 20, ExpiresInSeconds: 3600}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := svc.CreateHold(ctx, "u1", credits.HoldRequest{Amount: 10, ExpiresInSeconds: 3600}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, path, "holds", "capture", a.ID, "--amount", "5"); r.code != 0 || !strings.Contains(r.stdout, "captured 5 of 20") {
		t.Errorf("capture: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, path, "holds", "release", b.ID); r.code != 0 || !strings.Contains(r.stdout, "released") {
		t.Errorf("release: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, path, "holds", "release", a.ID); r.code != 1 || !strings.Contains(r.stderr, "captured") {
		t.Errorf("release after capture: %d %q", r.code, r.stderr)
	}
	account, err := svc.GetAccount(ctx, "u1")
	if err != nil || account.Balance != 45 || account.Available != 45 {
		t.Errorf("account = %+v %v, want 45", account, err)
	}
}

// TestBenchRuns checks that the benchmark program runs and reports; its
// figures are read by people, not asserted. bench itself exits non-zero when
// any request failed or an invariant broke.
func TestBenchRuns(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--duration", "300ms", "--concurrency", "4", "--accounts", "5"}, env(nil), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("bench: exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"\nnoop ", "\ncommit ", "\nwebhook ", "\ndebit-1 ", "\ndebit-100 ", "\nread ", "\nreplay ", "\nmixed ", "\ndebit+hook ",
		"; 1 event(s) delivered", "verify: 0 violation(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
}

// TestStripeReplay: a paid checkout whose webhook never arrived is credited
// once by `credits stripe replay`, however often it runs. stripe-mock lists
// only a fixture event of a type we ignore, so a small proxy in front of it
// puts in its answer what real Stripe would list: the missed
// checkout.session.completed of a paid session. The call to stripe-mock is
// real, and so is the lookup of the session's line items.
func TestStripeReplay(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "replay.db")
	vars := map[string]string{"CREDITS_DATABASE_URL": db, "STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_API_BASE": missedEventProxy(t, stripemock.Start(t))}
	ok := func(args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, env(vars), &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
		}
	}
	ok("migrate")
	ok("packs", "create", "--id", "p", "--name", "P", "--credits", "40", "--unit-amount", "100", "--currency", "usd", "--stripe-price-id", mockPriceID)
	ok("accounts", "create", "--id", "u1", "--email", "u1@example.com")
	balance := func() int64 {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"accounts", "show", "u1", "--json"}, env(vars), &stdout, &stderr); code != 0 {
			t.Fatalf("accounts show: exit %d: %s", code, stderr.String())
		}
		var shown credits.Account
		if err := json.Unmarshal(stdout.Bytes(), &shown); err != nil || shown.ID != "u1" {
			t.Fatalf("accounts show --json: %v: %s", err, stdout.String())
		}
		return shown.Balance
	}
	replay := func() credits.ReplayResult {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"stripe", "replay", "--since", "24h", "--json"}, env(vars), &stdout, &stderr); code != 0 {
			t.Fatalf("replay: exit %d: %s", code, stderr.String())
		}
		var r credits.ReplayResult
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := replay(); r.Listed != 1 || r.New != 1 || r.ByStatus[credits.EventPending] != 1 {
		t.Errorf("first replay = %+v, want the missed event new (pending its line items, then matched)", r)
	}
	if got := balance(); got != 40 {
		t.Errorf("balance after the replay = %d, want 40 (one pack)", got)
	}
	if r := replay(); r.Listed != 1 || r.New != 0 {
		t.Errorf("second replay = %+v, want nothing new", r)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"payments", "show", "cs_missed", "--json"}, env(vars), &stdout, &stderr); code != 0 {
		t.Fatalf("payments show: exit %d: %s", code, stderr.String())
	}
	var shown credits.PaymentView
	if err := json.Unmarshal(stdout.Bytes(), &shown); err != nil {
		t.Fatal(err)
	}
	if p := shown.Payment; p.AccountID != "u1" || p.Credits != 40 || p.Posted != 40 || shown.Owed != 40 || len(shown.Entries) != 1 || shown.Entries[0].Amount != 40 {
		t.Errorf("payments show = %+v", shown)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"payments", "show", "cs_missed"}, env(vars), &stdout, &stderr); code != 0 || !regexp.MustCompile(`(?m)^owed\s+40$`).MatchString(stdout.String()) {
		t.Errorf("payments show as text: exit %d: %s", code, stdout.String())
	}
	if got := balance(); got != 40 {
		t.Errorf("balance after a second replay = %d, want 40", got)
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"stripe", "replay"}, env(map[string]string{"CREDITS_DATABASE_URL": db}), &bytes.Buffer{}, &stderr); code != 1 || !strings.Contains(stderr.String(), "STRIPE_SECRET_KEY") {
		t.Errorf("replay without a key: exit %d %q", code, stderr.String())
	}
	if code := run(context.Background(), []string{"stripe", "replay", "--since", "800h"}, env(vars), &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("replay beyond 30 days: exit %d, want 2", code)
	}
}

// TestEventsRetry: an event unmatched for want of an account is matched once
// the operator creates the account and retries it.
func TestEventsRetry(t *testing.T) {
	t.Parallel()
	store, path := testkit.OpenSQLite(t)
	svc := credits.NewService(store)
	mock := stripemock.Start(t)
	svc.Payments = stripe.NewClient("sk_test_123", mock)
	ctx := context.Background()
	// stripe-mock's session has one line item of this price.
	if _, err := svc.CreatePack(ctx, credits.Pack{ID: "p", Name: "P", Credits: 40, UnitAmount: 100, Currency: "usd", StripePriceID: mockPriceID, Active: true}); err != nil {
		t.Fatal(err)
	}
	payload := testkit.Event("evt_late", credits.EventCheckoutCompleted, false, testkit.Session{ID: "cs_late", PaymentStatus: "paid", CustomerEmail: "late@example.com"})
	if _, err := svc.HandleEvent(ctx, testkit.MustEvent(t, payload)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ProcessPending(ctx); err != nil {
		t.Fatal(err)
	}
	if ev, _ := svc.GetEvent(ctx, "evt_late"); ev.Status != credits.EventUnmatched {
		t.Fatalf("event = %+v, want unmatched", ev)
	}
	if _, err := svc.CreateAccount(ctx, "late", "late@example.com"); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"CREDITS_DATABASE_URL": path, "STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_API_BASE": mock}
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"events", "retry", "evt_late"}, env(vars), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "is now processed") {
		t.Fatalf("retry: exit %d %q %q", code, stdout.String(), stderr.String())
	}
	if a, err := svc.GetAccount(ctx, "late"); err != nil || a.Balance != 40 {
		t.Errorf("account after the retry = %+v (%v), want 40 credits", a, err)
	}
	if code := run(ctx, []string{"events", "retry", "evt_late"}, env(vars), &stdout, &stderr); code != 1 {
		t.Errorf("retrying a processed event: exit %d, want 1", code)
	}
}

// mockPriceID is the price of the line item that stripe-mock's fixture
// returns for every session.
const mockPriceID = "price_1PgafmB7WZ01zgkW02Hf9z6c"

// missedEventProxy forwards every call to stripe-mock and, in the answer to
// GET /v1/events, lists a paid checkout of account u1 in place of
// stripe-mock's fixture event.
func missedEventProxy(t *testing.T, stripeMockURL string) string {
	t.Helper()
	target, err := url.Parse(stripeMockURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodGet || resp.Request.URL.Path != "/v1/events" || resp.StatusCode != http.StatusOK {
			return nil
		}
		var list map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			return err
		}
		resp.Body.Close()
		list["data"] = []any{map[string]any{
			"id": "evt_missed", "object": "event", "type": credits.EventCheckoutCompleted, "livemode": false,
			"created": time.Now().Unix(), "api_version": "2025-01-27.acacia",
			"data": map[string]any{"object": map[string]any{
				"id": "cs_missed", "object": "checkout.session", "mode": "payment", "status": "complete",
				"payment_status": "paid", "client_reference_id": "u1", "amount_total": 100, "currency": "usd",
			}},
		}}
		list["has_more"] = false
		body, err := json.Marshal(list)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCommandsOpenAnExistingDatabase: commands other than serve and migrate
// create nothing and migrate nothing; verify opens the file for reading only.
func TestCommandsOpenAnExistingDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo.db")
	for _, args := range [][]string{{"verify"}, {"accounts", "list"}, {"packs", "list"}} {
		r := runCLI(t, missing, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "no database at "+missing) {
			t.Errorf("%v on a missing file: exit %d %q, want an error naming the path", args, r.code, r.stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("commands on a missing file created %d files", len(entries))
	}

	behind := filepath.Join(dir, "old.db")
	old, err := sqlite.Open(behind)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.MigrateTo(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	old.Close()
	if r := runCLI(t, behind, "accounts", "list"); r.code == 0 || !strings.Contains(r.stderr, "run `credits migrate` first") {
		t.Errorf("a database behind the binary: exit %d %q, want to be told to migrate", r.code, r.stderr)
	}
	if r := runCLI(t, behind, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, behind, "verify"); r.code != 0 || !strings.Contains(r.stdout, "every invariant holds") {
		t.Errorf("verify after migrate: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	// verify reads only: the store it opens refuses writes.
	ro, err := sqlite.OpenExisting(behind, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	err = ro.Update(context.Background(), func(tx credits.Tx) error {
		return tx.CreateAccount(credits.Account{ID: "x", Email: "x@example.com"})
	})
	if err == nil {
		t.Error("a read-only store took a write")
	}
}

// TestCLIEscapesControlCharacters: a string stored before control characters
// were refused cannot drive the terminal when the CLI prints it.
func TestCLIEscapesControlCharacters(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	fmt.Fprint(escaping{&out}, "red \x1b[31mtext\x1b[0m\tcolumn\nline \x00 \u0085 \xff é")
	if want := "red \\x1b[31mtext\\x1b[0m\tcolumn\nline \\x00 \\u0085 \\xff é"; out.String() != want {
		t.Errorf("escaped %q, want %q", out.String(), want)
	}
	store, path := testkit.OpenSQLite(t)
	svc := credits.NewService(store)
	if _, err := svc.CreateAccount(context.Background(), "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := store.Exec(context.Background(), "INSERT INTO entries (account_id, amount, kind, reference, description, balance_after, created_at) VALUES ('u1', 0, 'adjustment', '', ?, 0, 0)",
		"\x1b]0;owned\x07 \x1b[2J"); err != nil {
		t.Fatal(err)
	}
	if err := store.Exec(context.Background(), "UPDATE accounts SET last_entry_id = (SELECT MAX(id) FROM entries) WHERE id = 'u1'"); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, path, "accounts", "history", "u1")
	if r.code != 0 || strings.ContainsAny(r.stdout, "\x1b\x07") || !strings.Contains(r.stdout, `\x1b]0;owned\a`) {
		t.Errorf("history printed %q (exit %d %s), want the escapes escaped", r.stdout, r.code, r.stderr)
	}
}

// TestCLIKeys: keys create prints the secret once, keys list shows the key
// without it, keys revoke stops it.
func TestCLIKeys(t *testing.T) {
	t.Parallel()
	store, path := testkit.OpenSQLite(t)
	if _, err := credits.NewService(store).CreateAccount(context.Background(), "u1", "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"keys", "create", "--scope", "spend", "--account", "u1", "--name", "worker", "--json"},
		env(map[string]string{"CREDITS_DATABASE_URL": path}), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("keys create: %d %s", code, stderr.String())
	}
	var created struct {
		Key    credits.APIKey
		Secret string
	}
	if err := json.Unmarshal(stdout.Bytes(), &created); err != nil || !strings.HasPrefix(created.Secret, "ck_") || created.Key.Scope != "spend" {
		t.Fatalf("created %+v (%v)", created, err)
	}
	if r := runCLI(t, path, "keys", "list"); r.code != 0 || !strings.Contains(r.stdout, created.Key.ID) || strings.Contains(r.stdout, created.Secret) {
		t.Errorf("keys list: %d %q", r.code, r.stdout)
	}
	if _, err := credits.NewService(store).Authenticate(context.Background(), created.Secret); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if r := runCLI(t, path, "keys", "revoke", created.Key.ID); r.code != 0 {
		t.Fatalf("keys revoke: %d %s", r.code, r.stderr)
	}
	if _, err := credits.NewService(store).Authenticate(context.Background(), created.Secret); credits.ErrorCode(err) != credits.EUNAUTHORIZED {
		t.Errorf("a revoked key authenticated: %v", err)
	}
	if r := runCLI(t, path, "keys", "create", "--scope", "owner"); r.code != 1 || !strings.Contains(r.stderr, "scope must be") {
		t.Errorf("a bad scope: %d %q", r.code, r.stderr)
	}
}
