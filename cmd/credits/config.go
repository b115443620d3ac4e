package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Config is the service's configuration: environment variables, each with a
// flag of the same meaning (the flag wins).
type Config struct {
	DatabaseURL          string
	Addr                 string
	Env                  string
	APIKey               string
	PublicURL            string
	StripeSecretKey      string
	StripePublishableKey string
	StripeWebhookSecret  string
	StripeAPIBase        string
	TrialCredits         string
	TrialDays            string
}

const (
	envDevelopment = "development"
	envProduction  = "production"
)

// configVars names each setting's variable, flag, default and help.
var configVars = []struct {
	env, flag, fallback, help string
	field                     func(*Config) *string
	secret                    bool
}{
	{"CREDITS_DATABASE_URL", "database-url", "./credits.db", "a SQLite file path, or a postgres:// URL", func(c *Config) *string { return &c.DatabaseURL }, false},
	{"CREDITS_ADDR", "addr", ":8080", "listen address", func(c *Config) *string { return &c.Addr }, false},
	{"CREDITS_ENV", "env", envDevelopment, "development or production", func(c *Config) *string { return &c.Env }, false},
	{"CREDITS_API_KEY", "api-key", "", "bearer key for /v1 (development: generated when empty)", func(c *Config) *string { return &c.APIKey }, true},
	{"CREDITS_PUBLIC_URL", "public-url", "", "base URL for redirects and links (default: http://localhost:<port>; production: required)", func(c *Config) *string { return &c.PublicURL }, false},
	{"STRIPE_SECRET_KEY", "stripe-secret-key", "", "Stripe API key (sk_test_… or sk_live_…)", func(c *Config) *string { return &c.StripeSecretKey }, true},
	{"STRIPE_PUBLISHABLE_KEY", "stripe-publishable-key", "", "Stripe publishable key", func(c *Config) *string { return &c.StripePublishableKey }, false},
	{"STRIPE_WEBHOOK_SECRET", "stripe-webhook-secret", "", "whsec_… signing secret; several, comma-separated, during rotation", func(c *Config) *string { return &c.StripeWebhookSecret }, true},
	{"STRIPE_API_BASE", "stripe-api-base", "", "Stripe API base URL (stripe-mock in tests)", func(c *Config) *string { return &c.StripeAPIBase }, false},
	{"CREDITS_TRIAL_CREDITS", "trial-credits", "0", "credits granted to each new account", func(c *Config) *string { return &c.TrialCredits }, false},
	{"CREDITS_TRIAL_DAYS", "trial-days", "0", "days until trial credits expire (0: never)", func(c *Config) *string { return &c.TrialDays }, false},
}

// register adds every setting's flag to fs, with the environment's value (or
// the default) as the flag's default. Secrets' values are never shown in help.
func (c *Config) register(fs *flag.FlagSet, getenv func(string) string) {
	for _, v := range configVars {
		value := getenv(v.env)
		if value == "" {
			value = v.fallback
		}
		p := v.field(c)
		*p = value
		help := v.help + " ($" + v.env + ")"
		if v.secret {
			fs.Func(v.flag, help, func(s string) error { *p = s; return nil })
			continue
		}
		fs.StringVar(p, v.flag, value, help)
	}
}

// WebhookSecrets returns the configured webhook secrets.
func (c *Config) WebhookSecrets() []string {
	var out []string
	for s := range strings.SplitSeq(c.StripeWebhookSecret, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Validate checks the configuration for serving. Errors name the setting,
// never its value.
func (c *Config) Validate() error {
	switch c.Env {
	case envDevelopment, envProduction:
	default:
		return fmt.Errorf("CREDITS_ENV must be development or production, not %q", c.Env)
	}
	if u, err := url.Parse(c.PublicURL); c.PublicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return errors.New("CREDITS_PUBLIC_URL must be an http:// or https:// URL")
	}
	if c.StripeSecretKey != "" && !hasAnyPrefix(c.StripeSecretKey, "sk_test_", "sk_live_", "rk_test_", "rk_live_") {
		return errors.New("STRIPE_SECRET_KEY must start with sk_test_, sk_live_, rk_test_ or rk_live_")
	}
	for _, s := range c.WebhookSecrets() {
		if !strings.HasPrefix(s, "whsec_") {
			return errors.New("STRIPE_WEBHOOK_SECRET must hold whsec_… secrets, comma-separated")
		}
	}
	if c.StripeAPIBase != "" {
		if u, err := url.Parse(c.StripeAPIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("STRIPE_API_BASE must be an http:// or https:// URL")
		}
	}
	if _, err := c.Trial(); err != nil {
		return err
	}
	if c.Env != envProduction {
		return nil
	}
	for _, required := range []struct{ name, value string }{
		{"CREDITS_API_KEY", c.APIKey},
		{"STRIPE_SECRET_KEY", c.StripeSecretKey},
		{"STRIPE_WEBHOOK_SECRET", c.StripeWebhookSecret},
		{"CREDITS_PUBLIC_URL", c.PublicURL},
	} {
		if required.value == "" {
			return fmt.Errorf("production needs %s: set it in the environment", required.name)
		}
	}
	if len(c.APIKey) < 24 {
		return errors.New("CREDITS_API_KEY must be at least 24 characters in production")
	}
	return nil
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// TrialSettings are the trial credits of new accounts.
type TrialSettings struct{ Credits, Days int64 }

// Trial parses the trial settings.
func (c *Config) Trial() (TrialSettings, error) {
	credits, err := strconv.ParseInt(c.TrialCredits, 10, 64)
	if err != nil || credits < 0 || credits > 1_000_000_000_000 {
		return TrialSettings{}, errors.New("CREDITS_TRIAL_CREDITS must be a whole number from 0 to 10^12")
	}
	days, err := strconv.ParseInt(c.TrialDays, 10, 64)
	if err != nil || days < 0 || days > 3650 {
		return TrialSettings{}, errors.New("CREDITS_TRIAL_DAYS must be a whole number from 0 (never expire) to 3650")
	}
	return TrialSettings{Credits: credits, Days: days}, nil
}
