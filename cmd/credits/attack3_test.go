package main

import (
	"bytes"
	"database/sql"
	"strings"
	"testing"

	"github.com/credits/credits/internal/testkit"
)

// TestAttack3WeakPreviousSigningSecretRefused: CREDITS_SIGNING_SECRET_PREVIOUS
// verifies every token and CSRF form, names bootstrap operator sessions, and
// opens sealed endpoint secrets, exactly as CREDITS_SIGNING_SECRET does; but
// production checks only the current one: a previous secret of one letter,
// of spaces, or of 1 character starts. Each must be named like the current
// one's weakness.
func TestAttack3WeakPreviousSigningSecretRefused(t *testing.T) {
	for name, previous := range map[string]string{
		"one character":  "x",
		"spaces":         strings.Repeat(" ", 40),
		"one letter run": strings.Repeat("a", 40),
	} {
		t.Run(name, func(t *testing.T) {
			err := NewMain(&bytes.Buffer{}, &bytes.Buffer{}).ParseFlags(nil, env(production(map[string]string{"CREDITS_SIGNING_SECRET_PREVIOUS": previous})))
			if err == nil || !strings.Contains(err.Error(), "CREDITS_SIGNING_SECRET_PREVIOUS") {
				t.Errorf("production with CREDITS_SIGNING_SECRET_PREVIOUS of %s: err = %v, want it named as weak", name, err)
			}
		})
	}
}

// TestAttack3ProductionCommandStoresAPlainSecret: `credits webhooks add` (and
// `rotate`) run in production without CREDITS_SIGNING_SECRET, as from an ops
// shell that has the database URL but not the server's secrets, writes the
// new endpoint's secret in plain text (useSecretBox leaves the service
// without a box); only a server's next start seals it. Until every replica
// restarts, a copy of the database holds a secret that signs events the
// application accepts. Production should refuse such a command (or the
// command should need the secret), as it refuses to serve.
func TestAttack3ProductionCommandStoresAPlainSecret(t *testing.T) {
	_, dbPath := testkit.OpenSQLite(t)
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"webhooks", "add", "--url", "https://93.184.215.14/hook"},
		env(map[string]string{"CREDITS_DATABASE_URL": dbPath, "CREDITS_ENV": "production"}), &stdout, &stderr)
	if code != 0 {
		return // refused: the hole is closed
	}
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored string
	if err := db.QueryRow(`SELECT secret FROM webhook_endpoints`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "sealed1:") {
		t.Errorf("a production command stored the endpoint's secret in plain text (%d characters, whsec_...)", len(stored))
	}
}
