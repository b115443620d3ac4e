package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/creditswebhook"
	"github.com/credits/credits/outbound"
)

// TestAdminWebhooksPage: the operator sees each endpoint with its attempts,
// resends an event (same id, once more), and turns an endpoint disabled
// after 3 days of failures back on; it then resumes where it stopped.
func TestAdminWebhooksPage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.svc.Webhooks = outbound.New(false)
	ctx := context.Background()
	var mu sync.Mutex
	var got []string
	failing := false
	secret := ""
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, err := creditswebhook.VerifyRequest(r, secret)
		if err != nil || failing {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got = append(got, string(body))
	}))
	t.Cleanup(receiver.Close)
	ep, err := s.svc.CreateWebhookEndpoint(ctx, receiver.URL, []string{"*"}, "the app")
	if err != nil {
		t.Fatal(err)
	}
	secret = ep.Secret
	grant := func() {
		t.Helper()
		if _, _, err := s.svc.Grant(ctx, "alice", credits.GrantRequest{Amount: 5, Reason: "test"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	grant()
	if _, err := s.svc.DeliverWebhooks(ctx); err != nil || len(got) != 1 {
		t.Fatalf("delivered %d (%v)", len(got), err)
	}
	if _, err := s.svc.TestWebhookEndpoint(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}

	v := s.visitor()
	v.post("/admin/login", url.Values{"api_key": {apiKey}})
	page := v.get("/admin/webhooks")
	section := `section.endpoint[data-endpoint="` + ep.ID + `"]`
	if page.status != 200 || page.text(section+" .status") != "enabled" || page.count(section+" tr.attempt") != 2 ||
		page.count(section+" form.resend") != 1 || page.count(section+" form.enable") != 0 {
		t.Fatalf("webhooks page: %d, status %q, %d attempts, %d resend buttons (the ping has none), %d enable buttons",
			page.status, page.text(section+" .status"), page.count(section+" tr.attempt"), page.count(section+" form.resend"), page.count(section+" form.enable"))
	}
	if forged := v.post("/admin/webhooks/"+ep.ID+"/events/x/resend", url.Values{"csrf": {"forged"}}); forged.status != http.StatusForbidden {
		t.Errorf("resend without the CSRF token: %d", forged.status)
	}
	resent := v.submit(page, section+" form.resend", nil)
	if !strings.Contains(resent.text("#notice"), "answered 200") || len(got) != 3 || got[2] != got[0] { // grant, ping, grant again
		t.Fatalf("after resend: %q, receiver got %d", resent.text("#notice"), len(got))
	}

	// Down for more than 3 days: disabled with the reason; enabled from the
	// page, it gets what it missed, in order.
	mu.Lock()
	failing = true
	mu.Unlock()
	grant()
	for round := 0; round < 80; round++ {
		if _, err := s.svc.DeliverWebhooks(ctx); err != nil {
			t.Fatal(err)
		}
		s.now = s.now.Add(time.Hour)
	}
	grant()
	v.post("/admin/login", url.Values{"api_key": {apiKey}}) // the sign-in of 80 hours ago has expired
	page = v.get("/admin/webhooks")
	if page.text(section+" .status") != "disabled" || !strings.Contains(page.text(section+" .reason"), "answered 503") || page.count(section+" form.enable") != 1 {
		t.Fatalf("after 80 hours down: status %q, reason %q", page.text(section+" .status"), page.text(section+" .reason"))
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	enabled := v.submit(page, section+" form.enable", nil)
	if !strings.Contains(enabled.text("#notice"), ep.ID) || enabled.text(section+" .status") != "enabled" {
		t.Fatalf("after enable: %q, status %q", enabled.text("#notice"), enabled.text(section+" .status"))
	}
	if _, err := s.svc.DeliverWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || !strings.Contains(got[3], `"credits.granted"`) || !strings.Contains(got[4], `"credits.granted"`) {
		t.Errorf("after enabling the receiver got %d events, want the 2 grants it missed", len(got))
	}
}
