package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/stripe"
)

// bench runs the real service on loopback against a fresh database and
// prints throughput and latency of its two write paths: signed webhook
// deliveries (each a new purchase) and idempotent debits.
func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("credits bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	databaseURL := fs.String("database-url", "", "a postgres:// URL to benchmark (its data is added to); default: a new SQLite file in a temporary directory")
	requests := fs.Int("requests", 5000, "requests per phase")
	concurrency := fs.Int("concurrency", 32, "requests in flight at once")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *requests < 1 || *concurrency < 1 || *requests > 1_000_000 || *concurrency > 10_000 {
		return usageError{"--requests must be 1..1000000 and --concurrency 1..10000"}
	}
	url := *databaseURL
	if url == "" {
		dir, err := os.MkdirTemp("", "credits-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		url = filepath.Join(dir, "bench.db")
	}
	const apiKey = "bench_api_key_0123456789abcdef"
	secret := "whsec_bench_" + randomHex(8)
	m := NewMain(io.Discard, io.Discard)
	vars := map[string]string{"CREDITS_API_KEY": apiKey, "STRIPE_WEBHOOK_SECRET": secret, "CREDITS_DATABASE_URL": url}
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0"}, func(k string) string { return vars[k] }); err != nil {
		return err
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	defer m.Close()
	b := &bench{base: "http://" + m.Addr(), apiKey: apiKey, secret: secret, run: randomHex(4),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}}
	if err := b.setup(ctx, m.Service, *requests); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "credits bench: %s, %d requests per phase, %d in flight, GOMAXPROCS %d\n",
		describeDatabase(url), *requests, *concurrency, runtime.GOMAXPROCS(0))
	fmt.Fprintf(stdout, "%-10s %10s %10s %10s %10s %10s %8s\n", "phase", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors")
	failed := 0
	for _, phase := range []struct {
		name string
		do   func(i int) (int, error)
		want int
	}{
		{"webhook", b.webhook, http.StatusOK},
		{"debit", b.debit, http.StatusCreated},
		{"replay", b.debit, http.StatusCreated}, // the same keys again: answers replayed
		{"debit+hook", b.debitWithEndpoint, http.StatusCreated},
	} {
		if phase.name == "debit+hook" {
			// One endpoint subscribed to the balance events, on a receiver
			// here; the account's threshold is crossed during the phase.
			if err := b.addEndpoint(ctx, m.Service, *requests); err != nil {
				return err
			}
		}
		r := b.measure(*requests, *concurrency, phase.do, phase.want)
		fmt.Fprintf(stdout, "%-10s %10.0f %10.2f %10.2f %10.2f %10.2f %8d\n", phase.name, r.perSecond, r.p(50), r.p(90), r.p(99), r.p(100), r.errors)
		failed += r.errors
	}
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	if b.receiver != nil {
		for deadline := time.Now().Add(5 * time.Second); b.received.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond) // the dispatcher runs every second
		}
		b.receiver.Close()
		fmt.Fprintf(stdout, "debit+hook: one webhook endpoint for balance.low/depleted/recovered; %d event(s) delivered during the run\n", b.received.Load())
	}
	fmt.Fprintf(stdout, "memory: heap in use %.1f MiB, total from the OS %.1f MiB\n", float64(mem.HeapInuse)/(1<<20), float64(mem.Sys)/(1<<20))
	violations, err := m.Service.Verify(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "verify: %d violation(s)\n", len(violations))
	// Figures of a run whose requests failed measure nothing.
	if failed > 0 || len(violations) > 0 {
		return fmt.Errorf("bench: %d request(s) failed and %d invariant(s) broken: the figures are not valid", failed, len(violations))
	}
	return nil
}

type bench struct {
	base, apiKey, secret, run string
	client                    *http.Client
	sessions                  []string
	receiver                  *httptest.Server
	received                  atomic.Int64
}

// addEndpoint starts a receiver and subscribes it to the balance events,
// and gives the account a threshold that the debits of the phase cross.
func (b *bench) addEndpoint(ctx context.Context, svc *credits.Service, requests int) error {
	b.receiver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		b.received.Add(1)
	}))
	if _, err := svc.CreateWebhookEndpoint(ctx, b.receiver.URL, []string{credits.OutBalanceLow, credits.OutBalanceDepleted, credits.OutBalanceRecovered}, "bench"); err != nil {
		return err
	}
	account, err := svc.GetAccount(ctx, "bench-"+b.run)
	if err != nil {
		return err
	}
	_, err = svc.SetLowBalanceThreshold(ctx, account.ID, max(1, account.Available-int64(requests/2)))
	return err
}

func (b *bench) debitWithEndpoint(i int) (int, error) {
	return b.post("/v1/accounts/bench-"+b.run+"/debits", []byte(`{"amount":1}`), map[string]string{
		"Authorization": "Bearer " + b.apiKey, "Idempotency-Key": fmt.Sprintf("bench-hook-%d", i)})
}

// setup makes a pack, an account with credits for every debit, and one
// recorded checkout session per webhook delivery.
func (b *bench) setup(ctx context.Context, svc *credits.Service, requests int) error {
	pack, err := svc.CreatePack(ctx, credits.Pack{Name: "Bench", Credits: 10, UnitAmount: 100, Currency: "usd", Active: true})
	if err != nil {
		return err
	}
	account := "bench-" + b.run
	if _, err := svc.CreateAccount(ctx, account, account+"@example.com"); err != nil {
		return err
	}
	if _, _, err := svc.Grant(ctx, account, credits.GrantRequest{Amount: int64(2 * requests)}, nil); err != nil { // debit and debit+hook
		return err
	}
	b.sessions = make([]string, requests)
	now := time.Now().UTC()
	return svc.Store.Update(ctx, func(tx credits.Tx) error {
		for i := range b.sessions {
			b.sessions[i] = fmt.Sprintf("cs_bench_%s_%d", b.run, i)
			err := tx.CreateCheckoutSession(credits.CheckoutSession{ID: b.sessions[i], AccountID: account, PackID: pack.ID, Quantity: 1,
				ExpectedAmount: 100, Currency: "usd", Status: credits.SessionOpen, CreatedAt: now, UpdatedAt: now})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *bench) post(path string, body []byte, header map[string]string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, b.base+path, bytes.NewReader(body))
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

func (b *bench) webhook(i int) (int, error) {
	payload := fmt.Appendf(nil, `{"id":"evt_bench_%s_%d","object":"event","type":"checkout.session.completed","livemode":false,`+
		`"data":{"object":{"id":%q,"object":"checkout.session","payment_status":"paid","amount_total":100,"currency":"usd"}}}`, b.run, i, b.sessions[i])
	return b.post("/stripe/webhook", payload, map[string]string{"Stripe-Signature": stripe.SignatureHeader(payload, b.secret, time.Now())})
}

func (b *bench) debit(i int) (int, error) {
	return b.post("/v1/accounts/bench-"+b.run+"/debits", []byte(`{"amount":1}`), map[string]string{
		"Authorization": "Bearer " + b.apiKey, "Idempotency-Key": fmt.Sprintf("bench-%d", i)})
}

type result struct {
	perSecond float64
	latencies []time.Duration
	errors    int
}

// p returns the q-th percentile latency in milliseconds.
func (r result) p(q int) float64 {
	if len(r.latencies) == 0 {
		return 0
	}
	i := min(len(r.latencies)-1, len(r.latencies)*q/100)
	return float64(r.latencies[i]) / float64(time.Millisecond)
}

func (b *bench) measure(requests, concurrency int, do func(int) (int, error), want int) result {
	latencies := make([]time.Duration, requests)
	var errs int
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t := time.Now()
				status, err := do(i)
				latencies[i] = time.Since(t)
				if err != nil || status != want {
					mu.Lock()
					errs++
					mu.Unlock()
				}
			}
		}()
	}
	for i := range requests {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	return result{perSecond: float64(requests) / elapsed.Seconds(), latencies: latencies, errors: errs}
}
