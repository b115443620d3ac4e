package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/creditswebhook"
	"github.com/credits/credits/internal/stripemock"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/sqlite"
)

// TestAcknowledgedEventsSurviveKill9 runs the real binary, delivers signed
// events concurrently, kills the process with SIGKILL in the middle, and checks
// that every event that was answered 2xx was credited.
func TestAcknowledgedEventsSurviveKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	dbPath := filepath.Join(dir, "credits.db")
	cmd, c := startServe(t, bin, "CREDITS_DATABASE_URL="+dbPath, "STRIPE_SECRET_KEY=sk_test_123",
		"STRIPE_WEBHOOK_SECRET="+testkit.WebhookSecret, "STRIPE_API_BASE="+stripemock.Start(t))
	base := c.base

	c.must(201, "POST", "/v1/packs", map[string]any{"id": "p", "name": "P", "credits": 10, "unit_amount": 100, "currency": "usd"})
	const sessions = 40
	ids := make([]string, sessions)
	for i := range ids {
		account := fmt.Sprintf("u%d", i)
		c.must(201, "POST", "/v1/accounts", map[string]any{"id": account, "email": account + "@example.com"})
		ids[i] = c.must(201, "POST", "/v1/accounts/"+account+"/checkout_sessions", map[string]any{"pack_id": "p"})["id"].(string)
	}
	// stripe-mock may hand out the same session id twice; only distinct ones count.
	acked := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	killed := make(chan struct{})
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := testkit.Event(fmt.Sprintf("evt_%d", i), credits.EventCheckoutCompleted, false, testkit.Session{ID: id, PaymentStatus: "paid"})
			req, _ := http.NewRequest("POST", base+"/stripe/webhook", bytesReader(payload))
			req.Header.Set("Stripe-Signature", testkit.Sign(payload))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return // the process died before answering: Stripe would retry
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				mu.Lock()
				acked[id] = true
				if len(acked) == sessions/2 {
					close(killed)
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-killed:
	case <-time.After(30 * time.Second):
		t.Fatal("half the events were not acknowledged in 30s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	wg.Wait()

	store, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	mu.Lock()
	defer mu.Unlock()
	err = store.View(context.Background(), func(tx credits.Tx) error {
		for id := range acked {
			if _, err := tx.PurchaseBySession(id); err != nil {
				t.Errorf("session %s was acknowledged but is not credited: %v", id, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events acknowledged before SIGKILL, all credited", len(acked))
	violations, err := credits.NewService(store).Verify(context.Background())
	if err != nil || len(violations) != 0 {
		t.Errorf("verify after SIGKILL: %v %v", violations, err)
	}
}

var listeningLine = regexp.MustCompile(`msg="credits listening" url=http://(\S+)`)

func waitForListening(t *testing.T, scanner *bufio.Scanner) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		for scanner.Scan() {
			if m := listeningLine.FindStringSubmatch(scanner.Text()); m != nil {
				found <- "http://" + m[1]
			}
		}
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(30 * time.Second):
		t.Fatal("credits serve did not start within 30s")
		return ""
	}
}

// TestWebhookEventsSurviveKill9: an event for the application committed
// with its cause, not yet delivered (the receiver was answering 503), is
// delivered by the next process after SIGKILL, with its id unchanged.
func TestWebhookEventsSurviveKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	bin := buildBinary(t)
	dbPath := filepath.Join(t.TempDir(), "credits.db")
	var mu sync.Mutex
	up, refused := false, 0
	var delivered []string
	secret := ""
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, err := creditswebhook.VerifyRequest(r, secret)
		if err != nil || !up {
			refused++
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var ev struct{ ID, Type string }
		_ = json.Unmarshal(body, &ev)
		delivered = append(delivered, ev.Type+" "+ev.ID)
	}))
	t.Cleanup(receiver.Close)
	start := func() (*exec.Cmd, client) { return startServe(t, bin, "CREDITS_DATABASE_URL="+dbPath) }
	first, c := start()
	created := c.must(201, "POST", "/v1/webhook_endpoints", map[string]any{"url": receiver.URL, "events": []string{"credits.granted"}})
	mu.Lock()
	secret = created["secret"].(string)
	mu.Unlock()
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "u1", "email": "u1@example.com"})
	c.must(201, "POST", "/v1/accounts/u1/grants", map[string]any{"amount": 7, "reason": "committed before the kill"})
	waitFor(t, 15*time.Second, "a first, refused, attempt", func() bool { mu.Lock(); defer mu.Unlock(); return refused > 0 })
	// Once the failed attempt is recorded the endpoint is released and the
	// next attempt is 10 s away: the kill lands between commit and delivery.
	deliveries := "/v1/webhook_endpoints/" + created["endpoint"].(map[string]any)["id"].(string) + "/deliveries"
	waitFor(t, 15*time.Second, "recorded attempt", func() bool { return len(c.must(200, "GET", deliveries, nil)["data"].([]any)) > 0 })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	mu.Lock()
	up = true
	mu.Unlock()

	start()
	waitFor(t, 30*time.Second, "the event after the restart", func() bool { mu.Lock(); defer mu.Unlock(); return len(delivered) > 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != 1 || !strings.HasPrefix(delivered[0], "credits.granted evt_") {
		t.Errorf("delivered after SIGKILL and restart: %v, want the one credits.granted", delivered)
	}
}

// startServe runs the binary's serve on a free port with the test API key
// and env added to this process's environment, killed when the test ends.
func startServe(t *testing.T, bin string, env ...string) (*exec.Cmd, client) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = childEnv(append([]string{"CREDITS_API_KEY=" + testAPIKey}, env...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, client{t, waitForListening(t, bufio.NewScanner(stderr))}
}

func waitFor(t *testing.T, limit time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
