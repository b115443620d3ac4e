package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/credits/credits"
	"github.com/credits/credits/outbound"
	"github.com/credits/credits/server"
)

// Config is the service's configuration: environment variables, each with a
// flag of the same meaning (the flag wins).
type Config struct {
	DatabaseURL           string
	Addr                  string
	Env                   string
	APIKey                string
	PublicURL             string
	StripeSecretKey       string
	StripePublishableKey  string
	StripeWebhookSecret   string
	StripeAPIBase         string
	TrialCredits          string
	TrialDays             string
	CheckoutExpiresIn     string
	RatePages             string
	RateCheckouts         string
	RateSignIns           string
	RateAPI               string
	TrustedProxies        string
	ForwardedHeader       string
	IgnoredRetentionDays  string
	SigningSecret         string
	SigningSecretPrevious string
	ReconcileEvery        string
	LowBalanceThreshold   string
	WebhookAllowPrivate   string
	ExpiringNoticeDays    string
	RechargeLease         string
	RechargeCheckAfter    string

	// scope is which commands' settings were registered.
	scope int
	// trial is TrialCredits and TrialDays, and checkoutExpiresIn is
	// CheckoutExpiresIn, parsed by Validate.
	trial             TrialSettings
	checkoutExpiresIn time.Duration
	rateLimits        server.RateLimits
	proxies           server.Proxies
	ignoredRetention  time.Duration
	lowBalance        int64
	allowPrivate      bool
	reconcileEvery    time.Duration
	expiringNotice    time.Duration
	rechargeLease     time.Duration
	rechargeCheck     time.Duration
}

const (
	envDevelopment = "development"
	envProduction  = "production"
)

// Defaults and limits of the settings.
const (
	defaultDatabaseURL     = "./credits.db"
	developmentAddr        = "127.0.0.1:8080" // reachable from this machine only
	productionAddr         = ":8080"
	maxTrialCredits        = credits.MaxPackCredits
	maxTrialDays           = credits.MaxExpiryDays
	minAPIKeyLength        = 24 // in production
	minSigningSecretLength = 32
	// minWebhookSecretLength is what Stripe's secrets have at least after whsec_.
	minWebhookSecretLength = 16
	// Stripe keeps a Checkout Session open for 30 minutes to 24 hours.
	minCheckoutExpiry = 30 * time.Minute
	minRechargeLease  = 5 * time.Second
	maxRechargeLease  = 30 * time.Minute
	minRechargeCheck  = time.Minute
	maxRechargeCheck  = 7 * 24 * time.Hour
	maxCheckoutExpiry = 24 * time.Hour
)

// Which commands read a setting.
const (
	forServe    = 1 << iota // serve
	forCommands             // every other command that opens the database
	forAll      = forServe | forCommands
)

// configVars names each setting's variable, flag, default, help, and the
// commands that read it.
var configVars = []struct {
	env, flag, fallback, help string
	field                     func(*Config) *string
	secret                    bool
	scope                     int
}{
	{"CREDITS_DATABASE_URL", "database-url", defaultDatabaseURL, "a SQLite file path, or a postgres:// URL", func(c *Config) *string { return &c.DatabaseURL }, false, forAll},
	{"CREDITS_ADDR", "addr", "", "listen address (default: 127.0.0.1:8080 in development, :8080 in production)", func(c *Config) *string { return &c.Addr }, false, forServe},
	{"CREDITS_ENV", "env", envDevelopment, "development or production", func(c *Config) *string { return &c.Env }, false, forAll},
	{"CREDITS_API_KEY", "api-key", "", "bearer key for /v1 (development: generated when empty)", func(c *Config) *string { return &c.APIKey }, true, forServe},
	{"CREDITS_PUBLIC_URL", "public-url", "", "base URL for redirects and links (default: http://localhost:<port>; production: required)", func(c *Config) *string { return &c.PublicURL }, false, forServe},
	{"STRIPE_SECRET_KEY", "stripe-secret-key", "", "Stripe API key (sk_test_… or sk_live_…)", func(c *Config) *string { return &c.StripeSecretKey }, true, forAll},
	{"STRIPE_PUBLISHABLE_KEY", "stripe-publishable-key", "", "Stripe publishable key", func(c *Config) *string { return &c.StripePublishableKey }, false, forServe},
	{"STRIPE_WEBHOOK_SECRET", "stripe-webhook-secret", "", "whsec_… signing secret; several, comma-separated, during rotation", func(c *Config) *string { return &c.StripeWebhookSecret }, true, forServe},
	{"STRIPE_API_BASE", "stripe-api-base", "", "Stripe API base URL (stripe-mock in tests)", func(c *Config) *string { return &c.StripeAPIBase }, false, forAll},
	{"CREDITS_TRIAL_CREDITS", "trial-credits", "0", "credits granted to each new account", func(c *Config) *string { return &c.TrialCredits }, false, forAll},
	{"CREDITS_TRIAL_DAYS", "trial-days", "0", "days until trial credits expire (0: never)", func(c *Config) *string { return &c.TrialDays }, false, forAll},
	{"CREDITS_RATE_PAGES", "rate-pages", strconv.Itoa(server.DefaultRateLimits.PagesPerMinute), "pages a client address may load a minute (0: no limit)", func(c *Config) *string { return &c.RatePages }, false, forServe},
	{"CREDITS_RATE_CHECKOUTS", "rate-checkouts", strconv.Itoa(server.DefaultRateLimits.CheckoutsPerMinute), "checkouts an account may start from its dashboard a minute (0: no limit)", func(c *Config) *string { return &c.RateCheckouts }, false, forServe},
	{"CREDITS_RATE_SIGNINS", "rate-signins", strconv.Itoa(server.DefaultRateLimits.SignInsPerMinute), "operator sign-ins a client address may try a minute, right or wrong; one key may sign in 4 times that from all addresses (0: no limit)", func(c *Config) *string { return &c.RateSignIns }, false, forServe},
	{"CREDITS_RATE_API", "rate-api", strconv.Itoa(server.DefaultRateLimits.APIPerMinute), "/v1 requests one API key may make a minute (0: no limit)", func(c *Config) *string { return &c.RateAPI }, false, forServe},
	{"CREDITS_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated CIDRs of the proxies in front (10.0.0.0/8,::1/128); only requests from them have their client address read from CREDITS_FORWARDED_HEADER (default: none, the TCP peer is the client)", func(c *Config) *string { return &c.TrustedProxies }, false, forServe},
	{"CREDITS_FORWARDED_HEADER", "forwarded-header", server.HeaderXForwardedFor, "the header the trusted proxies write: X-Forwarded-For or Forwarded (RFC 7239); the other is ignored", func(c *Config) *string { return &c.ForwardedHeader }, false, forServe},
	{"CREDITS_RECONCILE_EVERY", "reconcile-every", "24h", "how often the worker compares the ledger with Stripe and applies what events missed (0: never; off in the offline demo)", func(c *Config) *string { return &c.ReconcileEvery }, false, forServe},
	{"CREDITS_LOW_BALANCE_THRESHOLD", "low-balance-threshold", "0", "available credits below which balance.low is sent, for accounts without their own (0: off)", func(c *Config) *string { return &c.LowBalanceThreshold }, false, forAll},
	{"CREDITS_SIGNING_SECRET", "signing-secret", "", "signs dashboard links and cookies, and seals webhook endpoints' secrets (production: required; development default: generated once and kept in the database)", func(c *Config) *string { return &c.SigningSecret }, true, forAll},
	{"CREDITS_SIGNING_SECRET_PREVIOUS", "signing-secret-previous", "", "the signing secret before a rotation: still verifies links and cookies, and opens sealed secrets until they are sealed again", func(c *Config) *string { return &c.SigningSecretPrevious }, true, forAll},
	{"CREDITS_IGNORED_EVENT_RETENTION_DAYS", "ignored-event-retention-days", "30", "days to keep the payload of an ignored Stripe event (0: forever)", func(c *Config) *string { return &c.IgnoredRetentionDays }, false, forServe},
	{"CREDITS_EXPIRING_NOTICE_DAYS", "expiring-notice-days", "7", "days before a lot expires that credits.expiring is sent for it (0: never)", func(c *Config) *string { return &c.ExpiringNoticeDays }, false, forServe},
	{"CREDITS_WEBHOOK_ALLOW_PRIVATE", "webhook-allow-private", "false", "in production, let webhook endpoints be on loopback, private, link-local or multicast addresses (true or false)", func(c *Config) *string { return &c.WebhookAllowPrivate }, false, forAll},
	{"CREDITS_CHECKOUT_EXPIRES_IN", "checkout-expires-in", "", "how long a Checkout Session stays open, 30m to 24h (default: Stripe's, 24h)", func(c *Config) *string { return &c.CheckoutExpiresIn }, false, forServe},
	{"CREDITS_RECHARGE_LEASE", "recharge-lease", "5m", "how long a replica's claim on a recharge lasts before another takes it over (every Stripe call under it ends within three quarters of it), 5s to 30m", func(c *Config) *string { return &c.RechargeLease }, false, forServe},
	{"CREDITS_RECHARGE_CHECK_AFTER", "recharge-check-after", "1h", "how long a recharge Stripe is processing waits for its event before it is read back from Stripe, 1m to 168h", func(c *Config) *string { return &c.RechargeCheckAfter }, false, forServe},
}

// register adds the flags of the settings in scope to fs, with the
// environment's value (or the default) as the flag's default; settings out of
// scope take their defaults. Secrets' values are never shown in help.
func (c *Config) register(fs *flag.FlagSet, getenv func(string) string, scope int) {
	c.scope = scope
	for _, v := range configVars {
		if v.scope&scope == 0 {
			*v.field(c) = v.fallback
			continue
		}
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
		if v.env == "CREDITS_DATABASE_URL" {
			fs.Lookup(v.flag).DefValue = databaseLocation(value) // help shows no password
		}
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

// Validate checks the configuration and parses its numbers, once, for every
// command. Errors name the setting, never its value; every setting that is
// wrong is named at once, so that one start shows the operator all there is
// to fix.
func (c *Config) Validate() error {
	var problems []string
	for _, check := range []func() error{
		c.checkDatabase, c.checkEnv, c.checkPublicURL, c.validateStripe, c.parseTrial, c.parseDurations,
		c.parseRateLimits, c.parseNumbers, c.parseReconcileEvery, c.checkSigningSecret,
	} {
		if err := check(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if c.Addr == "" {
		c.Addr = developmentAddr // development stays on this machine unless told otherwise
		if c.Env == envProduction {
			c.Addr = productionAddr
		}
	}
	production := c.Env == envProduction && c.scope&forServe != 0
	if production {
		problems = append(problems, c.productionProblems()...)
	}
	switch {
	case len(problems) == 0:
		return nil
	case production:
		return fmt.Errorf("production refuses to start (%d settings to fix): %s", len(problems), strings.Join(problems, "; "))
	case len(problems) == 1:
		return errors.New(problems[0])
	}
	return fmt.Errorf("%d settings to fix: %s", len(problems), strings.Join(problems, "; "))
}

func (c *Config) checkDatabase() error {
	if c.DatabaseURL == "" {
		return errors.New("CREDITS_DATABASE_URL must not be empty")
	}
	return checkDatabaseURL(c.DatabaseURL)
}

func (c *Config) checkEnv() error {
	switch c.Env {
	case envDevelopment, envProduction:
		return nil
	}
	return fmt.Errorf("CREDITS_ENV must be development or production, not %q", c.Env)
}

func (c *Config) checkPublicURL() error {
	if u, err := url.Parse(c.PublicURL); c.PublicURL != "" && (err != nil || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) || u.Host == "") {
		return errors.New("CREDITS_PUBLIC_URL must be an http:// or https:// URL")
	}
	return nil
}

func (c *Config) parseTrial() (err error) {
	c.trial, err = parseTrial(c.TrialCredits, c.TrialDays)
	return err
}

func (c *Config) checkSigningSecret() error {
	if c.SigningSecret != "" && len(c.SigningSecret) < minSigningSecretLength {
		return fmt.Errorf("CREDITS_SIGNING_SECRET must be at least %d characters", minSigningSecretLength)
	}
	return nil
}

// parseNumbers reads the settings that are whole numbers or booleans.
func (c *Config) parseNumbers() error {
	var errs []error
	if n, err := strconv.ParseInt(c.LowBalanceThreshold, 10, 64); err != nil || n < 0 || n > credits.MaxLowBalanceThreshold {
		errs = append(errs, fmt.Errorf("CREDITS_LOW_BALANCE_THRESHOLD must be a whole number of credits from 0 (off) to %d", int64(credits.MaxLowBalanceThreshold)))
	} else {
		c.lowBalance = n
	}
	if days, err := strconv.Atoi(c.ExpiringNoticeDays); err != nil || days < 0 || days > credits.MaxExpiryDays {
		errs = append(errs, fmt.Errorf("CREDITS_EXPIRING_NOTICE_DAYS must be a whole number of days from 0 (never) to %d", credits.MaxExpiryDays))
	} else {
		c.expiringNotice = time.Duration(days) * 24 * time.Hour
	}
	if b, err := strconv.ParseBool(c.WebhookAllowPrivate); err != nil {
		errs = append(errs, errors.New("CREDITS_WEBHOOK_ALLOW_PRIVATE must be true or false"))
	} else {
		c.allowPrivate = b
	}
	if days, err := strconv.Atoi(c.IgnoredRetentionDays); err != nil || days < 0 || days > credits.MaxExpiryDays {
		errs = append(errs, fmt.Errorf("CREDITS_IGNORED_EVENT_RETENTION_DAYS must be a whole number of days from 0 (forever) to %d", credits.MaxExpiryDays))
	} else {
		c.ignoredRetention = time.Duration(days) * 24 * time.Hour
	}
	return joinProblems(errs)
}

// joinProblems joins errors into one, "; "-separated, as Validate lists them.
func joinProblems(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	texts := make([]string, len(errs))
	for i, err := range errs {
		texts[i] = err.Error()
	}
	return errors.New(strings.Join(texts, "; "))
}

// parseDurations reads the settings that are durations.
func (c *Config) parseDurations() error {
	if c.CheckoutExpiresIn != "" {
		d, err := time.ParseDuration(c.CheckoutExpiresIn)
		if err != nil || d < minCheckoutExpiry || d > maxCheckoutExpiry {
			return errors.New("CREDITS_CHECKOUT_EXPIRES_IN must be a duration from 30m to 24h")
		}
		c.checkoutExpiresIn = d
	}
	d, err := time.ParseDuration(c.RechargeLease)
	if err != nil || d < minRechargeLease || d > maxRechargeLease {
		return errors.New("CREDITS_RECHARGE_LEASE must be a duration from 5s to 30m")
	}
	c.rechargeLease = d
	d, err = time.ParseDuration(c.RechargeCheckAfter)
	if err != nil || d < minRechargeCheck || d > maxRechargeCheck {
		return errors.New("CREDITS_RECHARGE_CHECK_AFTER must be a duration from 1m to 168h")
	}
	c.rechargeCheck = d
	return nil
}

// webhooksPublicOnly reports whether webhook endpoints must be on the public
// internet: in production, unless CREDITS_WEBHOOK_ALLOW_PRIVATE is true.
func (c *Config) webhooksPublicOnly() bool {
	return c.Env == envProduction && !c.allowPrivate
}

// webhooks sets how svc delivers to the application's endpoints.
func (c *Config) webhooks(svc *credits.Service) {
	publicOnly := c.webhooksPublicOnly()
	svc.Webhooks = outbound.New(publicOnly)
	svc.CheckWebhookURL = nil
	if publicOnly {
		svc.CheckWebhookURL = outbound.CheckURL
	}
}

// maxRatePerMinute bounds a configured rate limit.
const maxRatePerMinute = 1_000_000

func (c *Config) parseRateLimits() error {
	for _, setting := range []struct {
		name, value string
		into        *int
	}{
		{"CREDITS_RATE_PAGES", c.RatePages, &c.rateLimits.PagesPerMinute},
		{"CREDITS_RATE_CHECKOUTS", c.RateCheckouts, &c.rateLimits.CheckoutsPerMinute},
		{"CREDITS_RATE_SIGNINS", c.RateSignIns, &c.rateLimits.SignInsPerMinute},
		{"CREDITS_RATE_API", c.RateAPI, &c.rateLimits.APIPerMinute},
	} {
		if setting.value == "" {
			continue // a command that does not serve
		}
		n, err := strconv.Atoi(setting.value)
		if err != nil || n < 0 || n > maxRatePerMinute {
			return fmt.Errorf("%s must be a whole number of requests a minute from 0 (no limit) to %d", setting.name, maxRatePerMinute)
		}
		*setting.into = n
		if n == 0 {
			*setting.into = -1 // off
		}
	}
	return c.parseProxies() // who a client is, for the limits
}

// parseProxies reads CREDITS_TRUSTED_PROXIES (CIDRs, or single addresses)
// and CREDITS_FORWARDED_HEADER.
func (c *Config) parseProxies() error {
	c.proxies = server.Proxies{Header: server.HeaderXForwardedFor}
	switch {
	case c.ForwardedHeader == "" || strings.EqualFold(c.ForwardedHeader, server.HeaderXForwardedFor):
	case strings.EqualFold(c.ForwardedHeader, server.HeaderForwarded):
		c.proxies.Header = server.HeaderForwarded
	default:
		return errors.New("CREDITS_FORWARDED_HEADER must be X-Forwarded-For or Forwarded")
	}
	for entry := range strings.SplitSeq(c.TrustedProxies, ",") {
		if entry = strings.TrimSpace(entry); entry == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(entry)
		if addr, addrErr := netip.ParseAddr(entry); err != nil && addrErr == nil {
			prefix, err = addr.Prefix(addr.BitLen())
		}
		if err != nil {
			return fmt.Errorf("CREDITS_TRUSTED_PROXIES must be comma-separated CIDRs (10.0.0.0/8) or addresses; %q is neither", entry)
		}
		if prefix.Bits() == 0 {
			// Every peer a proxy: anyone writes the client address they like.
			return fmt.Errorf("CREDITS_TRUSTED_PROXIES must name the proxies' networks, not every address (%q): any client could then choose its address in the forwarding header", entry)
		}
		c.proxies.Trusted = append(c.proxies.Trusted, prefix.Masked())
	}
	return nil
}

func (c *Config) validateStripe() error {
	if c.StripeSecretKey != "" && !hasAnyPrefix(c.StripeSecretKey, "sk_test_", "sk_live_", "rk_test_", "rk_live_") {
		return errors.New("STRIPE_SECRET_KEY must start with sk_test_, sk_live_, rk_test_ or rk_live_")
	}
	if hasAnyPrefix(c.StripeSecretKey, "sk_live_", "rk_live_") && c.Env != envProduction {
		return errors.New("STRIPE_SECRET_KEY is a live key: live keys need CREDITS_ENV=production")
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
	return nil
}

// productionProblems lists what production refuses, one sentence a setting.
func (c *Config) productionProblems() []string {
	var problems []string
	for _, required := range []struct{ name, value string }{
		{"CREDITS_API_KEY", c.APIKey},
		{"STRIPE_SECRET_KEY", c.StripeSecretKey},
		{"STRIPE_WEBHOOK_SECRET", c.StripeWebhookSecret},
		{"CREDITS_PUBLIC_URL", c.PublicURL},
		{"CREDITS_SIGNING_SECRET", c.SigningSecret},
	} {
		if required.value == "" {
			problems = append(problems, fmt.Sprintf("production needs %s: set it in the environment", required.name))
		}
	}
	if c.APIKey != "" && len(c.APIKey) < minAPIKeyLength {
		problems = append(problems, fmt.Sprintf("CREDITS_API_KEY must be at least %d characters in production", minAPIKeyLength))
	} else if why := weakSecret(c.APIKey); c.APIKey != "" && why != "" {
		problems = append(problems, "CREDITS_API_KEY "+why)
	}
	if why := weakSecret(c.SigningSecret); c.SigningSecret != "" && why != "" {
		problems = append(problems, "CREDITS_SIGNING_SECRET "+why)
	}
	// The previous secret verifies tokens and forms, names bootstrap
	// sessions and opens sealed secrets as the current one does: it is held
	// to the same rules.
	if p := c.SigningSecretPrevious; p != "" && len(p) < minSigningSecretLength {
		problems = append(problems, fmt.Sprintf("CREDITS_SIGNING_SECRET_PREVIOUS must be at least %d characters", minSigningSecretLength))
	} else if why := weakSecret(p); p != "" && why != "" {
		problems = append(problems, "CREDITS_SIGNING_SECRET_PREVIOUS "+why)
	}
	if hasWhitespace(c.StripeSecretKey) {
		problems = append(problems, "STRIPE_SECRET_KEY holds whitespace")
	}
	problems = append(problems, c.webhookSecretProblems()...)
	if u, err := url.Parse(c.PublicURL); c.PublicURL != "" && (err != nil || !strings.EqualFold(u.Scheme, "https")) {
		problems = append(problems, "CREDITS_PUBLIC_URL must be an https:// URL in production")
	}
	if u, err := url.Parse(c.StripeAPIBase); c.StripeAPIBase != "" && (err != nil || !strings.EqualFold(u.Scheme, "https")) {
		problems = append(problems, "STRIPE_API_BASE must be an https:// URL in production (Stripe's keys travel in it)")
	}
	return problems
}

// webhookSecretProblems checks STRIPE_WEBHOOK_SECRET in production: at least
// one secret, each long, strong and without whitespace.
func (c *Config) webhookSecretProblems() []string {
	secrets := c.WebhookSecrets()
	if c.StripeWebhookSecret != "" && len(secrets) == 0 {
		return []string{"STRIPE_WEBHOOK_SECRET holds no secret, only commas and spaces (every Stripe event would be refused)"}
	}
	var problems []string
	for i, s := range secrets {
		n := fmt.Sprintf("STRIPE_WEBHOOK_SECRET's secret %d of %d", i+1, len(secrets))
		switch body := strings.TrimPrefix(s, "whsec_"); {
		case len(body) < minWebhookSecretLength:
			problems = append(problems, fmt.Sprintf("%s must have at least %d characters after whsec_ in production", n, minWebhookSecretLength))
		case weakSecret(body) != "":
			problems = append(problems, n+" "+weakSecret(body))
		}
	}
	return problems
}

// minSecretBits is the least estimated entropy production accepts in a
// secret: 128 bits, what a guesser cannot go through.
const minSecretBits = 128

// weakSecret says why production refuses secret (whitespace, or fewer than
// minSecretBits by secretBits), or "" when it does not.
func weakSecret(secret string) string {
	if hasWhitespace(secret) {
		return "holds whitespace"
	}
	if bits := secretBits(secret); bits < minSecretBits {
		return fmt.Sprintf("is too weak: about %d bits of entropy by its length and alphabet, production needs %d (use e.g. openssl rand -hex 32)", int(bits), minSecretBits)
	}
	return ""
}

// secretBits estimates a secret's entropy as its length times log2 of its
// alphabet. The alphabet is the sum of the sizes of the character classes it
// uses (26 lower-case letters, 26 upper-case, 10 digits, 33 other printable
// ASCII characters, 128 for anything else), but never more than the number
// of distinct characters it holds: a run of one letter counts 0 bits, a
// short alphabet counts little, 64 random hex digits count 256.
func secretBits(secret string) float64 {
	classes := map[int]int{}
	distinct := map[rune]bool{}
	length := 0
	for _, r := range secret {
		length++
		distinct[r] = true
		switch {
		case r >= 'a' && r <= 'z':
			classes[0] = 26
		case r >= 'A' && r <= 'Z':
			classes[1] = 26
		case r >= '0' && r <= '9':
			classes[2] = 10
		case r > ' ' && r < 0x7f:
			classes[3] = 33
		default:
			classes[4] = 128
		}
	}
	alphabet := 0
	for _, size := range classes {
		alphabet += size
	}
	alphabet = min(alphabet, len(distinct))
	if alphabet < 2 {
		return 0
	}
	return float64(length) * math.Log2(float64(alphabet))
}

func hasWhitespace(s string) bool {
	return strings.IndexFunc(s, unicode.IsSpace) >= 0
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

// Trial is the trial settings, as Validate parsed them.
func (c *Config) Trial() TrialSettings { return c.trial }

func parseTrial(creditsSetting, daysSetting string) (TrialSettings, error) {
	amount, err := strconv.ParseInt(creditsSetting, 10, 64)
	if err != nil || amount < 0 || amount > maxTrialCredits {
		return TrialSettings{}, fmt.Errorf("CREDITS_TRIAL_CREDITS must be a whole number from 0 to %d", int64(maxTrialCredits))
	}
	days, err := strconv.ParseInt(daysSetting, 10, 64)
	if err != nil || days < 0 || days > maxTrialDays {
		return TrialSettings{}, fmt.Errorf("CREDITS_TRIAL_DAYS must be a whole number from 0 (never expire) to %d", maxTrialDays)
	}
	return TrialSettings{Credits: amount, Days: days}, nil
}
