package storetest

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credits/credits"
)

// slowReceiver answers 200 after delay, or gives up when its request is
// canceled; it counts the requests that came and the ones canceled.
type slowReceiver struct {
	delay              time.Duration
	arrived, cancelled atomic.Int32
	started            chan struct{} // one send per request that arrived
}

func (rc *slowReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body) // read all: only then does the server watch for the client going away
	rc.arrived.Add(1)
	select {
	case rc.started <- struct{}{}:
	default:
	}
	select {
	case <-time.After(rc.delay):
		w.WriteHeader(http.StatusOK)
	case <-r.Context().Done():
		rc.cancelled.Add(1)
	}
}

// addSlowEndpoint adds an endpoint for every event, answering after 9 s.
func addSlowEndpoint(t *testing.T, f *fixture) (*slowReceiver, credits.WebhookEndpoint) {
	slow := &slowReceiver{delay: 9 * time.Second, started: make(chan struct{}, 16)}
	url := f.svc.Webhooks.(*endpoints).serve(slow)
	ep, err := f.svc.CreateWebhookEndpoint(context.Background(), url+"/hooks", []string{"*"}, "slow")
	if err != nil {
		t.Fatal(err)
	}
	return slow, ep
}

// eventually reports whether cond holds within limit.
func eventually(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// waitFor waits up to limit for a send on c.
func waitFor(t *testing.T, c <-chan struct{}, limit time.Duration, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(limit):
		t.Fatalf("%s: nothing within %s", what, limit)
	}
}

// testSlowEndpointDelaysOnlyItself: with one endpoint answering after 9 s,
// another endpoint's events all arrive within a second; removing the slow
// endpoint cancels its request in flight at once, and the test stops by
// itself, long before the 9 s.
func testSlowEndpointDelaysOnlyItself(t *testing.T, open Opener) {
	f, fast, fastServer := webhookFixture(t, open)
	ctx := context.Background()
	slow, slowEndpoint := addSlowEndpoint(t, f) // first: claimed first
	f.now = f.now.Add(time.Second)
	fastEndpoint, err := f.svc.CreateWebhookEndpoint(ctx, fastServer+"/hooks", []string{"*"}, "fast")
	if err != nil {
		t.Fatal(err)
	}
	fast.secret = fastEndpoint.Secret
	for range 5 {
		f.grant("u1", 10, 0, 0)
	}

	start := time.Now()
	done := make(chan error, 1)
	go func() { _, err := f.svc.DeliverWebhooks(ctx); done <- err }()
	waitFor(t, slow.started, 5*time.Second, "the slow endpoint's first request")
	for deadline := start.Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		fast.mu.Lock()
		got := len(fast.ids)
		fast.mu.Unlock()
		if got == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the healthy endpoint got %d of 5 events within a second, behind a 9 s endpoint", got)
		}
	}

	if err := f.svc.RemoveWebhookEndpoint(ctx, slowEndpoint.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("DeliverWebhooks = %v after the slow endpoint was removed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the delivery to the removed endpoint went on")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("the round took %s: the removed endpoint's request was not canceled", elapsed)
	}
	if !eventually(time.Second, func() bool { return slow.cancelled.Load() == 1 }) || slow.arrived.Load() != 1 {
		t.Errorf("the slow endpoint got %d requests, %d canceled; want 1, canceled", slow.arrived.Load(), slow.cancelled.Load())
	}
}

// testDisabledEndpointStopsOnEveryReplica: an endpoint disabled through
// another replica (another Service on the same store) has its request in
// flight canceled within a second or so; its event is not marked delivered,
// it stays disabled, and once enabled again the event is sent again.
func testDisabledEndpointStopsOnEveryReplica(t *testing.T, open Opener) {
	f, _, _ := webhookFixture(t, open)
	ctx := context.Background()
	slow, ep := addSlowEndpoint(t, f)
	f.grant("u1", 10, 0, 0)
	other := credits.NewService(f.db)
	other.Now = f.svc.Now

	done := make(chan error, 1)
	go func() { _, err := f.svc.DeliverWebhooks(ctx); done <- err }()
	waitFor(t, slow.started, 5*time.Second, "the request in flight")
	disabledAt := time.Now()
	if _, err := other.DisableWebhookEndpoint(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("DeliverWebhooks = %v after the endpoint was disabled", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the delivery to the disabled endpoint went on")
	}
	if took := time.Since(disabledAt); took > 2*time.Second || !eventually(time.Second, func() bool { return slow.cancelled.Load() == 1 }) {
		t.Errorf("the request in flight ended %s after the disable (canceled: %d); want within 2 s, canceled", took, slow.cancelled.Load())
	}
	got, err := f.svc.WebhookEndpoint(ctx, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != credits.EndpointDisabled || got.Cursor != ep.Cursor {
		t.Errorf("after the disable: %s, cursor %d; want disabled, the event not delivered (cursor %d)", got.Status, got.Cursor, ep.Cursor)
	}
	if n, err := f.svc.DeliverWebhooks(ctx); err != nil || n != 0 {
		t.Errorf("a round while disabled made %d attempts, %v; want none", n, err)
	}
}

// testDispatcherServesOthersMeanwhile: the dispatcher does not wait for a
// slow endpoint before it claims the others again: events written while a
// 9 s request is in flight reach a healthy endpoint within a second.
func testDispatcherServesOthersMeanwhile(t *testing.T, open Opener) {
	f, fast, fastServer := webhookFixture(t, open)
	slow, slowEndpoint := addSlowEndpoint(t, f)
	fastEndpoint, err := f.svc.CreateWebhookEndpoint(context.Background(), fastServer+"/hooks", []string{"*"}, "fast")
	if err != nil {
		t.Fatal(err)
	}
	fast.secret = fastEndpoint.Secret
	f.grant("u1", 10, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); f.svc.RunWebhookDispatcher(ctx, 100*time.Millisecond) }()
	defer func() {
		cancel()
		<-stopped
	}()
	waitFor(t, slow.started, 5*time.Second, "the slow endpoint's request")

	for range 3 {
		f.grant("u1", 10, 0, 0) // while the slow request is in flight
	}
	received := func() bool {
		fast.mu.Lock()
		defer fast.mu.Unlock()
		return len(fast.ids) == 4
	}
	if !eventually(time.Second, received) {
		fast.mu.Lock()
		t.Errorf("the healthy endpoint got %d of 4 events within a second of them, behind a 9 s endpoint", len(fast.ids))
		fast.mu.Unlock()
	}
	if err := f.svc.RemoveWebhookEndpoint(context.Background(), slowEndpoint.ID); err != nil {
		t.Fatal(err) // its request ends now: the dispatcher stops at once
	}
}
