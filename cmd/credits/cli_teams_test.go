package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credits/credits"
)

func TestCLIMembersAndTransfer(t *testing.T) {
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
	for _, id := range []string{"a", "b"} {
		ok(runCLI(t, db, "accounts", "create", "--id", id, "--email", id+"@example.com"))
	}
	ok(runCLI(t, db, "accounts", "grant", "a", "--amount", "100"))
	var m credits.MemberView
	out := ok(runCLI(t, db, "members", "set", "ann", "--account", "a", "--name", "Ann", "--cap", "10", "--period", "day", "--json")).stdout
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.Cap == nil || m.Cap.Credits != 10 || m.Name != "Ann" {
		t.Fatalf("members set: %s (%v)", out, err)
	}
	ok(runCLI(t, db, "members", "set", "ann", "--account", "a", "--cap", "none"))
	if out := ok(runCLI(t, db, "members", "list", "--account", "a")).stdout; !strings.Contains(out, "ann") || !strings.Contains(out, "Ann") || !strings.Contains(out, "none") {
		t.Errorf("members list: %q, want ann, named Ann, without a cap", out)
	}
	ok(runCLI(t, db, "members", "remove", "ann", "--account", "a"))
	if r := runCLI(t, db, "members", "remove", "ann", "--account", "a"); r.code != 1 {
		t.Errorf("removing twice: exit %d, want 1", r.code)
	}
	if r := runCLI(t, db, "members", "set", "bob", "--account", "a", "--cap", "ten"); r.code != 2 {
		t.Errorf("a bad cap: exit %d, want 2", r.code)
	}
	var tr credits.Transfer
	out = ok(runCLI(t, db, "transfer", "--from", "a", "--to", "b", "--credits", "30", "--include-granted", "--json")).stdout
	if err := json.Unmarshal([]byte(out), &tr); err != nil || tr.Credits != 30 || len(tr.Parts) != 1 {
		t.Fatalf("transfer: %s (%v)", out, err)
	}
	if r := runCLI(t, db, "transfer", "--from", "a", "--to", "b", "--credits", "30"); r.code != 1 || !strings.Contains(r.stderr, "purchased credits") {
		t.Errorf("granted credits without --include-granted: exit %d %s", r.code, r.stderr)
	}
	ok(runCLI(t, db, "verify"))
}
