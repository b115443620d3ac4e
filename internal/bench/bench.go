package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/progress"
	"github.com/credits/credits/postgres"
	"github.com/credits/credits/stripe"
)

// Limits of a bench run.
const (
	benchMaxDuration    = 10 * time.Minute
	benchMaxConcurrency = 10_000
	benchMaxAccounts    = 10_000
	// benchSessionsPerSecond bounds the purchases the webhook phase can make:
	// its sessions are recorded before it starts.
	benchSessionsPerSecond = 8_000
	benchMaxSessions       = 400_000
	benchGrant             = 1_000_000_000
	benchMaxLedger         = 100_000_000
	benchMaxReplicas       = 8
)

// runBench runs the real service on loopback against a fresh database (or
// the one given) and, in the same process, a no-op server with the same
// routes and JSON shapes: the ceiling that HTTP and JSON alone allow. It
// prints each path's rate, p50/p99 and ratio to its ceiling, then verify.
func Run(ctx context.Context, args []string, start Start, stdout, stderr io.Writer) error {
	o, err := parseBench(args, stderr)
	if err != nil {
		return err
	}
	url, removeDir, err := benchDatabase(o.databaseURL)
	if err != nil {
		return err
	}
	defer removeDir()
	secret := "whsec_bench_" + randomHex(8)
	vars := map[string]string{"CREDITS_API_KEY": benchAPIKey, "STRIPE_WEBHOOK_SECRET": secret, "CREDITS_DATABASE_URL": url, "CREDITS_RATE_PAGES": "0", "CREDITS_RATE_API": "0"}
	services, err := startServices(ctx, start, o.replicas, vars)
	for _, m := range services {
		defer m.Close()
	}
	if err != nil {
		return err
	}
	m := services[0]
	noop, err := startNoop()
	if err != nil {
		return err
	}
	defer noop.Close()
	b := newBench(services, "http://"+noop.Addr, benchAPIKey, secret, o)
	sessions := min(benchMaxSessions, max(1_000, int(o.duration.Seconds()*benchSessionsPerSecond)))
	if err := b.setup(ctx, m.Service, sessions); err != nil {
		return err
	}
	if err := b.fillLedgerShowing(ctx, m.Service, url, o.ledger, stderr); err != nil {
		return err
	}
	pgbenchNote, dropPgbench := b.usePgbench(ctx, url, o)
	defer dropPgbench()
	if !o.asJSON {
		printBenchHeader(stdout, url, o)
	}
	// The guards run before the phases: after them, the service's workers
	// are still sending the phases' events and webhooks, and their round
	// trips would count too.
	guards, err := guardStore(ctx, m.Service.Store, b.run)
	if err != nil {
		return err
	}
	phases, err := selectPhases(b.phases(ctx, m.Service), o.only)
	if err != nil {
		return err
	}
	results, failed, err := b.runPhases(phases, o.ceilingOnce, func(r phaseResult) {
		if !o.asJSON {
			printPhase(stdout, r)
		}
	})
	if err != nil {
		return err
	}
	summary, err := summarizeBench(ctx, m.Service, url, o, results, guards, b.stopReceiver())
	if err != nil {
		return err
	}
	if err := printBenchSummary(stdout, o.asJSON, summary, b.receiver != nil, pgbenchNote); err != nil {
		return err
	}
	// Figures of a run whose requests failed measure nothing.
	if failed > 0 || summary.Violations > 0 {
		return fmt.Errorf("bench: %d request(s) failed and %d invariant(s) broken: the figures are not valid", failed, summary.Violations)
	}
	return nil
}

// Service is one running service that the bench drives.
type Service struct {
	Addr    string // host:port of its HTTP server
	Service *credits.Service
	Close   func() error
}

// Start runs a service on loopback (any free port) with the given settings,
// named by their environment variables.
type Start func(ctx context.Context, vars map[string]string) (Service, error)

// UsageError is a mistake in the bench's command line.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// benchAPIKey is the API key of the services a bench runs.
const benchAPIKey = "bench_api_key_0123456789abcdef"

// newBench is a bench of services, with its no-op ceiling at noop.
func newBench(services []Service, noop, apiKey, secret string, o benchOptions) *bench {
	bases := make([]string, len(services))
	for i, r := range services {
		bases[i] = "http://" + r.Addr
	}
	transport := &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxIdleConns: 2 * o.concurrency}
	return &bench{bases: bases, noop: noop, apiKey: apiKey, secret: secret, run: randomHex(4),
		client: &http.Client{Transport: transport}, accounts: o.accounts, concurrency: o.concurrency, duration: o.duration, profiles: o.cpuprofile}
}

// benchDatabase is the database to benchmark: the one given, or a new
// SQLite file in a temporary directory (remove deletes it).
func benchDatabase(given string) (url string, remove func(), err error) {
	if given != "" {
		return given, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "credits-bench-")
	if err != nil {
		return "", func() {}, err
	}
	return filepath.Join(dir, "bench.db"), func() { os.RemoveAll(dir) }, nil
}

// printBenchHeader prints what the run is and the table's heading.
func printBenchHeader(stdout io.Writer, url string, o benchOptions) {
	fmt.Fprintf(stdout, "credits bench: %s, %d replica(s), %s per phase, %d in flight, %d accounts, %d more ledger entries, GOMAXPROCS %d\n",
		describeDatabase(url), o.replicas, o.duration, o.concurrency, o.accounts, o.ledger, runtime.GOMAXPROCS(0))
	fmt.Fprintf(stdout, "%-11s %10s %9s %9s %9s %8s %8s %8s %7s\n", "phase", "req/s", "p50 ms", "p99 ms", "ceiling", "ceil/s", "ratio", "errors", "cpu µs")
}

// summarizeBench adds memory and verify to the phases' figures.
func summarizeBench(ctx context.Context, svc *credits.Service, url string, o benchOptions, results []phaseResult, guards []roundTripGuard, delivered int64) (benchSummary, error) {
	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	violations, err := svc.Verify(ctx)
	if err != nil {
		return benchSummary{}, err
	}
	return benchSummary{Database: describeDatabase(url), DurationSeconds: o.duration.Seconds(), Concurrency: o.concurrency, Accounts: o.accounts, Replicas: o.replicas, LedgerEntries: o.ledger,
		GOMAXPROCS: runtime.GOMAXPROCS(0), Phases: results, HookEventsDelivered: delivered, HeapInUseMiB: float64(mem.HeapInuse) / (1 << 20),
		ResidentMiB: residentMiB(), Violations: len(violations), RoundTrips: guards}, nil
}

// benchOptions are credits bench's flags.
type benchOptions struct {
	databaseURL, cpuprofile, only   string
	duration                        time.Duration
	concurrency, accounts, replicas int
	ledger                          int64
	asJSON, ceilingOnce             bool
}

// parseBench reads and checks credits bench's flags.
func parseBench(args []string, stderr io.Writer) (benchOptions, error) {
	var o benchOptions
	fs := flag.NewFlagSet("credits bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.databaseURL, "database-url", "", "a postgres:// URL to benchmark (its data is added to); default: a new SQLite file in a temporary directory")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "how long each phase runs")
	fs.IntVar(&o.concurrency, "concurrency", 64, "requests in flight at once")
	fs.IntVar(&o.accounts, "accounts", 100, "accounts the many-account phases spread over")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "a directory to write one CPU profile per phase into (PHASE.pprof)")
	fs.BoolVar(&o.asJSON, "json", false, "print the figures as JSON")
	fs.StringVar(&o.only, "phases", "", "a comma-separated list of the phases to run (default: all); the ceilings run when a phase needs them")
	fs.IntVar(&o.replicas, "replicas", 1, "services on the one PostgreSQL database, each on its own port; requests go to them in turn")
	fs.Int64Var(&o.ledger, "ledger", 0, "ledger entries to write first, on an account of their own (reads must not slow down as the ledger grows)")
	fs.BoolVar(&o.ceilingOnce, "ceiling-once", false, "measure each ceiling once, at the start, rather than again right before each phase that is compared with it")
	if err := fs.Parse(args); err != nil {
		return o, UsageError{err.Error()}
	}
	if o.replicas < 1 || o.replicas > benchMaxReplicas || (o.replicas > 1 && !postgres.IsURL(o.databaseURL)) {
		return o, UsageError{fmt.Sprintf("--replicas must be 1..%d, and more than 1 needs a postgres:// --database-url", benchMaxReplicas)}
	}
	if o.ledger < 0 || o.ledger > benchMaxLedger {
		return o, UsageError{fmt.Sprintf("--ledger must be 0..%d", int64(benchMaxLedger))}
	}
	if o.duration <= 0 || o.duration > benchMaxDuration || o.concurrency < 1 || o.concurrency > benchMaxConcurrency || o.accounts < 1 || o.accounts > benchMaxAccounts {
		return o, UsageError{fmt.Sprintf("--duration must be up to %s, --concurrency 1..%d, --accounts 1..%d", benchMaxDuration, benchMaxConcurrency, benchMaxAccounts)}
	}
	if o.cpuprofile != "" {
		if err := os.MkdirAll(o.cpuprofile, 0o755); err != nil {
			return o, err
		}
	}
	return o, nil
}

// startServices runs n services on one database, each on its own port; it
// returns those it started, to be closed, even with an error.
func startServices(ctx context.Context, start Start, n int, vars map[string]string) ([]Service, error) {
	var services []Service
	for range n {
		s, err := start(ctx, vars)
		if err != nil {
			return services, err
		}
		services = append(services, s)
	}
	return services, nil
}

// usePgbench makes pgbench debit-100's ceiling on PostgreSQL, when it is
// wanted and can run; it says what it did, and returns how to drop its
// tables.
func (b *bench) usePgbench(ctx context.Context, url string, o benchOptions) (note string, drop func()) {
	drop = func() {}
	if !postgres.IsURL(url) || !phaseWanted(o.only, "debit-100") {
		return "", drop
	}
	pg, reason := newPgbench(url, o.duration)
	if pg != nil {
		if err := pg.init(ctx); err != nil {
			reason = err.Error()
			_ = pg.drop(context.WithoutCancel(ctx)) // what a failed init made, if anything
		} else {
			b.pgbench = pg
			drop = func() { _ = pg.drop(context.WithoutCancel(ctx)) }
		}
	}
	if reason != "" {
		return "pgbench: not measured (" + reason + "): debit-100 is compared with the no-op", drop
	}
	return fmt.Sprintf("pgbench: its TPC-B-like transaction, -M prepared -c %d -j 2, scale 10, on the same database: the ceiling of debit-100", pgbenchClients), drop
}

// runPhases measures each phase, its ceiling again right before it unless
// ceilingOnce, and reports each; it returns the results and how many
// requests failed.
func (b *bench) runPhases(phases []phase, ceilingOnce bool, report func(phaseResult)) ([]phaseResult, int, error) {
	var results []phaseResult
	failed := 0
	ceilings := map[string]phaseResult{} // the latest measurement of each
	for _, p := range phases {
		if p.before != nil {
			if err := p.before(); err != nil {
				return results, failed, fmt.Errorf("bench: before %s: %w", p.name, err)
			}
		}
		if c, ok := ceilings[p.ceiling]; ok && !ceilingOnce {
			// The machine's speed moves within a run (by a quarter on this
			// project's, minute to minute): a ratio compares with its
			// ceiling measured just before, not at the start.
			again, err := b.measure(phaseNamed(phases, c.Name))
			if err != nil {
				return results, failed, err
			}
			ceilings[p.ceiling] = again
			failed += again.Errors
		}
		r, err := b.measure(p)
		if err != nil {
			return results, failed, err
		}
		if c, ok := ceilings[p.ceiling]; ok && c.PerSecond > 0 {
			r.Ceiling, r.CeilingPerSecond, r.Ratio = c.Name, c.PerSecond, r.PerSecond/c.PerSecond
		}
		if p.ceiling == "" {
			ceilings[p.name] = r
		}
		results = append(results, r)
		report(r)
		failed += r.Errors
	}
	return results, failed, nil
}

// printPhase prints one phase's line of the table.
func printPhase(stdout io.Writer, r phaseResult) {
	ratio, ceiling, ceilingRate := "-", "-", "-"
	if r.Ceiling != "" {
		ratio, ceiling, ceilingRate = fmt.Sprintf("%.2f", r.Ratio), r.Ceiling, fmt.Sprintf("%.0f", r.CeilingPerSecond)
	}
	if r.External {
		fmt.Fprintf(stdout, "%-11s %10.0f %9s %9s %9s %8s %8s %8d %7s\n", r.Name, r.PerSecond, "-", "-", ceiling, ceilingRate, ratio, r.Errors, "-")
		return
	}
	fmt.Fprintf(stdout, "%-11s %10.0f %9.2f %9.2f %9s %8s %8s %8d %7.0f\n", r.Name, r.PerSecond, r.P50MS, r.P99MS, ceiling, ceilingRate, ratio, r.Errors, r.CPUMicros)
}

// printBenchSummary prints what follows the table, or the whole summary as
// JSON.
func printBenchSummary(stdout io.Writer, asJSON bool, summary benchSummary, hooked bool, pgbenchNote string) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(summary)
	}
	if hooked {
		fmt.Fprintf(stdout, "debit+hook: one webhook endpoint for balance.low/depleted/recovered; %d event(s) delivered during the run\n", summary.HookEventsDelivered)
	}
	if pgbenchNote != "" {
		fmt.Fprintln(stdout, pgbenchNote)
	}
	printRoundTrips(stdout, summary.RoundTrips)
	fmt.Fprintf(stdout, "memory: heap in use %.1f MiB, resident %.1f MiB\n", summary.HeapInUseMiB, summary.ResidentMiB)
	fmt.Fprintf(stdout, "verify: %d violation(s)\n", summary.Violations)
	return nil
}

type phaseResult struct {
	Name      string  `json:"name"`
	Requests  int     `json:"requests"`
	PerSecond float64 `json:"per_second"`
	P50MS     float64 `json:"p50_ms"`
	P99MS     float64 `json:"p99_ms"`
	Ceiling   string  `json:"ceiling,omitempty"`
	// CeilingPerSecond is the ceiling's rate measured right before this
	// phase (or at the start, with --ceiling-once): Ratio's denominator.
	CeilingPerSecond float64 `json:"ceiling_per_second,omitempty"`
	Ratio            float64 `json:"ratio,omitempty"`
	Errors           int     `json:"errors"`
	// CPUMicros is the process's CPU time (the bench's clients and the
	// service alike) per request: steadier than the rate on a shared
	// machine, whose speed moves between runs.
	CPUMicros float64 `json:"cpu_us_per_request"`
	// External is a phase measured by another program (pgbench): no
	// percentiles and no CPU of this process; AverageMS is its latency.
	External  bool    `json:"external,omitempty"`
	AverageMS float64 `json:"average_ms,omitempty"`
}

type benchSummary struct {
	Database            string        `json:"database"`
	DurationSeconds     float64       `json:"duration_seconds"`
	Concurrency         int           `json:"concurrency"`
	Accounts            int           `json:"accounts"`
	Replicas            int           `json:"replicas"`
	LedgerEntries       int64         `json:"ledger_entries"`
	GOMAXPROCS          int           `json:"gomaxprocs"`
	Phases              []phaseResult `json:"phases"`
	HookEventsDelivered int64         `json:"hook_events_delivered"`
	HeapInUseMiB        float64       `json:"heap_in_use_mib"`
	ResidentMiB         float64       `json:"resident_mib"`
	Violations          int           `json:"verify_violations"`
	// RoundTrips are the guarded paths' round trips (PostgreSQL only).
	RoundTrips []roundTripGuard `json:"round_trips,omitempty"`
}

// residentMiB is the process's resident memory (Linux), or 0.
func residentMiB() float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

type bench struct {
	bases                     []string // the service's replicas, in turn
	noop, apiKey, secret, run string
	client                    *http.Client
	accounts, concurrency     int
	duration                  time.Duration
	profiles                  string
	sessions                  []string
	debited                   atomic.Int64 // debits of the 100-account phase: replay sends their keys again
	receiver                  *httptest.Server
	received                  atomic.Int64
	pgbench                   *pgbench // PostgreSQL's own benchmark, when the database is PostgreSQL and pgbench is there
	fillBatch                 int64    // rows per statement of the ledger's fill (fillBatch when 0; tests make it small)
}

// fillBatch is how many entries one statement of the ledger's fill writes.
const fillBatch = 100_000

// phase is one measured path: do sends request i and says whether its
// answer is the expected one; limit, when set, bounds the requests.
type phase struct {
	name    string
	ceiling string
	limit   int
	before  func() error
	do      func(i int) (bool, error)
	// external, when set, measures the phase instead of do (pgbench).
	external func() (phaseResult, error)
}

// at is the replica that request i goes to.
func (b *bench) at(i int) string { return b.bases[i%len(b.bases)] }

func (b *bench) account(i int) string { return fmt.Sprintf("bench-%s-%d", b.run, i%b.accounts) }

func (b *bench) phases(ctx context.Context, svc *credits.Service) []phase {
	// On PostgreSQL, debits on many accounts are compared with pgbench's
	// TPC-B in the same run, when pgbench is there.
	debitCeiling := "noop"
	if b.pgbench != nil {
		debitCeiling = "pgbench"
	}
	auth := map[string]string{"Authorization": "Bearer " + b.apiKey}
	debit := func(base, account, key string) (bool, error) {
		status, err := b.send(http.MethodPost, base+"/v1/accounts/"+account+"/debits", []byte(`{"amount":1}`),
			map[string]string{"Authorization": "Bearer " + b.apiKey, "Idempotency-Key": key})
		return status == http.StatusCreated, err
	}
	read := func(base, account string) (bool, error) {
		status, err := b.send(http.MethodGet, base+"/v1/accounts/"+account, nil, auth)
		return status == http.StatusOK, err
	}
	phases := []phase{
		{name: "noop", do: func(i int) (bool, error) { return debit(b.noop, b.account(i), fmt.Sprint("noop-", i)) }},
		{name: "noop-read", do: func(i int) (bool, error) { return read(b.noop, b.account(i)) }},
		{name: "commit", do: func(i int) (bool, error) {
			// One small row per transaction, each its own (an idempotency
			// record of the bench's scope: the sweep forgets it after a day).
			err := svc.Store.Update(ctx, func(tx credits.Tx) error {
				return tx.CreateIdempotencyRecord(credits.IdempotencyRecord{Scope: "bench-commit-" + b.run, Key: strconv.Itoa(i),
					RequestHash: "-", Result: []byte("{}"), CreatedAt: time.Now().UTC()})
			})
			return err == nil, err
		}},
		{name: "webhook", ceiling: "noop", limit: len(b.sessions), do: b.webhook},
		{name: "debit-1", ceiling: "noop", do: func(i int) (bool, error) { return debit(b.at(i), b.account(0), fmt.Sprint("d1-", i)) }},
		{name: "debit-100", ceiling: debitCeiling, do: func(i int) (bool, error) {
			ok, err := debit(b.at(i), b.account(i), fmt.Sprint("d100-", i))
			if ok {
				b.debited.Add(1)
			}
			return ok, err
		}},
		b.usagePhase(ctx, svc),
		{name: "debit-member", ceiling: debitCeiling, before: func() error { return b.addMembers(ctx, svc) }, do: func(i int) (bool, error) {
			return b.memberDebit(b.at(i), i)
		}},
		{name: "read", ceiling: "noop-read", do: func(i int) (bool, error) { return read(b.at(i), b.account(i)) }},
		{name: "replay", ceiling: "noop", do: func(i int) (bool, error) {
			// The keys of the debit-100 phase again: answered from the first answers.
			n := max(1, int(b.debited.Load()))
			return debit(b.at(i), b.account(i%n), fmt.Sprint("d100-", i%n))
		}},
		{name: "mixed", ceiling: "noop-read", do: func(i int) (bool, error) {
			if i%5 == 0 {
				return debit(b.at(i), b.account(i), fmt.Sprint("mx-", i))
			}
			return read(b.at(i), b.account(i))
		}},
		{name: "debit+hook", ceiling: "noop", before: func() error { return b.addEndpoint(ctx, svc) }, do: func(i int) (bool, error) {
			return debit(b.at(i), "bench-"+b.run+"-hook", fmt.Sprint("hook-", i))
		}},
	}
	if b.pgbench != nil {
		phases = slices.Insert(phases, 3, phase{name: "pgbench", external: func() (phaseResult, error) { return b.pgbench.measure(ctx, "pgbench") }})
	}
	return phases
}

// phaseNamed returns the phase of that name; the ceilings are always there
// when a phase compared with them is.
func phaseNamed(phases []phase, name string) phase {
	for _, p := range phases {
		if p.name == name {
			return p
		}
	}
	panic("bench: no phase " + name)
}

// phaseWanted reports whether a --phases list (empty: all) names the phase.
func phaseWanted(list, name string) bool {
	if list == "" {
		return true
	}
	for _, p := range strings.Split(list, ",") {
		if strings.TrimSpace(p) == name {
			return true
		}
	}
	return false
}

// selectPhases keeps the phases a comma-separated list names, with the
// ceilings they are compared to, in the bench's order.
func selectPhases(all []phase, list string) ([]phase, error) {
	if list == "" {
		return all, nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if !slices.ContainsFunc(all, func(p phase) bool { return p.name == name }) {
			return nil, UsageError{fmt.Sprintf("--phases: no phase %q", name)}
		}
		want[name] = true
	}
	for _, p := range all {
		if want[p.name] && p.ceiling != "" {
			want[p.ceiling] = true
		}
	}
	var out []phase
	for _, p := range all {
		if want[p.name] {
			out = append(out, p)
		}
	}
	return out, nil
}

// startNoop serves the routes that the bench calls, with the same JSON
// shapes and checks a handler of the service makes before its work (the
// key, the body), and nothing else: the HTTP and JSON ceiling.
func startNoop() (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/accounts/{id}/debits", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Amount      int64             `json:"amount"`
			Description string            `json:"description"`
			Metadata    map[string]string `json:"metadata"`
		}
		if r.Header.Get("Authorization") == "" || r.Header.Get("Idempotency-Key") == "" || json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		writeNoop(w, http.StatusCreated, credits.DebitResult{ID: 1, AccountID: r.PathValue("id"), Amount: req.Amount, Balance: 1000, Available: 1000,
			Lots: []credits.LotAmount{{LotID: 1, Amount: req.Amount}}, CreatedAt: time.Now().UTC()})
	})
	mux.HandleFunc("GET /v1/accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		writeNoop(w, http.StatusOK, credits.Account{ID: r.PathValue("id"), Email: "bench@example.com", Balance: 1000, Available: 1000,
			BalanceState: credits.BalanceOK, CreatedAt: time.Now().UTC()})
	})
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	srv.Addr = listener.Addr().String()
	go func() { _ = srv.Serve(listener) }()
	return srv, nil
}

func writeNoop(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// addEndpoint starts a receiver, subscribes it to the balance events, and
// gives the hook phase's account a threshold that its debits cross.
func (b *bench) addEndpoint(ctx context.Context, svc *credits.Service) error {
	b.receiver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		b.received.Add(1)
	}))
	if _, err := svc.CreateWebhookEndpoint(ctx, b.receiver.URL, []string{credits.OutBalanceLow, credits.OutBalanceDepleted, credits.OutBalanceRecovered}, "bench"); err != nil {
		return err
	}
	_, err := svc.SetLowBalanceThreshold(ctx, "bench-"+b.run+"-hook", benchGrant) // the first debit crosses it
	return err
}

// stopReceiver waits for the dispatcher (it runs every second) and reports
// how many events the hook phase's receiver got.
func (b *bench) stopReceiver() int64 {
	if b.receiver == nil {
		return 0
	}
	for deadline := time.Now().Add(5 * time.Second); b.received.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	b.receiver.Close()
	return b.received.Load()
}

// setup makes a pack, the accounts with credits for every debit, and one
// recorded checkout session per possible webhook delivery.
func (b *bench) setup(ctx context.Context, svc *credits.Service, sessions int) error {
	pack, err := svc.CreatePack(ctx, credits.Pack{Name: "Bench", Credits: 10, UnitAmount: 100, Currency: "usd", Active: true})
	if err != nil {
		return err
	}
	ids := []string{"bench-" + b.run + "-hook"}
	for i := range b.accounts {
		ids = append(ids, b.account(i))
	}
	for _, id := range ids {
		if _, err := svc.CreateAccount(ctx, id, id+"@example.com"); err != nil {
			return err
		}
		if _, _, err := svc.Grant(ctx, id, credits.GrantRequest{Amount: benchGrant}, nil); err != nil {
			return err
		}
	}
	b.sessions = make([]string, sessions)
	now := time.Now().UTC()
	const batch = 5_000
	for start := 0; start < sessions; start += batch {
		err := svc.Store.Update(ctx, func(tx credits.Tx) error {
			for i := start; i < min(start+batch, sessions); i++ {
				b.sessions[i] = fmt.Sprintf("cs_bench_%s_%d", b.run, i)
				err := tx.CreateCheckoutSession(credits.CheckoutSession{ID: b.sessions[i], AccountID: b.account(i), PackID: pack.ID, Quantity: 1,
					ExpectedAmount: 100, Currency: "usd", Status: credits.SessionOpen, CreatedAt: now, UpdatedAt: now})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// fillLedgerShowing fills the ledger (fillLedger), its progress on stderr:
// a bar on a terminal, a line every few seconds otherwise.
func (b *bench) fillLedgerShowing(ctx context.Context, svc *credits.Service, url string, n int64, stderr io.Writer) error {
	if n == 0 {
		return nil
	}
	report := progress.To(stderr).Start("bench: filling the ledger", "entries", false)
	defer report.Finish()
	return b.fillLedger(ctx, svc, url, n, report.Update)
}

// fillLedger writes n ledger entries of 0 credits (a consistent running
// balance of 0) on an account of their own, in SQL, so that a large ledger
// is made in seconds; the phases then run beside it.
func (b *bench) fillLedger(ctx context.Context, svc *credits.Service, url string, n int64, filled func(done, total int64)) error {
	if n == 0 {
		return nil
	}
	raw, ok := svc.Store.(interface {
		Exec(ctx context.Context, query string, args ...any) error
	})
	if !ok {
		return fmt.Errorf("bench: --ledger needs a store that runs SQL")
	}
	account := "bench-" + b.run + "-ledger"
	if _, err := svc.CreateAccount(ctx, account, account+"@example.com"); err != nil {
		return err
	}
	now, placeholders := any(time.Now().UTC().UnixMicro()), []string{"?1", "?2", "?3"}
	pg := postgres.IsURL(url)
	if pg {
		now, placeholders = time.Now().UTC(), []string{"$1", "$2", "$3"}
	}
	// Rows per statement: each is one transaction, and progress is told after each.
	batch := int64(fillBatch)
	if b.fillBatch > 0 {
		batch = b.fillBatch
	}
	for done := int64(0); done < n; done += batch {
		rows := min(batch, n-done)
		// Ids given here, after the largest, so that each entry names the one
		// before it (the chain the ledger is read along).
		err := raw.Exec(ctx, `WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < `+placeholders[0]+`),
			base(b) AS (SELECT COALESCE(MAX(id), 0) FROM entries)
			INSERT INTO entries (id, account_id, amount, kind, reference, description, balance_after, created_at, prev_entry_id)
			SELECT b + n, `+placeholders[1]+`, 0, 'adjustment', 'bench-ledger', '', 0, `+placeholders[2]+`,
				CASE WHEN n = 1 THEN (SELECT last_entry_id FROM accounts WHERE id = `+placeholders[1]+`) ELSE b + n - 1 END FROM seq, base`,
			rows, account, now)
		if err == nil {
			err = raw.Exec(ctx, `UPDATE accounts SET last_entry_id = (SELECT MAX(id) FROM entries) WHERE id = `+placeholders[0], account)
		}
		if err == nil && pg {
			err = raw.Exec(ctx, `SELECT setval(pg_get_serial_sequence('entries', 'id'), (SELECT MAX(id) FROM entries))`)
		}
		if err != nil {
			return fmt.Errorf("bench: fill the ledger: %w", err)
		}
		filled(done+rows, n)
	}
	return nil
}

func (b *bench) send(method, url string, body []byte, header map[string]string) (int, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (b *bench) webhook(i int) (bool, error) {
	payload := fmt.Appendf(nil, `{"id":"evt_bench_%s_%d","object":"event","type":"checkout.session.completed","livemode":false,`+
		`"data":{"object":{"id":%q,"object":"checkout.session","payment_status":"paid","payment_intent":"pi_bench_%s_%d","amount_total":100,"currency":"usd"}}}`,
		b.run, i, b.sessions[i], b.run, i)
	status, err := b.send(http.MethodPost, b.at(i)+"/stripe/webhook", payload, map[string]string{"Stripe-Signature": stripe.SignatureHeader(payload, b.secret, time.Now())})
	return status == http.StatusOK, err
}

// measure runs a phase for the bench's duration (or its limit of requests)
// with concurrency requests in flight, and a CPU profile when asked.
func (b *bench) measure(p phase) (phaseResult, error) {
	if p.external != nil {
		return p.external()
	}
	if b.profiles != "" {
		f, err := os.Create(filepath.Join(b.profiles, strings.ReplaceAll(p.name, "+", "-")+".pprof"))
		if err != nil {
			return phaseResult{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return phaseResult{}, err
		}
		defer pprof.StopCPUProfile()
	}
	var next atomic.Int64
	var errs atomic.Int64
	perWorker := make([][]time.Duration, b.concurrency)
	var wg sync.WaitGroup
	start, startCPU := time.Now(), processCPU()
	deadline := start.Add(b.duration)
	for w := range b.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if p.limit > 0 && i >= p.limit {
					return
				}
				t := time.Now()
				ok, err := p.do(i)
				perWorker[w] = append(perWorker[w], time.Since(t))
				if err != nil || !ok {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-startCPU
	var latencies []time.Duration
	for _, l := range perWorker {
		latencies = append(latencies, l...)
	}
	slices.Sort(latencies)
	percentile := func(q int) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[min(len(latencies)-1, len(latencies)*q/100)]) / float64(time.Millisecond)
	}
	return phaseResult{Name: p.name, Requests: len(latencies), PerSecond: float64(len(latencies)) / elapsed.Seconds(),
		P50MS: percentile(50), P99MS: percentile(99), Errors: int(errs.Load()),
		CPUMicros: float64(cpu) / float64(time.Microsecond) / float64(max(1, len(latencies)))}, nil
}

// describeDatabase names the database a bench runs on, without credentials.
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
