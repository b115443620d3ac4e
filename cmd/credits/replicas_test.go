package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/pgtest"
	"github.com/credits/credits/internal/stripemock"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/postgres"
)

// replica is one `credits serve` process.
type replica struct {
	cmd  *exec.Cmd
	base string
}

func startReplicas(t *testing.T, n int, databaseURL string) []*replica {
	t.Helper()
	bin := buildBinary(t)
	mock := stripemock.Start(t)
	replicas := make([]*replica, n)
	for i := range replicas {
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
		cmd.Env = childEnv(
			"CREDITS_DATABASE_URL="+databaseURL, "CREDITS_API_KEY="+testAPIKey, "STRIPE_SECRET_KEY=sk_test_123",
			"STRIPE_WEBHOOK_SECRET="+testkit.WebhookSecret, "STRIPE_API_BASE="+mock)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		replicas[i] = &replica{cmd: cmd, base: waitForListening(t, bufio.NewScanner(stderr))}
	}
	return replicas
}

// post sends one request and returns its status and body; status 0 when the
// request got no answer.
func post(client *http.Client, url, key string, body []byte, header map[string]string) (int, []byte) {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 100}}

func TestReplicasShareOnePostgres(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs three processes")
	}
	url := pgtest.URL(t)
	replicas := startReplicas(t, 3, url)
	c := client{t, replicas[0].base}
	c.must(201, "POST", "/v1/packs", map[string]any{"id": "p", "name": "P", "credits": 10, "unit_amount": 100, "currency": "usd"})

	t.Run("each session credits once", func(t *testing.T) {
		const sessions, rounds = 50, 20
		ids := make([]string, sessions)
		for i := range ids {
			account := fmt.Sprintf("buyer-%d", i)
			r := client{t, replicas[i%3].base}
			r.must(201, "POST", "/v1/accounts", map[string]any{"id": account, "email": account + "@example.com"})
			ids[i] = r.must(201, "POST", "/v1/accounts/"+account+"/checkout_sessions", map[string]any{"pack_id": "p"})["id"].(string)
		}
		var bad atomic.Int64
		start := time.Now()
		for round := range rounds {
			var wg sync.WaitGroup
			for i, id := range ids {
				payload := testkit.Event(fmt.Sprintf("evt_storm_%d", i), credits.EventCheckoutCompleted, false, testkit.Session{ID: id, PaymentStatus: "paid"})
				for _, rep := range replicas {
					wg.Add(1)
					go func() {
						defer wg.Done()
						status, body := post(httpClient, rep.base+"/stripe/webhook", "", payload, map[string]string{"Stripe-Signature": testkit.Sign(payload)})
						if status != 200 {
							bad.Add(1)
							t.Errorf("round %d, session %d: %d %s", round, i, status, body)
						}
					}()
				}
			}
			wg.Wait()
		}
		t.Logf("%d webhook deliveries (%d sessions × 3 replicas × %d rounds) in %v, %d not answered 200",
			sessions*3*rounds, sessions, rounds, time.Since(start), bad.Load())
		for i := range ids {
			account := client{t, replicas[(i+1)%3].base}.must(200, "GET", fmt.Sprintf("/v1/accounts/buyer-%d", i), nil)
			if account["balance"] != 10.0 {
				t.Errorf("buyer-%d balance = %v, want 10: credited exactly once", i, account["balance"])
			}
		}
	})

	t.Run("1000 debits over three replicas", func(t *testing.T) {
		c.must(201, "POST", "/v1/accounts", map[string]any{"id": "spender", "email": "spender@example.com"})
		c.must(201, "POST", "/v1/accounts/spender/grants", map[string]any{"amount": 100})
		statuses := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 96)
		start := time.Now()
		for i := range 1000 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				status, _ := post(httpClient, replicas[i%3].base+"/v1/accounts/spender/debits", fmt.Sprintf("d-%d", i), []byte(`{"amount":1}`), nil)
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		t.Logf("1000 concurrent debits over 3 replicas against 100 available: %v (status: count) in %v", statuses, time.Since(start))
		if statuses[201] != 100 || statuses[402] != 900 {
			t.Errorf("statuses = %v, want 100 × 201 and 900 × 402", statuses)
		}
		if a := c.must(200, "GET", "/v1/accounts/spender", nil); a["balance"] != 0.0 {
			t.Errorf("balance = %v, want 0", a["balance"])
		}
	})

	t.Run("one idempotency key on three replicas", func(t *testing.T) {
		c.must(201, "POST", "/v1/accounts", map[string]any{"id": "keyed", "email": "keyed@example.com"})
		c.must(201, "POST", "/v1/accounts/keyed/grants", map[string]any{"amount": 100})
		const requests = 30
		bodies := make([][]byte, requests)
		statuses := make([]int, requests)
		var wg sync.WaitGroup
		for i := range requests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i], bodies[i] = post(httpClient, replicas[i%3].base+"/v1/accounts/keyed/debits", "same-key", []byte(`{"amount":7}`), nil)
			}()
		}
		wg.Wait()
		for i := range requests {
			if statuses[i] != 201 || !bytes.Equal(bodies[i], bodies[0]) {
				t.Errorf("answer %d: %d %s; want 201 and %s", i, statuses[i], bodies[i], bodies[0])
			}
		}
		if a := c.must(200, "GET", "/v1/accounts/keyed", nil); a["balance"] != 93.0 {
			t.Errorf("balance = %v, want 93: one effect", a["balance"])
		}
	})

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"verify", "--database-url", url}, env(nil), &stdout, &stderr); code != 0 {
		t.Errorf("verify: exit %d %s %s", code, stdout.String(), stderr.String())
	}
}

func TestReplicaKilledMidLoad(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs three processes")
	}
	url := pgtest.URL(t)
	replicas := startReplicas(t, 3, url)
	c := client{t, replicas[0].base}
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "u", "email": "u@example.com"})
	c.must(201, "POST", "/v1/accounts/u/grants", map[string]any{"amount": 100000})

	type ack struct{ id float64 }
	const debits = 900
	var mu sync.Mutex
	var acked []ack
	var lost [3]atomic.Int64 // debits without a 201, by replica
	var wg sync.WaitGroup
	sem := make(chan struct{}, 48)
	killed := make(chan struct{})
	var once sync.Once
	for i := range debits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			status, body := post(httpClient, replicas[i%3].base+"/v1/accounts/u/debits", fmt.Sprintf("k-%d", i), []byte(`{"amount":1}`), nil)
			if status != 201 {
				lost[i%3].Add(1)
				return
			}
			var r credits.DebitResult
			if err := jsonUnmarshal(body, &r); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			acked = append(acked, ack{float64(r.ID)})
			if len(acked) == 300 {
				once.Do(func() { close(killed) })
			}
			mu.Unlock()
		}()
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-killed:
	case <-allDone:
		t.Fatalf("every debit finished before 300 were acknowledged: %d acknowledged", len(acked))
	case <-time.After(2 * time.Minute):
		t.Fatal("300 debits were not acknowledged within 2 minutes")
	}
	if err := replicas[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-allDone
	if n := lost[0].Load() + lost[1].Load(); n != 0 {
		t.Errorf("%d debits sent to the surviving replicas got no 201", n)
	}
	if got := int64(len(acked)) + lost[2].Load(); got != debits {
		t.Errorf("%d acknowledged + %d lost on the killed replica = %d, want %d", len(acked), lost[2].Load(), got, debits)
	}

	// The survivors keep answering.
	for i := range 20 {
		if status, body := post(httpClient, replicas[i%2].base+"/v1/accounts/u/debits", fmt.Sprintf("after-%d", i), []byte(`{"amount":1}`), nil); status != 201 {
			t.Errorf("survivor %d after the kill: %d %s", i%2, status, body)
		}
	}

	store, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ids := map[int64]bool{}
	inLedger := 0
	err = store.View(context.Background(), func(tx credits.Tx) error {
		before := int64(0)
		for {
			entries, err := tx.Entries("u", before, 1000)
			if err != nil || len(entries) == 0 {
				return err
			}
			for _, e := range entries {
				ids[e.ID] = true
				if e.Kind == credits.EntryDebit {
					inLedger++
				}
			}
			before = entries[len(entries)-1].ID
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acked {
		if !ids[int64(a.id)] {
			t.Errorf("debit %v was acknowledged but is not in the ledger", a.id)
		}
	}
	// A debit the killed replica committed but could not answer is in the
	// ledger too; nothing else is.
	if minimum, maximum := len(acked)+20, debits+20; inLedger < minimum || inLedger > maximum {
		t.Errorf("%d debits in the ledger, want between %d (acknowledged) and %d (sent)", inLedger, minimum, maximum)
	}
	t.Logf("SIGKILL of one of 3 replicas mid-load: %d debits acknowledged (all in the ledger), %d without an answer, %d in the ledger",
		len(acked), lost[2].Load(), inLedger)
	violations, err := credits.NewService(store).Verify(context.Background())
	if err != nil || len(violations) != 0 {
		t.Errorf("verify: %v %v", violations, err)
	}
}
