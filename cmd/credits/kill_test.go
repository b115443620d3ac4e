package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/stripemock"
	"github.com/credits/credits/internal/testkit"
	"github.com/credits/credits/sqlite"
)

// TestAcknowledgedEventsSurviveKill9 runs the real binary, delivers signed
// events concurrently, kills the process with SIGKILL in the middle, and checks
// that every event that was answered 2xx was credited.
func TestAcknowledgedEventsSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	dbPath := filepath.Join(dir, "credits.db")
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(),
		"CREDITS_DATABASE_URL="+dbPath, "CREDITS_API_KEY="+testAPIKey, "STRIPE_SECRET_KEY=sk_test_123",
		"STRIPE_WEBHOOK_SECRET="+testkit.WebhookSecret, "STRIPE_API_BASE="+stripemock.Start(t))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := waitForListening(t, bufio.NewScanner(stderr))
	c := client{t, base}

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
