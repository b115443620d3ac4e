package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/sqlite"
)

// TestSessionsCommand: credits sessions list shows the live operator
// sessions (by the hash of their secret) and revoke ends one.
func TestSessionsCommand(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cli.db")
	if r := runCLI(t, path, "migrate"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	svc := credits.NewService(db)
	ctx := context.Background()
	var secrets []string
	for range 2 {
		_, secret, err := svc.CreateWebSession(ctx, credits.NewWebSession{Kind: credits.SessionOperator, KeyID: credits.BootstrapKeyID, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secret)
	}
	db.Close()

	r := runCLI(t, path, "sessions", "list", "--json")
	var listed []credits.WebSession
	if err := json.Unmarshal([]byte(r.stdout), &listed); r.code != 0 || err != nil || len(listed) != 2 {
		t.Fatalf("sessions list: exit %d, %d sessions (%v) %s", r.code, len(listed), err, r.stderr)
	}
	for _, secret := range secrets {
		if strings.Contains(r.stdout, secret) {
			t.Error("sessions list printed a session's secret")
		}
	}
	target := credits.SessionHash(secrets[0])
	if r := runCLI(t, path, "sessions", "revoke", target); r.code != 0 || !strings.Contains(r.stdout, "revoked session") {
		t.Fatalf("sessions revoke: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, path, "sessions", "revoke", "nothing"); r.code == 0 {
		t.Error("revoking an unknown session succeeded")
	}
	if out := runCLI(t, path, "sessions", "list").stdout; strings.Contains(out, target) || !strings.Contains(out, credits.SessionHash(secrets[1])) {
		t.Errorf("after the revoke: %q", out)
	}
}

// TestProductionSigningSecretIsNotStored: production signs with
// CREDITS_SIGNING_SECRET and writes no generated secret to the database;
// without it, it does not start.
func TestProductionSigningSecretIsNotStored(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cli.db")
	if r := runCLI(t, path, "migrate"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := credits.NewService(db)
	ctx := context.Background()
	cfg := Config{Env: envProduction, SigningSecret: "signing_SECRETVALUE_0123456789abcdef", SigningSecretPrevious: "previous_SECRETVALUE_0123456789abcd"}
	current, previous, err := cfg.signingKeys(ctx, svc)
	if err != nil || string(current) != cfg.SigningSecret || len(previous) != 1 || string(previous[0]) != cfg.SigningSecretPrevious {
		t.Fatalf("signing keys: %q %q (%v)", current, previous, err)
	}
	err = svc.Store.View(ctx, func(tx credits.Tx) error { _, err := tx.Setting("signing_secret"); return err })
	if err == nil {
		t.Error("production stored a signing secret")
	}
	cfg.SigningSecret = ""
	if _, _, err := cfg.signingKeys(ctx, svc); err == nil || !strings.Contains(err.Error(), "CREDITS_SIGNING_SECRET") {
		t.Errorf("production without CREDITS_SIGNING_SECRET: %v", err)
	}
}
