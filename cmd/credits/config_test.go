package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// strongWebhookSecret is as long and mixed as Stripe's own.
const strongWebhookSecret = "whsec_SECRETVALUEq8Zr2MxT4vLk9PwB7nYc3HdF"

// production is a production configuration that starts, with changes.
func production(changes map[string]string) map[string]string {
	vars := map[string]string{"CREDITS_ENV": "production", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "CREDITS_SIGNING_SECRET": "signing_Kq8vZ2mT5xR9wL3nB7cF1hJ6pD4sG0yE",
		"STRIPE_WEBHOOK_SECRET": strongWebhookSecret, "CREDITS_PUBLIC_URL": "https://credits.example.com"}
	for k, v := range changes {
		vars[k] = v
	}
	return vars
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	secretValues := []string{"sk_live_SECRETVALUE", strongWebhookSecret, "apikey_SECRETVALUE_0123456789", "SECRETVALUE", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abababababababababababababababababababab"}
	tests := []struct {
		name    string
		vars    map[string]string
		wantErr string
	}{
		{"development needs nothing", map[string]string{}, ""},
		{"trusted proxies are not every IPv4 address", map[string]string{"CREDITS_TRUSTED_PROXIES": "10.0.0.0/8, 0.0.0.0/0"}, "CREDITS_TRUSTED_PROXIES must name the proxies' networks"},
		{"trusted proxies are not every IPv6 address", map[string]string{"CREDITS_TRUSTED_PROXIES": "::/0"}, "CREDITS_TRUSTED_PROXIES must name the proxies' networks"},
		{"production refuses a weak previous signing secret", production(map[string]string{"CREDITS_SIGNING_SECRET_PREVIOUS": strings.Repeat("ab", 20)}), "CREDITS_SIGNING_SECRET_PREVIOUS is too weak"},
		{"production needs an API key", map[string]string{"CREDITS_ENV": "production", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": strongWebhookSecret, "CREDITS_PUBLIC_URL": "https://credits.example.com"}, "production needs CREDITS_API_KEY"},
		{"production needs a webhook secret", map[string]string{"CREDITS_ENV": "production", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE"}, "production needs STRIPE_WEBHOOK_SECRET"},
		{"production needs a Stripe key", map[string]string{"CREDITS_ENV": "production", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_WEBHOOK_SECRET": strongWebhookSecret}, "production needs STRIPE_SECRET_KEY"},
		{"production needs a public URL", map[string]string{"CREDITS_ENV": "production", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": strongWebhookSecret}, "production needs CREDITS_PUBLIC_URL"},
		{"production with everything", map[string]string{"CREDITS_ENV": "production", "CREDITS_SIGNING_SECRET": "signing_Kq8vZ2mT5xR9wL3nB7cF1hJ6pD4sG0yE", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": strongWebhookSecret, "CREDITS_PUBLIC_URL": "https://credits.example.com"}, ""},
		{"short API key in production", map[string]string{"CREDITS_ENV": "production", "CREDITS_SIGNING_SECRET": "signing_Kq8vZ2mT5xR9wL3nB7cF1hJ6pD4sG0yE", "CREDITS_API_KEY": "short", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": strongWebhookSecret, "CREDITS_PUBLIC_URL": "https://credits.example.com"}, "at least 24"},
		{"production needs a signing secret", production(map[string]string{"CREDITS_SIGNING_SECRET": ""}), "production needs CREDITS_SIGNING_SECRET"},
		{"bad env", map[string]string{"CREDITS_ENV": "staging"}, "CREDITS_ENV must be"},
		{"bad Stripe key", map[string]string{"STRIPE_SECRET_KEY": "pk_test_SECRETVALUE"}, "STRIPE_SECRET_KEY must start with"},
		{"bad webhook secret", map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_SECRETVALUE,SECRETVALUE"}, "STRIPE_WEBHOOK_SECRET must hold"},
		{"bad public URL", map[string]string{"CREDITS_PUBLIC_URL": "localhost"}, "CREDITS_PUBLIC_URL"},
		{"a negative expiring notice", map[string]string{"CREDITS_EXPIRING_NOTICE_DAYS": "-1"}, "CREDITS_EXPIRING_NOTICE_DAYS must be a whole number"},
		{"a negative rate limit", map[string]string{"CREDITS_RATE_SIGNINS": "-1"}, "CREDITS_RATE_SIGNINS must be a whole number"},
		{"a negative API rate limit", map[string]string{"CREDITS_RATE_API": "-5"}, "CREDITS_RATE_API must be a whole number"},
		{"trusted proxies", map[string]string{"CREDITS_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7 ,fd00::/8"}, ""},
		{"a trusted proxy that is no network", map[string]string{"CREDITS_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}, "CREDITS_TRUSTED_PROXIES must be comma-separated CIDRs"},
		{"the Forwarded header", map[string]string{"CREDITS_FORWARDED_HEADER": "forwarded"}, ""},
		{"an unknown forwarding header", map[string]string{"CREDITS_FORWARDED_HEADER": "X-Real-IP"}, "CREDITS_FORWARDED_HEADER must be X-Forwarded-For or Forwarded"},
		{"a live key in development", map[string]string{"STRIPE_SECRET_KEY": "sk_live_SECRETVALUE"}, "live keys need CREDITS_ENV=production"},
		{"a restricted live key in development", map[string]string{"STRIPE_SECRET_KEY": "rk_live_SECRETVALUE"}, "live keys need CREDITS_ENV=production"},
		{"a short webhook secret in production", map[string]string{"CREDITS_ENV": "production", "CREDITS_SIGNING_SECRET": "signing_Kq8vZ2mT5xR9wL3nB7cF1hJ6pD4sG0yE", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": "whsec_", "CREDITS_PUBLIC_URL": "https://credits.example.com"}, "at least 16 characters after whsec_"},
		{"an http public URL in production", map[string]string{"CREDITS_ENV": "production", "CREDITS_SIGNING_SECRET": "signing_Kq8vZ2mT5xR9wL3nB7cF1hJ6pD4sG0yE", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": strongWebhookSecret, "CREDITS_PUBLIC_URL": "http://credits.example.com"}, "CREDITS_PUBLIC_URL must be an https:// URL in production"},
		{"an API key of 24 spaces", production(map[string]string{"CREDITS_API_KEY": strings.Repeat(" ", 24)}), "CREDITS_API_KEY holds whitespace"},
		{"an API key with a space inside", production(map[string]string{"CREDITS_API_KEY": "apikey_SECRETVALUE 0123456789xyz"}), "CREDITS_API_KEY holds whitespace"},
		{"an API key of one letter", production(map[string]string{"CREDITS_API_KEY": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}), "CREDITS_API_KEY is too weak"},
		{"an API key of two letters", production(map[string]string{"CREDITS_API_KEY": "abababababababababababababababababababab"}), "CREDITS_API_KEY is too weak"},
		{"an API key of 32 digits", production(map[string]string{"CREDITS_API_KEY": "01234567890123456789012345678901"}), "CREDITS_API_KEY is too weak"},
		{"an API key of 64 hex digits", production(map[string]string{"CREDITS_API_KEY": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}), ""},
		{"a weak signing secret", production(map[string]string{"CREDITS_SIGNING_SECRET": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}), "CREDITS_SIGNING_SECRET is too weak"},
		{"no webhook secret, only commas", production(map[string]string{"STRIPE_WEBHOOK_SECRET": " , "}), "STRIPE_WEBHOOK_SECRET holds no secret"},
		{"a weak webhook secret", production(map[string]string{"STRIPE_WEBHOOK_SECRET": strongWebhookSecret + ",whsec_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}), "STRIPE_WEBHOOK_SECRET's secret 2 of 2 is too weak"},
		{"a webhook secret with a space", production(map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_SECRETVALUEq8Zr2Mx T4vLk9PwB7nYc3HdF"}), "STRIPE_WEBHOOK_SECRET's secret 1 of 1 holds whitespace"},
		{"a Stripe key with a space", production(map[string]string{"STRIPE_SECRET_KEY": "sk_live_SECRETVALUE "}), "STRIPE_SECRET_KEY holds whitespace"},
		{"an http Stripe API base in production", production(map[string]string{"STRIPE_API_BASE": "http://api.stripe.com"}), "STRIPE_API_BASE must be an https:// URL in production"},
		{"an https Stripe API base in production", production(map[string]string{"STRIPE_API_BASE": "https://api.stripe.com"}), ""},
		{"an HTTPS public URL in production, in capitals", map[string]string{"CREDITS_ENV": "production", "CREDITS_SIGNING_SECRET": "signing_Kq8vZ2mT5xR9wL3nB7cF1hJ6pD4sG0yE", "CREDITS_API_KEY": "apikey_SECRETVALUE_0123456789", "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE", "STRIPE_WEBHOOK_SECRET": strongWebhookSecret, "CREDITS_PUBLIC_URL": "HTTPS://credits.example.com"}, ""},
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

// TestProductionNamesEverySettingAtOnce: one start names every missing or
// weak setting, and no value.
func TestProductionNamesEverySettingAtOnce(t *testing.T) {
	for name, tt := range map[string]struct {
		vars map[string]string
		want []string
	}{
		"all missing": {map[string]string{"CREDITS_ENV": "production"},
			[]string{"CREDITS_API_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "CREDITS_PUBLIC_URL", "CREDITS_SIGNING_SECRET", "5 settings"}},
		"all weak": {map[string]string{"CREDITS_ENV": "production", "CREDITS_API_KEY": strings.Repeat(" ", 24), "STRIPE_SECRET_KEY": "sk_live_SECRETVALUE",
			"STRIPE_WEBHOOK_SECRET": " , ", "CREDITS_PUBLIC_URL": "http://credits.example.com", "STRIPE_API_BASE": "http://api.stripe.com",
			"CREDITS_SIGNING_SECRET": "abababababababababababababababababababab"},
			[]string{"CREDITS_API_KEY holds whitespace", "STRIPE_WEBHOOK_SECRET holds no secret", "CREDITS_PUBLIC_URL must be an https://", "STRIPE_API_BASE must be an https://", "CREDITS_SIGNING_SECRET is too weak", "5 settings"}},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := NewMain(&bytes.Buffer{}, &stderr).ParseFlags(nil, env(tt.vars))
			if err == nil {
				t.Fatal("production started")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not name %q: %v", want, err)
				}
			}
			for _, secret := range []string{"SECRETVALUE", "ababab"} {
				if strings.Contains(err.Error()+stderr.String(), secret) {
					t.Errorf("a secret value leaked: %v", err)
				}
			}
		})
	}
}

func TestTrustedProxiesParsed(t *testing.T) {
	m := NewMain(&bytes.Buffer{}, &bytes.Buffer{})
	if err := m.ParseFlags(nil, env(map[string]string{"CREDITS_TRUSTED_PROXIES": "10.1.2.3/8,192.0.2.7", "CREDITS_FORWARDED_HEADER": "Forwarded"})); err != nil {
		t.Fatal(err)
	}
	got := m.Config.proxies
	if got.Header != "Forwarded" || len(got.Trusted) != 2 || got.Trusted[0].String() != "10.0.0.0/8" || got.Trusted[1].String() != "192.0.2.7/32" {
		t.Errorf("proxies = %+v, want 10.0.0.0/8 and 192.0.2.7/32 writing Forwarded", got)
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
	vars := env(map[string]string{"STRIPE_SECRET_KEY": "sk_test_SECRETVALUE", "CREDITS_API_KEY": "SECRETVALUE",
		"CREDITS_DATABASE_URL": "postgres://credits:SECRETVALUE@db.internal/credits?password=SECRETVALUE"})
	run(context.Background(), []string{"serve", "-h"}, vars, &stdout, &stderr)
	var main bytes.Buffer
	run(context.Background(), []string{"-h"}, vars, &main, &main)
	if strings.Contains(stderr.String()+stdout.String()+main.String(), "SECRETVALUE") {
		t.Errorf("help printed a secret: %s\n%s", stderr.String(), main.String())
	}
	if !strings.Contains(main.String(), "postgres://credits@db.internal/credits") {
		t.Errorf("credits -h does not show the database's location: %s", main.String())
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
		vars := production(map[string]string{"CREDITS_ENV": mode})
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
