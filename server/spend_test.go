package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
)

func (h *harness) keyed(method, path, body, key string) response {
	h.t.Helper()
	return h.do(method, path, body, map[string]string{"Authorization": "Bearer " + apiKey, "Idempotency-Key": key})
}

func (h *harness) fund(account string, amount int64) {
	h.t.Helper()
	if r := h.api("POST", "/v1/accounts", fmt.Sprintf(`{"id":%q,"email":"%s@example.com"}`, account, account)); r.status != 201 {
		h.t.Fatalf("create account: %d %s", r.status, r.raw)
	}
	if amount > 0 {
		if r := h.api("POST", "/v1/accounts/"+account+"/grants", fmt.Sprintf(`{"amount":%d,"reason":"test"}`, amount)); r.status != 201 {
			h.t.Fatalf("grant: %d %s", r.status, r.raw)
		}
	}
}

func TestSpendValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	tests := []struct {
		name, path, body, key string
		wantStatus            int
		wantInMessage         string
	}{
		{"debit zero", "/v1/accounts/u1/debits", `{"amount":0}`, "k1", 400, "amount"},
		{"debit negative", "/v1/accounts/u1/debits", `{"amount":-5}`, "k2", 400, "amount"},
		{"debit fractional", "/v1/accounts/u1/debits", `{"amount":1.5}`, "k3", 400, "amount"},
		{"debit string", "/v1/accounts/u1/debits", `{"amount":"5"}`, "k4", 400, "amount"},
		{"debit overflowing", "/v1/accounts/u1/debits", `{"amount":9223372036854775808}`, "k5", 400, "amount"},
		{"debit too large", "/v1/accounts/u1/debits", `{"amount":9223372036854775807}`, "k6", 400, "amount"},
		{"debit exponent", "/v1/accounts/u1/debits", `{"amount":1e2}`, "k7", 400, "amount"},
		{"debit without key", "/v1/accounts/u1/debits", `{"amount":1}`, "", 400, "Idempotency-Key"},
		{"debit key too long", "/v1/accounts/u1/debits", `{"amount":1}`, strings.Repeat("k", 256), 400, "Idempotency-Key"},
		{"debit key not printable", "/v1/accounts/u1/debits", `{"amount":1}`, "k\x01", 400, "Idempotency-Key"},
		{"debit too much metadata", "/v1/accounts/u1/debits", `{"amount":1,"metadata":{` + manyKeys(21) + `}}`, "k8", 400, "metadata"},
		{"debit unknown account", "/v1/accounts/ghost/debits", `{"amount":1}`, "k9", 404, "ghost"},
		{"debit short", "/v1/accounts/u1/debits", `{"amount":101}`, "k10", 402, "available"},
		{"hold zero", "/v1/accounts/u1/holds", `{"amount":0}`, "h1", 400, "amount"},
		{"hold too long", "/v1/accounts/u1/holds", `{"amount":1,"expires_in_seconds":99999999}`, "h2", 400, "expires_in_seconds"},
		{"hold negative expiry", "/v1/accounts/u1/holds", `{"amount":1,"expires_in_seconds":-1}`, "h3", 400, "expires_in_seconds"},
		{"hold short", "/v1/accounts/u1/holds", `{"amount":101}`, "h4", 402, "available"},
		{"hold without key", "/v1/accounts/u1/holds", `{"amount":1}`, "", 400, "Idempotency-Key"},
		{"grant negative", "/v1/accounts/u1/grants", `{"amount":-1}`, "", 400, "amount"},
		{"grant in the past", "/v1/accounts/u1/grants", `{"amount":1,"expires_at":"2001-01-01T00:00:00Z"}`, "", 400, "expires_at"},
		{"grant bad time", "/v1/accounts/u1/grants", `{"amount":1,"expires_at":"tomorrow"}`, "", 400, "JSON"},
		{"grant bad priority", "/v1/accounts/u1/grants", `{"amount":1,"priority":-1}`, "", 400, "priority"},
		{"adjustment zero", "/v1/accounts/u1/adjustments", `{"amount":0,"reason":"x"}`, "", 400, "amount"},
		{"adjustment without reason", "/v1/accounts/u1/adjustments", `{"amount":5}`, "", 400, "reason"},
		{"capture unknown hold", "/v1/holds/hold_nope/capture", ``, "", 404, "hold_nope"},
		{"release unknown hold", "/v1/holds/hold_nope/release", ``, "", 404, "hold_nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.api("GET", "/v1/accounts/u1", "").raw
			header := map[string]string{"Authorization": "Bearer " + apiKey}
			if tt.key != "" {
				header["Idempotency-Key"] = tt.key
			}
			r := h.do("POST", tt.path, tt.body, header)
			if r.status != tt.wantStatus || !strings.Contains(r.errorMessage(), tt.wantInMessage) {
				t.Errorf("got %d %q, want %d and a message naming %q", r.status, r.errorMessage(), tt.wantStatus, tt.wantInMessage)
			}
			if after := h.api("GET", "/v1/accounts/u1", "").raw; !bytes.Equal(before, after) {
				t.Errorf("a refused request changed the account: %s -> %s", before, after)
			}
		})
	}
}

func manyKeys(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	return strings.Join(parts, ",")
}

func TestDebitReplay(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	h.fund("u2", 100)
	first := h.keyed("POST", "/v1/accounts/u1/debits", `{"amount":10,"description":"job 1"}`, "job-1")
	if first.status != 201 || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	for _, body := range []string{`{"amount":10,"description":"job 1"}`, `{ "description": "job 1", "amount": 10 }`} {
		again := h.keyed("POST", "/v1/accounts/u1/debits", body, "job-1")
		if again.status != 201 || !bytes.Equal(again.raw, first.raw) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("repeat of %s: %d %s (replayed %q), want the first answer", body, again.status, again.raw, again.header.Get("Idempotent-Replayed"))
		}
	}
	if r := h.keyed("POST", "/v1/accounts/u1/debits", `{"amount":11,"description":"job 1"}`, "job-1"); r.status != 422 || r.errorCode() != credits.EIDEMPOTENCY {
		t.Errorf("same key, other body: %d %s, want 422", r.status, r.raw)
	}
	// Keys are scoped to the account.
	if r := h.keyed("POST", "/v1/accounts/u2/debits", `{"amount":10,"description":"job 1"}`, "job-1"); r.status != 201 || r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("same key on another account: %d %s", r.status, r.raw)
	}
	for account, want := range map[string]float64{"u1": 90, "u2": 90} {
		if r := h.api("GET", "/v1/accounts/"+account, ""); r.body["balance"] != want {
			t.Errorf("%s balance = %v, want %v", account, r.body["balance"], want)
		}
	}
	// A 402 is replayed too.
	short := h.keyed("POST", "/v1/accounts/u1/debits", `{"amount":500}`, "big")
	h.api("POST", "/v1/accounts/u1/grants", `{"amount":1000}`)
	again := h.keyed("POST", "/v1/accounts/u1/debits", `{"amount":500}`, "big")
	if short.status != 402 || again.status != 402 || !bytes.Equal(short.raw, again.raw) {
		t.Errorf("replayed 402: %d %s then %d %s", short.status, short.raw, again.status, again.raw)
	}
}

func TestHoldLifecycleOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	r := h.keyed("POST", "/v1/accounts/u1/holds", `{"amount":40,"expires_in_seconds":60,"description":"render"}`, "hold-1")
	if r.status != 201 || r.body["status"] != "held" || r.body["amount"] != 40.0 {
		t.Fatalf("hold: %d %s", r.status, r.raw)
	}
	expires, err := time.Parse(time.RFC3339Nano, r.body["expires_at"].(string))
	if err != nil || time.Until(expires) > time.Minute || time.Until(expires) < 50*time.Second {
		t.Errorf("expires_at = %v", r.body["expires_at"])
	}
	id := r.body["id"].(string)
	if a := h.api("GET", "/v1/accounts/u1", ""); a.body["available"] != 60.0 || a.body["held"] != 40.0 {
		t.Errorf("account with a hold: %s", a.raw)
	}
	if r := h.api("GET", "/v1/accounts/u1/holds?status=held", ""); len(r.body["data"].([]any)) != 1 {
		t.Errorf("holds list: %s", r.raw)
	}
	if r := h.api("POST", "/v1/holds/"+id+"/capture", `{"amount":41}`); r.status != 400 {
		t.Errorf("capture more than held: %d", r.status)
	}
	if r := h.api("POST", "/v1/holds/"+id+"/capture", `{"amount":15}`); r.status != 200 || r.body["captured"] != 15.0 {
		t.Errorf("capture: %d %s", r.status, r.raw)
	}
	if r := h.api("POST", "/v1/holds/"+id+"/release", ``); r.status != 409 {
		t.Errorf("release after capture: %d, want 409", r.status)
	}
	if a := h.api("GET", "/v1/accounts/u1", ""); a.body["balance"] != 85.0 || a.body["available"] != 85.0 {
		t.Errorf("account after capture: %s", a.raw)
	}
}

// TestHoldStateBeforeAmount: a closed hold answers 409 naming its state,
// whatever the capture body; {} captures all of an open hold.
func TestHoldStateBeforeAmount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	hold := func(key string) string {
		r := h.keyed("POST", "/v1/accounts/u1/holds", `{"amount":10}`, key)
		if r.status != 201 {
			t.Fatalf("hold: %d %s", r.status, r.raw)
		}
		return r.body["id"].(string)
	}
	released := hold("h-released")
	if r := h.api("POST", "/v1/holds/"+released+"/release", ``); r.status != 200 {
		t.Fatalf("release: %d %s", r.status, r.raw)
	}
	for _, body := range []string{``, `{}`, `{"amount":0}`, `{"amount":5}`, `{"amount":500}`} {
		r := h.api("POST", "/v1/holds/"+released+"/capture", body)
		if r.status != 409 || r.errorCode() != "conflict" || !strings.Contains(r.errorMessage(), "released") {
			t.Errorf("capture %q of a released hold: %d %s, want 409 naming its state", body, r.status, r.raw)
		}
	}
	open := hold("h-open")
	if r := h.api("POST", "/v1/holds/"+open+"/capture", `{"amount":0}`); r.status != 400 {
		t.Errorf("capture of 0: %d %s, want 400", r.status, r.raw)
	}
	if r := h.api("POST", "/v1/holds/"+open+"/capture", `{}`); r.status != 200 || r.body["captured"] != 10.0 {
		t.Errorf("capture {}: %d %s, want all 10 captured", r.status, r.raw)
	}
	if r := h.api("POST", "/v1/holds/"+open+"/capture", `{}`); r.status != 200 || r.body["captured"] != 10.0 {
		t.Errorf("capture {} again: %d %s, want the same answer", r.status, r.raw)
	}
}

// TestConcurrentDebitsOverHTTP sends 1,000 concurrent debits of 1 credit
// against 100 available through a real HTTP server.
func TestConcurrentDebitsOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	const requests = 1000
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	sem := make(chan struct{}, 128) // bounded fan-out: every request is in flight with others
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			req, _ := http.NewRequest("POST", srv.URL+"/v1/accounts/u1/debits", strings.NewReader(`{"amount":1}`))
			req.Header.Set("Authorization", "Bearer "+apiKey)
			req.Header.Set("Idempotency-Key", fmt.Sprintf("debit-%d", i))
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if statuses[201] != 100 || statuses[402] != 900 || len(statuses) != 2 {
		t.Errorf("statuses = %v, want 100 × 201 and 900 × 402", statuses)
	}
	account := h.api("GET", "/v1/accounts/u1", "")
	if account.body["balance"] != 0.0 || account.body["available"] != 0.0 {
		t.Errorf("account after the storm: %s", account.raw)
	}
	violations, err := h.svc.Verify(t.Context())
	if err != nil || len(violations) != 0 {
		t.Errorf("verify: %v %v", violations, err)
	}
	t.Logf("1000 concurrent debits: %d succeeded, %d refused with 402, in %v", statuses[201], statuses[402], elapsed)
}

// TestConcurrentSameKeyOverHTTP sends one Idempotency-Key 50 times at once.
func TestConcurrentSameKeyOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fund("u1", 100)
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	const requests = 50
	bodies := make([][]byte, requests)
	codes := make([]int, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", srv.URL+"/v1/accounts/u1/debits", strings.NewReader(`{"amount":3}`))
			req.Header.Set("Authorization", "Bearer "+apiKey)
			req.Header.Set("Idempotency-Key", "the-same-key")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			bodies[i], _ = io.ReadAll(resp.Body)
			codes[i] = resp.StatusCode
			resp.Body.Close()
		}()
	}
	wg.Wait()
	for i := range requests {
		if codes[i] != 201 || !bytes.Equal(bodies[i], bodies[0]) {
			t.Fatalf("answer %d: %d %s, want 201 and %s", i, codes[i], bodies[i], bodies[0])
		}
	}
	var first map[string]any
	_ = json.Unmarshal(bodies[0], &first)
	if a := h.api("GET", "/v1/accounts/u1", ""); a.body["balance"] != 97.0 {
		t.Errorf("balance = %v, want 97: one debit", a.body["balance"])
	}
}
