package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var developmentKeyLine = regexp.MustCompile(`Development API key \([^)]*\): (dev_[0-9a-f]{32})\n`)

// serveOnce starts `credits serve` in development on the database file, and
// returns the key it printed and the URL of its "listening" log line.
func serveOnce(t *testing.T, database string) (m *Main, key, listening string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	m = NewMain(&stdout, &stderr)
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0", "--database-url", database}, env(nil)); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	keyMatch, urlMatch := developmentKeyLine.FindStringSubmatch(stdout.String()), listeningLine.FindStringSubmatch(stderr.String())
	if keyMatch == nil || urlMatch == nil {
		t.Fatalf("no development key or listening line:\n%s\n%s", stdout.String(), stderr.String())
	}
	return m, keyMatch[1], "http://" + urlMatch[1]
}

func get(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestDevelopmentKeyKeptAcrossRestarts: the development key is made once for
// the database, printed at each start, works after a restart, and is kept
// sealed (no copy of the database file holds it in plain text); the URL of
// the "listening" line answers the home page, which shows it.
func TestDevelopmentKeyKeptAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	database := filepath.Join(dir, "credits.db")
	first, key, listening := serveOnce(t, database)
	status, page := get(t, listening, "")
	if status != 200 || !strings.Contains(page, `<code id="api-key">`+key+`</code>`) || !strings.Contains(page, `id="demo-link"`) {
		t.Errorf("GET %s (the listening line's URL) = %d without the key %s or the demo's link:\n%s", listening, status, key, page)
	}
	if status, body := get(t, listening+"/v1/packs", key); status != 200 {
		t.Errorf("the printed key: %d %s", status, body)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(database + "*")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(key)) {
			t.Errorf("%s holds the development key in plain text", filepath.Base(f))
		}
	}

	_, again, listening := serveOnce(t, database)
	if again != key {
		t.Errorf("after a restart the key is %s, want %s", again, key)
	}
	if status, body := get(t, listening+"/v1/packs", key); status != 200 {
		t.Errorf("the first start's key after a restart: %d %s", status, body)
	}
	_, other, _ := serveOnce(t, filepath.Join(dir, "other.db"))
	if other == key {
		t.Error("another database has the same development key")
	}
}

// TestHomeInProduction: a production server's / says it is up, and nothing
// about its key, its configuration or its pages.
func TestHomeInProduction(t *testing.T) {
	t.Parallel()
	m, base := startMain(t, map[string]string{"CREDITS_ENV": "production", "CREDITS_DATABASE_URL": filepath.Join(t.TempDir(), "credits.db"),
		"CREDITS_SIGNING_SECRET": "signing_Kq8vZ2mT5xR9wL3nB7cF1hJ6pD4sG0yE", "CREDITS_API_KEY": testAPIKey, "STRIPE_SECRET_KEY": "sk_test_SECRETVALUE",
		"STRIPE_API_BASE": "https://127.0.0.1:1", "STRIPE_WEBHOOK_SECRET": strongWebhookSecret, "CREDITS_PUBLIC_URL": "https://credits.example.com"})
	t.Cleanup(func() { m.Close() })
	if status, body := get(t, base, ""); status != 200 || body != "ok\n" {
		t.Errorf("GET / in production = %d %q, want 200 \"ok\\n\"", status, body)
	}
}
