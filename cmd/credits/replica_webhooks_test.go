package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credits/credits/creditswebhook"
	"github.com/credits/credits/internal/pgtest"
)

// TestWebhooksFromTwoReplicas: two `credits serve` processes on one
// PostgreSQL database, both running the dispatcher, send each event to the
// endpoint once, one request at a time, in the order written: the endpoint
// is claimed by one replica at a time.
func TestWebhooksFromTwoReplicas(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs two processes")
	}
	replicas := startReplicas(t, 2, pgtest.URL(t))
	var mu sync.Mutex
	var inFlight, overlaps atomic.Int32
	count := map[string]int{}
	var order []int64
	secret := ""
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inFlight.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer inFlight.Add(-1)
		mu.Lock()
		body, err := creditswebhook.VerifyRequest(r, secret)
		mu.Unlock()
		if err != nil {
			t.Errorf("a delivery that does not verify: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		time.Sleep(2 * time.Millisecond) // long enough for a second sender to overlap, if there were one
		var ev struct {
			ID       string
			Sequence int64
		}
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		count[ev.ID]++
		order = append(order, ev.Sequence)
		mu.Unlock()
	}))
	t.Cleanup(receiver.Close)
	c := client{t, replicas[0].base}
	created := c.must(201, "POST", "/v1/webhook_endpoints", map[string]any{"url": receiver.URL, "events": []string{"credits.granted"}})
	mu.Lock()
	secret = created["secret"].(string)
	mu.Unlock()
	c.must(201, "POST", "/v1/accounts", map[string]any{"id": "u1", "email": "u1@example.com"})
	const grants = 60
	var wg sync.WaitGroup
	for i := range grants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := client{t, replicas[i%2].base}
			r.must(201, "POST", "/v1/accounts/u1/grants", map[string]any{"amount": 1, "reason": fmt.Sprintf("grant %d", i)})
		}()
	}
	wg.Wait()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d events", grants), func() bool { mu.Lock(); defer mu.Unlock(); return len(order) >= grants })
	// Nothing may be sent again: rather than wait a while for nothing, one
	// more grant through each replica in turn must arrive next, after
	// dispatcher rounds that began with all the others delivered; an event
	// sent again before it breaks the order or the counts below.
	const sentinels = 2
	for i := range sentinels {
		client{t, replicas[i%2].base}.must(201, "POST", "/v1/accounts/u1/grants", map[string]any{"amount": 1, "reason": fmt.Sprintf("sentinel %d", i)})
		waitFor(t, 60*time.Second, fmt.Sprintf("sentinel %d", i), func() bool { mu.Lock(); defer mu.Unlock(); return len(order) >= grants+i+1 })
	}
	mu.Lock()
	defer mu.Unlock()
	if len(count) != grants+sentinels || len(order) != grants+sentinels {
		t.Errorf("%d distinct events in %d requests, want %d of each", len(count), len(order), grants+sentinels)
	}
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Errorf("sequence %d after %d: out of order", order[i], order[i-1])
		}
	}
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d requests overlapped another: two replicas sent at once", n)
	}
	// A replica records its attempt after the endpoint answered: the last
	// one may still be on its way when the receiver has seen every event.
	var deliveries []any
	waitFor(t, 60*time.Second, fmt.Sprintf("%d attempts recorded", grants+sentinels), func() bool {
		deliveries = c.must(200, "GET", "/v1/webhook_endpoints/"+created["endpoint"].(map[string]any)["id"].(string)+"/deliveries?limit=100", nil)["data"].([]any)
		return len(deliveries) >= grants+sentinels
	})
	if len(deliveries) != grants+sentinels {
		t.Errorf("%d attempts recorded, want %d (one per event)", len(deliveries), grants+sentinels)
	}
}
