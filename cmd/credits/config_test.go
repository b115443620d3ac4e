package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	secretValues := []string{"sk_live_SECRETVALUE", "whsec_SECRETVALUE0123456789", "apikey_SECRETVALUE_0123456789", "SECRETVALUE"}
	tests := []struct {
		name    string
		vars    map[string]string
		wantErr string
	}{
		{"development needs nothing", map[string]string{}, ""},
		{"production needs an API key", map[string]string{"CREDITS_ENV": "production", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": "whsec_SECRETVALUE0123456789", "CREDITS_PUBLIC_URL": "https://credits.example.com"}, "production needs CREDITS_API_KEY"},
		{"production needs a webhook secret", map[string]string{"CREDITS_ENV": "production", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE"}, "production needs STRIPE_WEBHOOK_SECRET"},
		{"production needs a Stripe key", map[string]string{"CREDITS_ENV": "production", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_WEBHOOK_SECRET": "whsec_SECRETVALUE0123456789"}, "production needs STRIPE_SECRET_KEY"},
		{"production needs a public URL", map[string]string{"CREDITS_ENV": "production", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": "whsec_SECRETVALUE0123456789"}, "production needs CREDITS_PUBLIC_URL"},
		{"production with everything", map[string]string{"CREDITS_ENV": "production", "CREDITS_SIGNING_SECRET": "signing_SECRETVALUE_0123456789abcdef", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": "whsec_SECRETVALUE0123456789", "CREDITS_PUBLIC_URL": "https://credits.example.com"}, ""},
		{"production needs a signing secret", map[string]string{"CREDITS_ENV": "production", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": "whsec_SECRETVALUE0123456789", "CREDITS_PUBLIC_URL": "https://credits.example.com"}, "production needs CREDITS_SIGNING_SECRET"},
		{"short API key in production", map[string]string{"CREDITS_ENV": "production", "CREDITS_SIGNING_SECRET": "signing_SECRETVALUE_0123456789abcdef", "CREDITS_API_KEY": "short", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": "whsec_SECRETVALUE0123456789", "CREDITS_PUBLIC_URL": "https://credits.example.com"}, "at least 24"},
		{"bad env", map[string]string{"CREDITS_ENV": "staging"}, "CREDITS_ENV must be"},
		{"bad Stripe key", map[string]string{"STRIPE_SECRET_KEY": "pk_test_SECRETVALUE"}, "STRIPE_SECRET_KEY must start with"},
		{"bad webhook secret", map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_SECRETVALUE,SECRETVALUE"}, "STRIPE_WEBHOOK_SECRET must hold"},
		{"bad public URL", map[string]string{"CREDITS_PUBLIC_URL": "localhost"}, "CREDITS_PUBLIC_URL"},
		{"a negative expiring notice", map[string]string{"CREDITS_EXPIRING_NOTICE_DAYS": "-1"}, "CREDITS_EXPIRING_NOTICE_DAYS must be a whole number"},
		{"a negative rate limit", map[string]string{"CREDITS_RATE_SIGNINS": "-1"}, "CREDITS_RATE_SIGNINS must be a whole number"},
		{"a live key in development", map[string]string{"STRIPE_SECRET_KEY": "sk_live_SECRETVALUE"}, "live keys need CREDITS_ENV=production"},
		{"a restricted live key in development", map[string]string{"STRIPE_SECRET_KEY": "rk_live_SECRETVALUE"}, "live keys need CREDITS_ENV=production"},
		{"a short webhook secret in production", map[string]string{"CREDITS_ENV": "production", "CREDITS_SIGNING_SECRET": "signing_SECRETVALUE_0123456789abcdef", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": "whsec_", "CREDITS_PUBLIC_URL": "https://credits.example.com"}, "at least 16 characters after whsec_"},
		{"an http public URL in production", map[string]string{"CREDITS_ENV": "production", "CREDITS_SIGNING_SECRET": "signing_SECRETVALUE_0123456789abcdef", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": "whsec_SECRETVALUE0123456789", "CREDITS_PUBLIC_URL": "http://credits.example.com"}, "CREDITS_PUBLIC_URL must be an https:// URL in production"},
		{"an HTTPS public URL in production, in capitals", map[string]string{"CREDITS_ENV": "production", "CREDITS_SIGNING_SECRET": "signing_SECRETVALUE_0123456789abcdef", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": "whsec_SECRETVALUE0123456789", "CREDITS_PUBLIC_URL": "HTTPS://credits.example.com"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			m := NewMain(&bytes.Buffer{}, &stderr)
			err := m.ParseFlags(nil, env(tt.vars))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			for _, secret := range secretValues {
				if strings.Contains(err.Error(), secret) || strings.Contains(stderr.String(), secret) {
					t.Errorf("a secret value leaked: %v", err)
				}
			}
		})
	}
}

func TestServeRefusesToStartInProductionWithoutSecrets(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve"}, env(map[string]string{"CREDITS_ENV": "production"}), &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "production needs CREDITS_API_KEY") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestHelpHidesSecretValues(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"serve", "-h"}, env(map[string]string{"STRIPE_SECRET_KEY": "sk_test_SECRETVALUE", "CREDITS_API_KEY": "SECRETVALUE"}), &stdout, &stderr)
	if strings.Contains(stderr.String()+stdout.String(), "SECRETVALUE") {
		t.Errorf("help printed a secret: %s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "STRIPE_SECRET_KEY") {
		t.Errorf("help does not name the variables: %s", stderr.String())
	}
}

// TestCommandsShareServesConfiguration: every command reads and checks the
// same settings as serve, with the same defaults, before it opens anything.
func TestCommandsShareServesConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		vars    map[string]string
		args    []string
		wantErr string
	}{
		{"trial days not a number", map[string]string{"CREDITS_TRIAL_DAYS": "ten"}, []string{"accounts", "list"}, "CREDITS_TRIAL_DAYS must be a whole number"},
		{"trial credits too many", map[string]string{"CREDITS_TRIAL_CREDITS": "1000000000001"}, []string{"packs", "list"}, "CREDITS_TRIAL_CREDITS must be a whole number from 0 to 1000000000000"},
		{"bad Stripe key", map[string]string{"STRIPE_SECRET_KEY": "pk_test_SECRETVALUE"}, []string{"events", "list"}, "STRIPE_SECRET_KEY must start with"},
		{"bad Stripe base", map[string]string{"STRIPE_API_BASE": "localhost:12111"}, []string{"stripe", "replay"}, "STRIPE_API_BASE must be"},
		{"empty database flag", nil, []string{"verify", "--database-url", ""}, "CREDITS_DATABASE_URL must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{"CREDITS_DATABASE_URL": dir + "/never.db"}
			for k, v := range tt.vars {
				vars[k] = v
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, env(vars), &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr.String(), tt.wantErr)
			}
			if strings.Contains(stderr.String(), "SECRETVALUE") {
				t.Errorf("a secret value leaked: %s", stderr.String())
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused command created %d files", len(entries))
	}
}

func TestDefaultAddress(t *testing.T) {
	t.Parallel()
	for mode, want := range map[string]string{"development": "127.0.0.1:8080", "production": ":8080"} {
		m := NewMain(&bytes.Buffer{}, &bytes.Buffer{})
		vars := map[string]string{"CREDITS_ENV": mode, "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE",
			"STRIPE_WEBHOOK_SECRET": "whsec_SECRETVALUE0123456789", "CREDITS_PUBLIC_URL": "https://credits.example.com"}
		if mode == "development" {
			vars = nil
		}
		if err := m.ParseFlags(nil, env(vars)); err != nil {
			t.Fatal(err)
		}
		if m.Config.Addr != want {
			t.Errorf("%s listens on %q by default, want %q", mode, m.Config.Addr, want)
		}
	}
}
