package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWebhookEndpointsOnPrivateNetworks: in production an endpoint on a
// loopback or private address is refused when it is added, and again when
// a delivery connects (after DNS); CREDITS_WEBHOOK_ALLOW_PRIVATE=true lets
// private networks through, and development allows them as it is.
func TestWebhookEndpointsOnPrivateNetworks(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(receiver.Close)
	db := filepath.Join(t.TempDir(), "credits.db")
	if r := runCLI(t, db, "migrate"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	runIn := func(vars map[string]string, args ...string) cliRun {
		t.Helper()
		vars["CREDITS_DATABASE_URL"] = db
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, env(vars), &stdout, &stderr)
		return cliRun{code, stdout.String(), stderr.String()}
	}
	// A production command that writes an endpoint's secret needs the
	// servers' signing secret, to store the secret sealed (attack3 #6).
	production := func() map[string]string {
		return map[string]string{"CREDITS_ENV": "production", "CREDITS_SIGNING_SECRET": "signing_Kq8vZ2mT5xR9wL3nB7cF1hJ6pD4sG0yE"}
	}
	localhost := strings.Replace(receiver.URL, "127.0.0.1", "localhost", 1)

	for _, u := range []string{receiver.URL + "/hook", localhost + "/hook", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/hook"} {
		r := runIn(production(), "webhooks", "add", "--url", u)
		if r.code == 0 || !strings.Contains(r.stderr, "url refused") || !strings.Contains(r.stderr, "CREDITS_WEBHOOK_ALLOW_PRIVATE") {
			t.Errorf("production added %s: exit %d, %s", u, r.code, r.stderr)
		}
	}
	if r := runIn(production(), "webhooks", "list", "--json"); r.code != 0 || strings.Contains(r.stdout, "we_") {
		t.Fatalf("refused endpoints were stored: %s %s", r.stdout, r.stderr)
	}

	allow := production()
	allow["CREDITS_WEBHOOK_ALLOW_PRIVATE"] = "true"
	r := runIn(allow, "webhooks", "add", "--url", localhost+"/hook", "--json")
	if r.code != 0 {
		t.Fatalf("with CREDITS_WEBHOOK_ALLOW_PRIVATE=true: exit %d, %s", r.code, r.stderr)
	}
	var added struct {
		Endpoint struct{ ID string } `json:"endpoint"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &added); err != nil || added.Endpoint.ID == "" {
		t.Fatalf("webhooks add --json = %s (%v)", r.stdout, err)
	}
	if r := runIn(allow, "webhooks", "test", added.Endpoint.ID); r.code != 0 || !strings.Contains(r.stdout, "status 200") || hits.Load() != 1 {
		t.Fatalf("ping allowed to a private network: exit %d, %s %s (hits %d)", r.code, r.stdout, r.stderr, hits.Load())
	}
	// The same endpoint, delivered to by a process that refuses private
	// networks: the connection is refused after DNS, nothing is sent.
	if r := runIn(production(), "webhooks", "test", added.Endpoint.ID); !strings.Contains(r.stdout+r.stderr, "refused to connect") || hits.Load() != 1 {
		t.Fatalf("ping refused at delivery: exit %d, %s %s (hits %d)", r.code, r.stdout, r.stderr, hits.Load())
	}
	if r := runIn(map[string]string{}, "webhooks", "add", "--url", receiver.URL+"/dev"); r.code != 0 {
		t.Fatalf("development refused a local endpoint: %s", r.stderr)
	}
	if r := runIn(map[string]string{"CREDITS_WEBHOOK_ALLOW_PRIVATE": "maybe"}, "webhooks", "list"); r.code == 0 || !strings.Contains(r.stderr, "CREDITS_WEBHOOK_ALLOW_PRIVATE must be true or false") {
		t.Fatalf("a bad setting: exit %d, %s", r.code, r.stderr)
	}
}
