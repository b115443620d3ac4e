package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// debitStream debits one account through the API until stopped, and
// records the description of every debit answered 201, in order.
type debitStream struct {
	base, account string
	mu            sync.Mutex
	answered      []string
	failures      []string
	stop          chan struct{}
	done          sync.WaitGroup
}

func startDebits(base, account string) *debitStream {
	d := &debitStream{base: base, account: account, stop: make(chan struct{})}
	d.done.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-d.stop:
				return
			default:
			}
			description := fmt.Sprintf("debit-%d", i)
			body, _ := json.Marshal(map[string]any{"amount": 1, "description": description})
			req, _ := http.NewRequest("POST", d.base+"/v1/accounts/"+d.account+"/debits", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testAPIKey)
			req.Header.Set("Idempotency-Key", description)
			resp, err := http.DefaultClient.Do(req)
			d.mu.Lock()
			switch {
			case err != nil:
				d.failures = append(d.failures, err.Error())
			case resp.StatusCode != http.StatusCreated:
				d.failures = append(d.failures, fmt.Sprintf("%s: status %d", description, resp.StatusCode))
			default:
				d.answered = append(d.answered, description)
			}
			d.mu.Unlock()
			if resp != nil {
				resp.Body.Close()
			}
		}
	})
	return d
}

// answeredSoFar is a copy of the debits answered until now.
func (d *debitStream) answeredSoFar() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.answered...)
}

func (d *debitStream) end() (answered, failures []string) {
	close(d.stop)
	d.done.Wait()
	return d.answered, d.failures
}

// TestBackupUnderLoad: a backup taken while debits stream in restores to a
// database that verifies clean and holds every debit answered before the
// backup began; restore refuses the database the service has open.
func TestBackupUnderLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	m, base := startMain(t, map[string]string{"CREDITS_DATABASE_URL": live, "CREDITS_API_KEY": testAPIKey})
	defer m.Close()
	c := client{t, base}
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "load-1", "email": "load@example.com"})
	c.must(201, "POST", "/v1/accounts/load-1/grants", map[string]any{"amount": 1_000_000, "reason": "load"})

	debits := startDebits(base, "load-1")
	waitFor(t, 10*time.Second, "debits before the backup", func() bool { return len(debits.answeredSoFar()) >= 50 })
	before := debits.answeredSoFar()
	backupFile := filepath.Join(dir, "backup.db")
	backup := runCLI(t, live, "backup", "--to", backupFile)
	// The writes went on meanwhile: some debit is answered after the backup ended.
	n := len(debits.answeredSoFar())
	waitFor(t, 10*time.Second, "debits after the backup", func() bool { return len(debits.answeredSoFar()) > n })
	answered, failures := debits.end()
	if backup.code != 0 {
		t.Fatalf("backup: exit %d: %s", backup.code, backup.stderr)
	}
	if len(failures) > 0 {
		t.Errorf("debits failed during the backup: %v", failures[:min(len(failures), 5)])
	}

	inUse := runCLI(t, live, "restore", "--from", backupFile)
	if inUse.code == 0 || !strings.Contains(inUse.stderr, "in use") {
		t.Errorf("restore over the served database: exit %d, %q; want it refused as in use", inUse.code, inUse.stderr)
	}
	restored := filepath.Join(dir, "restored.db")
	if r := runCLI(t, restored, "restore", "--from", backupFile); r.code != 0 {
		t.Fatalf("restore: exit %d: %s", r.code, r.stderr)
	}
	if r := runCLI(t, restored, "verify"); r.code != 0 || !strings.Contains(r.stdout, "ok: every invariant holds") {
		t.Errorf("verify of the restored database: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	got := debitDescriptions(t, restored)
	for _, description := range before {
		if !got[description] {
			t.Errorf("the debit %s, answered before the backup began, is not in it", description)
		}
	}
	t.Logf("%d debits answered before the backup, %d in it, %d in all", len(before), len(got), len(answered))
	if len(got) > len(answered) {
		t.Errorf("the backup holds %d debits, but only %d were answered", len(got), len(answered))
	}
}

// debitDescriptions reads the descriptions of the debits in a database.
func debitDescriptions(t *testing.T, path string) map[string]bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), "SELECT description FROM entries WHERE kind = 'debit'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var description string
		if err := rows.Scan(&description); err != nil {
			t.Fatal(err)
		}
		out[description] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBackupAndRestoreRefuse: what backup and restore will not do, each
// with a clear message and a nonzero exit, changing nothing.
func TestBackupAndRestoreRefuse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "credits.db")
	if r := runCLI(t, db, "migrate"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte("not a database at all, but long enough to look like a header......"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	otherDB, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otherDB.Exec("CREATE TABLE notes(body TEXT)"); err != nil {
		t.Fatal(err)
	}
	otherDB.Close()
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	orphanWAL := filepath.Join(dir, "orphan.db")
	if err := os.WriteFile(orphanWAL+"-wal", []byte("frames of a deleted database"), 0o600); err != nil {
		t.Fatal(err)
	}
	pg := "postgres://credits:pw@127.0.0.1:5432/credits"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"backup without --to", []string{"backup"}, 2, "backup needs --to FILE"},
		{"backup over a file", []string{"backup", "--to", existing}, 1, "exists already"},
		{"backup of PostgreSQL", []string{"backup", "--to", filepath.Join(dir, "pg.db"), "--database-url", pg}, 1, "pg_dump"},
		{"restore of PostgreSQL", []string{"restore", "--from", db, "--database-url", pg}, 1, "pg_restore"},
		{"restore without --from", []string{"restore"}, 2, "restore needs --from FILE"},
		{"restore of junk", []string{"restore", "--from", junk, "--database-url", filepath.Join(dir, "new1.db")}, 1, "is not a SQLite database"},
		{"restore of another database", []string{"restore", "--from", other, "--database-url", filepath.Join(dir, "new2.db")}, 1, "is not a credits database"},
		{"restore beside the WAL of a deleted database", []string{"restore", "--from", db, "--database-url", orphanWAL}, 1, "-wal is there without its database"},
		{"restore of a missing file", []string{"restore", "--from", filepath.Join(dir, "absent.db"), "--database-url", filepath.Join(dir, "new3.db")}, 1, "absent.db"},
	}
	for _, tt := range tests {
		r := runCLI(t, db, tt.args...)
		if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, %q; want exit %d saying %q", tt.name, r.code, r.stderr, tt.wantCode, tt.want)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("backup changed a file it refused to overwrite: %q", b)
	}
	for _, name := range []string{"new1.db", "new2.db", "new3.db", "pg.db", "orphan.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("a refused command made %s (%v)", name, err)
		}
	}
}

// TestRestoreReplacesADatabaseNotInUse: restore over a database nobody has
// open puts the backup in its place and keeps the one it replaced aside.
func TestRestoreReplacesADatabaseNotInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "credits.db")
	ok := func(args ...string) cliRun {
		t.Helper()
		r := runCLI(t, db, args...)
		if r.code != 0 {
			t.Fatalf("credits %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		return r
	}
	ok("migrate")
	ok("accounts", "create", "--id", "before", "--email", "before@example.com")
	backupFile := filepath.Join(dir, "backup.db")
	ok("backup", "--to", backupFile)
	ok("accounts", "create", "--id", "after", "--email", "after@example.com")
	restored := ok("restore", "--from", backupFile, "--json")
	var view struct {
		Replaced string `json:"replaced"`
	}
	if err := json.Unmarshal([]byte(restored.stdout), &view); err != nil || view.Replaced == "" {
		t.Fatalf("restore said %q (%v), want the replaced file named", restored.stdout, err)
	}
	if r := runCLI(t, db, "accounts", "show", "after"); r.code == 0 {
		t.Errorf("the account made after the backup is still there after the restore")
	}
	ok("accounts", "show", "before")
	ok("verify")
	if r := runCLI(t, view.Replaced, "accounts", "show", "after"); r.code != 0 {
		t.Errorf("the replaced database %s lacks what it held: %s", view.Replaced, r.stderr)
	}
}
