package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/credits/credits"
	"github.com/credits/credits/server"
)

// signIn posts the sign-in form as a proxy at 10.0.0.2 would forward it
// for client (or, with no client, straight from peer).
func signIn(h http.Handler, peer, forwardedFor, key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/admin/login", strings.NewReader(url.Values{"api_key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = peer
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Behind a proxy, an attacker hammering wrong keys is limited by their own
// address, and the operator's right key still signs in through the same
// proxy; a spoofed header from a peer that is not a proxy changes nothing.
func TestSignInLimitsBehindAProxy(t *testing.T) {
	s := newSite(t)
	s.srv.RateLimits = server.RateLimits{PagesPerMinute: 100, CheckoutsPerMinute: 10, SignInsPerMinute: 3}
	s.srv.Proxies = server.Proxies{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Header: server.HeaderXForwardedFor}
	h := s.srv.Handler()
	const proxy = "10.0.0.2:40000"
	var statuses []int
	for range 6 {
		// The attacker writes the operator's address first; the proxy appends theirs.
		statuses = append(statuses, signIn(h, proxy, "198.51.100.7, 203.0.113.9", "wrong-key").Code)
	}
	if want := []int{401, 401, 401, 429, 429, 429}; !slices.Equal(statuses, want) {
		t.Errorf("the attacker's statuses %v, want %v", statuses, want)
	}
	if rec := signIn(h, proxy, "198.51.100.7", apiKey); rec.Code != http.StatusSeeOther || len(rec.Result().Cookies()) == 0 {
		t.Errorf("the operator through the same proxy: %d, want 303 and a session", rec.Code)
	}

	// A peer that is not a proxy: its header is ignored, each address it
	// claims is the same peer.
	statuses = nil
	for i := range 4 {
		statuses = append(statuses, signIn(h, "192.0.2.50:1234", fmt.Sprintf("198.51.100.%d", i+1), "wrong-key").Code)
	}
	if want := []int{401, 401, 401, 429}; !slices.Equal(statuses, want) {
		t.Errorf("spoofed addresses from an untrusted peer: %v, want %v", statuses, want)
	}
}

// One key signs in at most 4 times the per-address limit a minute over all
// addresses; wrong keys never use its bucket.
func TestSignInLimitPerKey(t *testing.T) {
	s := newSite(t)
	s.srv.RateLimits = server.RateLimits{SignInsPerMinute: 1}
	h := s.srv.Handler()
	for i := range 4 {
		if rec := signIn(h, fmt.Sprintf("192.0.2.%d:1", i+1), "", apiKey); rec.Code != http.StatusSeeOther {
			t.Fatalf("sign-in %d from a new address: %d, want 303", i+1, rec.Code)
		}
	}
	if rec := signIn(h, "192.0.2.9:1", "", apiKey); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("the fifth sign-in with one key in a minute: %d, want 429 with Retry-After", rec.Code)
	}
	if rec := signIn(h, "192.0.2.8:1", "", "wrong-key"); rec.Code != http.StatusUnauthorized {
		t.Errorf("a wrong key from a fresh address: %d, want 401 (its address's own bucket)", rec.Code)
	}
}

// /v1 is limited per API key: each answer says what is left; over the
// limit, 429 rate_limited with Retry-After; another key has its own bucket.
func TestAPIRateLimitPerKey(t *testing.T) {
	h := newHarness(t)
	srv := &server.Server{Service: h.svc, APIKey: apiKey, Logger: slog.New(slog.DiscardHandler), RateLimits: server.RateLimits{APIPerMinute: 3}}
	h.handler = srv.Handler()
	_, other, err := h.svc.CreateAPIKey(t.Context(), "worker", credits.ScopeRead, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r := h.api("GET", "/v1/packs", "")
		if r.status != http.StatusOK || r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") != strconv.Itoa(2-i) {
			t.Fatalf("request %d: %d, RateLimit-Limit %q, RateLimit-Remaining %q; want 200, 3, %d", i+1, r.status,
				r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"), 2-i)
		}
		if reset, err := strconv.Atoi(r.header.Get("RateLimit-Reset")); err != nil || reset < 1 || reset > 60 {
			t.Errorf("request %d: RateLimit-Reset %q, want 1 to 60 seconds", i+1, r.header.Get("RateLimit-Reset"))
		}
	}
	r := h.api("GET", "/v1/packs", "")
	if r.status != http.StatusTooManyRequests || r.errorCode() != server.ERATELIMITED || r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Remaining") != "0" {
		t.Errorf("the fourth request: %d %s, Retry-After %q; want 429 rate_limited", r.status, r.raw, r.header.Get("Retry-After"))
	}
	if r := h.do("GET", "/v1/packs", "", map[string]string{"Authorization": "Bearer " + other}); r.status != http.StatusOK || r.header.Get("RateLimit-Remaining") != "2" {
		t.Errorf("another key: %d, remaining %q; want 200 and its own bucket", r.status, r.header.Get("RateLimit-Remaining"))
	}
}
