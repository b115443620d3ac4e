package main

import (
	"bytes"
	"strings"
	"testing"
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
