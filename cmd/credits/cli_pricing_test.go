package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/sqlite"
)

func TestCLIPricing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "pricing.db")
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
	ok("accounts", "grant", "u1", "--amount", "100", "--reason", "welcome")
	ok("features", "create", "--id", "chat", "--name", "Chat", "--unit", "tokens")
	if out := ok("features"); !strings.Contains(out, "chat") || !strings.Contains(out, "tokens") {
		t.Errorf("features = %q", out)
	}
	v1 := filepath.Join(dir, "v1.json")
	v2 := filepath.Join(dir, "v2.json")
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(v1, `[{"feature":"chat","quantity":"input","credits":"2.5","per":1000,"match":{"model":"gpt-4o"}},
		{"feature":"chat","quantity":"output","credits":"10","per":1000,"match":{"model":"gpt-4o"}}]`)
	write(v2, `{"rates":[{"feature":"chat","quantity":"input","credits":"5","per":1000}],"rounding":"nearest","minimum":1}`)
	if out := ok("rates", "create", "default", v1, "--name", "Default"); !strings.Contains(out, "version 1: 2 rates, rounding up") {
		t.Errorf("rates create = %q", out)
	}
	later := time.Now().UTC().AddDate(0, 6, 0).Truncate(24 * time.Hour).Format(time.RFC3339) // at most 366 days ahead
	if out := ok("rates", "import", "default", v2, "--effective-at", later); !strings.Contains(out, "version 2: 1 rates, rounding nearest, minimum 1") {
		t.Errorf("rates import = %q", out)
	}
	if out := ok("rates", "show", "default"); !strings.Contains(out, "version 1:") || !strings.Contains(out, "model=gpt-4o") || !strings.Contains(out, later[:10]) {
		t.Errorf("rates show = %q", out)
	}
	if r := runCLI(t, db, "rates", "import", "default", filepath.Join(dir, "none.json")); r.code != 1 {
		t.Errorf("import of a missing file: exit %d", r.code)
	}
	recordUsage(t, db)
	if out := ok("accounts", "usage", "u1"); !regexp.MustCompile(`(?m)^chat\s+-\s+1\s+9\s+input=1234,output=567$`).MatchString(out) {
		t.Errorf("accounts usage = %q", out)
	}
	if r := runCLI(t, db, "verify"); r.code != 0 {
		t.Errorf("verify: %d %s", r.code, r.stdout)
	}
}

// recordUsage records a usage as the API would: 1234 input and 567 output
// tokens of gpt-4o (9 credits).
func recordUsage(t *testing.T, path string) {
	t.Helper()
	store, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := credits.NewService(store)
	req := credits.UsageRequest{Feature: "chat", Quantities: map[string]int64{"input": 1234, "output": 567}, Properties: map[string]string{"model": "gpt-4o"}}
	if r, _, err := svc.RecordUsage(context.Background(), "u1", req, &credits.Idempotency{Scope: "t", Key: "k", RequestHash: "h"}); err != nil || r.Credits != 9 {
		t.Fatalf("usage: %+v, %v", r, err)
	}
}
