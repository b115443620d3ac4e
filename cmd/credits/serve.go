package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/demo"
	"github.com/credits/credits/internal/clock"
	"github.com/credits/credits/postgres"
	"github.com/credits/credits/server"
	"github.com/credits/credits/sqlite"
	"github.com/credits/credits/stripe"
)

// workerInterval is how often the worker looks for retries that came due.
const workerInterval = time.Second

// sweepInterval is how often expired holds and lots are settled; reads and
// writes settle an account on their own, so this only bounds staleness of
// accounts nobody touches.
const sweepInterval = 10 * time.Second

// shutdownTimeout bounds a graceful shutdown.
const shutdownTimeout = 20 * time.Second

// Main is the serve command's wiring, kept in a type so that tests run the
// real thing on port :0.
type Main struct {
	Config Config
	Stdout io.Writer
	Stderr io.Writer
	Logger *slog.Logger
	// Now is real time for the service and the Stripe signature check; nil
	// means time.Now.
	Now func() time.Time
	// Clock is the development test clock (Now moved forward by
	// POST /v1/test_clock/advance), which the service reads; nil in
	// production.
	Clock *clock.Clock

	Store   credits.Store
	Service *credits.Service
	Server  *server.Server
	// Demo is the offline demo's checkout, in development without a Stripe
	// key; nil otherwise.
	Demo *demo.Checkout
	// demoSecret signs the demo checkout's events.
	demoSecret string

	httpServer *http.Server
	listener   net.Listener
	stopWorker context.CancelFunc
	done       sync.WaitGroup
}

// NewMain returns a Main that writes to the given streams.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{Stdout: stdout, Stderr: stderr, Logger: slog.New(slog.NewTextHandler(stderr, nil))}
}

// ParseFlags reads the configuration from the environment and the flags.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("credits serve", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	m.Config.register(fs, getenv, forServe)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return errHelpShown // the flag package wrote serve's settings
	} else if err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Arg(0))}
	}
	if err := m.Config.Validate(); err != nil {
		return usageError{err.Error()} // exit 2, as every command's bad settings
	}
	return nil
}

// Run opens and migrates the store, starts the worker and the HTTP server,
// and returns once the server listens.
func (m *Main) Run(ctx context.Context) error {
	cfg := &m.Config
	store, err := openStore(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	m.Store = store
	m.Service = m.newService(store)
	if cfg.Env == envDevelopment {
		m.Clock = clock.New(m.Now)
		if err := m.Service.UseTestClock(ctx, m.Clock); err != nil {
			store.Close()
			return fmt.Errorf("test clock: %w", err)
		}
	}
	signing, previous, err := m.useSigningSecret(ctx)
	if err != nil {
		store.Close()
		return err
	}
	if err := m.useDevelopmentKey(ctx); err != nil {
		store.Close()
		return err
	}
	webhook := m.newWebhook()
	if cfg.Env == envProduction && len(cfg.proxies.Trusted) == 0 {
		// Not refused: a server exposed without a proxy is legitimate.
		m.Logger.Warn("CREDITS_TRUSTED_PROXIES is not set: each request's client is its TCP peer; behind a proxy (or a load balancer) every client " +
			"shares its address for the per-address limits of pages and wrong sign-ins; set it to the proxies' CIDRs")
	}
	m.Server = m.newServer(webhook, signing, previous)
	m.listener, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		store.Close()
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.PublicURL == "" {
		m.setPublicURL("http://localhost:" + fmt.Sprint(m.listener.Addr().(*net.TCPAddr).Port))
	}
	m.startServing(ctx)
	m.Logger.Info("credits listening", "url", "http://"+loopback(m.listener.Addr()), "env", cfg.Env, "database", describeDatabase(cfg.DatabaseURL),
		"stripe", m.stripeMode(), "webhook_secrets", len(cfg.WebhookSecrets()))
	if m.Demo != nil {
		return m.startDemo(ctx)
	}
	return nil
}

// newServer is the HTTP server of the service, signing pages' sessions
// with signing (and accepting previous).
func (m *Main) newServer(webhook *stripe.Webhook, signing []byte, previous [][]byte) *server.Server {
	cfg := &m.Config
	srv := &server.Server{Service: m.Service, Webhook: webhook, APIKey: cfg.APIKey, Logger: m.Logger,
		PublicURL: cfg.PublicURL, SigningKey: signing, PreviousSigningKeys: previous, Production: cfg.Env == envProduction,
		Metrics: server.NewMetrics(), RateLimits: cfg.rateLimits, Proxies: cfg.proxies}
	if cfg.Env == envDevelopment {
		srv.Welcome = &server.Welcome{APIKey: cfg.APIKey}
	}
	if m.Demo != nil {
		srv.Welcome.DemoAccountID = demo.AccountID // when the demo made it (see handleHome)
		srv.Extra = m.Demo.Routes()
		webhook.Verifier.Secrets = append(webhook.Verifier.Secrets, m.demoSecret)
	}
	return srv
}

// startServing starts the workers and the HTTP server on m.listener; Close
// stops them all.
func (m *Main) startServing(ctx context.Context) {
	m.httpServer = m.Server.HTTPServer(m.Config.Addr)
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	m.stopWorker = stopWorker
	m.done.Add(4)
	go func() { defer m.done.Done(); m.Service.RunWorker(workerCtx, workerInterval) }()
	go func() { defer m.done.Done(); m.Service.RunWebhookDispatcher(workerCtx, workerInterval) }()
	go func() { defer m.done.Done(); m.Service.RunSweeper(workerCtx, sweepInterval) }()
	m.startReconciler(workerCtx)
	go func() {
		defer m.done.Done()
		if err := m.httpServer.Serve(m.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("http server stopped", "error", err)
		}
	}()
}

// setPublicURL sets the base URL of links once the port is known.
func (m *Main) setPublicURL(url string) {
	m.Config.PublicURL = url
	m.Server.PublicURL = url
	m.Service.RechargeReturnURLs = server.ReturnURLs(url) // Stripe wants absolute return URLs
	if m.Demo != nil {
		m.Demo.PublicURL = url
	}
}

// demoLinkTTL is how long the link that the demo prints stays valid.
const demoLinkTTL = 7 * 24 * time.Hour

// startDemo points the simulated checkout at this server's webhook, seeds an
// empty database, and prints the dashboard link.
func (m *Main) startDemo(ctx context.Context) error {
	m.Demo.WebhookURL = "http://" + loopback(m.listener.Addr()) + "/stripe/webhook"
	if _, err := demo.Seed(ctx, m.Service); err != nil {
		return err
	}
	if _, err := m.Service.GetAccount(ctx, demo.AccountID); err != nil {
		return nil // the database has accounts of its own: no demo account to link to
	}
	link, _, err := m.Server.DashboardLink(ctx, demo.AccountID, demoLinkTTL)
	if err != nil {
		return fmt.Errorf("demo link: %w", err)
	}
	fmt.Fprintf(m.Stdout, "Demo (no Stripe account needed): open %s and buy credits with the test card 4242 4242 4242 4242\n", link)
	fmt.Fprintf(m.Stdout, "The link opens once, in one browser; for another: POST /v1/accounts/%s/dashboard_sessions, or restart the server\n", demo.AccountID)
	return nil
}

// loopback returns a dialable address for a listener, 127.0.0.1 for one
// listening on every interface.
func loopback(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(addr.(*net.TCPAddr).Port))
	}
	return tcp.String()
}

func (m *Main) newService(store credits.Store) *credits.Service {
	cfg := m.Config
	svc := credits.NewService(store)
	svc.Logger = m.Logger
	svc.PaymentsMissing = "set STRIPE_SECRET_KEY to sell packs through Stripe Checkout"
	if m.Now != nil {
		svc.Now = m.Now
	}
	trial := cfg.Trial()
	svc.TrialCredits, svc.TrialDays = trial.Credits, trial.Days
	svc.CheckoutExpiresIn = cfg.checkoutExpiresIn
	svc.RechargeLease, svc.RechargeCheckAfter = cfg.rechargeLease, cfg.rechargeCheck
	svc.RechargeReturnURLs = server.ReturnURLs(cfg.PublicURL)
	cfg.webhooks(svc)
	svc.LowBalanceThreshold = cfg.lowBalance
	svc.IgnoredPayloadRetention = cfg.ignoredRetention
	svc.ExpiringNotice = cfg.expiringNotice
	switch {
	case cfg.StripeSecretKey != "":
		svc.Payments = stripe.NewClient(cfg.StripeSecretKey, cfg.StripeAPIBase)
		svc.Livemode = stripe.Livemode(cfg.StripeSecretKey)
	case cfg.Env == envDevelopment:
		secret := "whsec_demo_" + randomHex(24)
		sign := func(payload []byte, at time.Time) string { return stripe.SignatureHeader(payload, secret, at) }
		m.Demo, m.demoSecret = demo.NewCheckout(cfg.PublicURL, sign, m.Logger), secret
		svc.Payments = m.Demo
	}
	return svc
}

func (m *Main) newWebhook() *stripe.Webhook {
	secrets := m.Config.WebhookSecrets()
	// Unsigned events are accepted only by the offline demo: with no Stripe
	// key at all, nothing real can be credited.
	allowUnsigned := m.Config.Env == envDevelopment && len(secrets) == 0 && m.Config.StripeSecretKey == ""
	switch {
	case allowUnsigned:
		m.Logger.Warn("offline demo: webhook events WITHOUT a signature are accepted; set STRIPE_WEBHOOK_SECRET to verify events")
	case len(secrets) == 0:
		m.Logger.Warn("STRIPE_WEBHOOK_SECRET is not set: every webhook event is refused; set it to the whsec_… secret that `stripe listen` prints or the Dashboard shows")
	}
	return &stripe.Webhook{
		// Real time, not the test clock: Stripe signs with its own clock, and
		// the signature's age is checked against it.
		Verifier:      stripe.Verifier{Secrets: secrets, Now: m.Now},
		AllowUnsigned: allowUnsigned,
		Logger:        m.Logger,
	}
}

func (m *Main) stripeMode() string {
	switch {
	case m.Demo != nil:
		return "simulated (offline demo: no Stripe account needed)"
	case m.Config.StripeSecretKey == "":
		return "not configured (checkout answers 503)"
	case stripe.Livemode(m.Config.StripeSecretKey):
		return "live"
	default:
		return "test"
	}
}

// Addr is the address the server listens on.
func (m *Main) Addr() string {
	if m.listener == nil {
		return ""
	}
	return m.listener.Addr().String()
}

// Close stops the server gracefully (in-flight requests finish), then the
// worker, then closes the store.
func (m *Main) Close() error {
	var errs []error
	if m.httpServer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		errs = append(errs, m.httpServer.Shutdown(ctx))
	}
	if m.stopWorker != nil {
		m.stopWorker()
	}
	m.done.Wait()
	if m.Demo != nil {
		m.Demo.Close()
	}
	if m.Store != nil {
		errs = append(errs, m.Store.Close())
	}
	return errors.Join(errs...)
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	m := NewMain(stdout, stderr)
	if err := m.ParseFlags(args, getenv); err != nil {
		return err
	}
	if err := m.Run(ctx); err != nil {
		return errors.Join(err, m.Close()) // what Run started before it failed stops too
	}
	<-ctx.Done()
	m.Logger.Info("shutting down")
	return m.Close()
}

// store is what a command needs of either store.
type store interface {
	credits.Store
	Migrate(context.Context) (int, error)
	Pending(context.Context) (bool, error)
}

// openDatabase opens the store that the database URL names: a postgres://
// URL is PostgreSQL, anything else a SQLite file path, opened by openSQLite.
func openDatabase(ctx context.Context, databaseURL string, openSQLite func(path string) (*sqlite.DB, error)) (store, error) {
	if err := checkDatabaseURL(databaseURL); err != nil {
		return nil, err
	}
	if postgres.IsURL(databaseURL) {
		db, err := postgres.Open(ctx, databaseURL)
		if err != nil {
			return nil, databaseError(databaseURL, err)
		}
		return db, nil
	}
	return openSQLite(sqlitePath(databaseURL))
}

// openStore opens and migrates the store (serve and migrate).
func openStore(ctx context.Context, databaseURL string) (credits.Store, error) {
	db, err := openDatabase(ctx, databaseURL, sqlite.Open)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, databaseError(databaseURL, err)
	}
	return db, nil
}

// openExisting opens, for a command other than serve and migrate, a database
// that exists and whose schema is the binary's: it creates nothing and
// migrates nothing. readOnly opens a SQLite file for reading only.
func openExisting(ctx context.Context, databaseURL string, readOnly bool) (credits.Store, error) {
	db, err := openDatabase(ctx, databaseURL, func(path string) (*sqlite.DB, error) { return sqlite.OpenExisting(path, readOnly) })
	if err != nil {
		return nil, err
	}
	pending, err := db.Pending(ctx)
	err = databaseError(databaseURL, err)
	if err == nil && pending {
		err = fmt.Errorf("the database (%s) is behind this binary's schema: run `credits migrate` first", describeDatabase(databaseURL))
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func sqlitePath(databaseURL string) string {
	return strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite://"), "sqlite:")
}

// describeDatabase names the database without any password in it.
func describeDatabase(databaseURL string) string {
	if postgres.IsURL(databaseURL) {
		return "postgres"
	}
	return "sqlite " + databaseURL
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// useSigningSecret reads the signing secrets, gives the service the box that
// seals webhook endpoints' secrets, and seals again those kept in plain text
// or with the previous signing secret.
func (m *Main) useSigningSecret(ctx context.Context) (current []byte, previous [][]byte, err error) {
	current, previous, err = m.Config.signingKeys(ctx, m.Service)
	if err != nil {
		return nil, nil, fmt.Errorf("signing secret: %w", err)
	}
	if m.Service.Secrets, err = credits.NewSecretBox(current, previous...); err != nil {
		return nil, nil, err
	}
	n, unopened, err := m.Service.SealWebhookSecrets(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("seal webhook endpoint secrets: %w", err)
	}
	if n > 0 {
		m.Logger.Info("webhook endpoint secrets sealed with the signing secret", "endpoints", n)
	}
	if len(unopened) > 0 {
		m.Logger.Warn("webhook endpoint secrets sealed with a signing secret no longer given: deliveries to them fail until "+
			"CREDITS_SIGNING_SECRET_PREVIOUS is set to it, or `credits webhooks rotate ID` gives each a new secret", "endpoints", unopened)
	}
	return current, previous, nil
}

// useDevelopmentKey gives a development server without CREDITS_API_KEY the
// database's own key, made once and kept sealed (Service.DevelopmentAPIKey
// says why there), and prints it: a saved KEY= works after a restart.
func (m *Main) useDevelopmentKey(ctx context.Context) error {
	if m.Config.APIKey != "" {
		return nil
	}
	if m.Config.Env != envDevelopment {
		return errors.New("production needs CREDITS_API_KEY") // Validate refuses it first
	}
	key, err := m.Service.DevelopmentAPIKey(ctx)
	switch {
	case errors.Is(err, credits.ErrSecretSealed):
		// The signing secret changed: development still starts, with a key
		// for this run only.
		m.Logger.Warn("the development API key kept in the database is sealed with another signing secret: "+
			"this run uses a new key; set CREDITS_SIGNING_SECRET_PREVIOUS to the one before to get the kept key back", "error", err)
		m.Config.APIKey = credits.DevelopmentKeyPrefix + randomHex(16)
		fmt.Fprintf(m.Stdout, "Development API key (for this run only; CREDITS_API_KEY chooses one): %s\n", m.Config.APIKey)
		return nil
	case err != nil:
		return err
	}
	m.Config.APIKey = key
	fmt.Fprintf(m.Stdout, "Development API key (made once for this database and kept; CREDITS_API_KEY chooses another): %s\n", key)
	return nil
}
