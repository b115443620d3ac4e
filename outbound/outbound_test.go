package outbound_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits/creditswebhook"
	"github.com/credits/credits/outbound"
)

// TestSendOverHTTP is the HTTP half of what the store conformance suite
// checks with an in-process stand-in (storetest's endpoints): a delivery is
// posted as JSON, signed with every secret so that a receiver on either
// verifies it, and its status code is the answer, a failure's too; a
// redirect is answered, not followed.
func TestSendOverHTTP(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case "/moved":
			http.Redirect(w, r, "/hooks", http.StatusFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Method+" "+r.Header.Get("Content-Type")+" "+string(body))
		for _, secret := range []string{"whsec_old_0123456789abcdef", "whsec_new_0123456789abcdef"} {
			if err := creditswebhook.Verify(body, r.Header.Get(creditswebhook.Header), []string{secret}, creditswebhook.DefaultTolerance, time.Now()); err != nil {
				t.Errorf("a receiver on %s: %v", secret, err)
			}
		}
	}))
	defer receiver.Close()
	sender := outbound.New(false)
	ctx := context.Background()
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/hooks", http.StatusOK},
		{"/down", http.StatusServiceUnavailable},
		{"/moved", http.StatusFound},
	} {
		status, err := sender.Send(ctx, receiver.URL+tt.path, []byte(`{"id":"evt_1"}`), []string{"whsec_new_0123456789abcdef", "whsec_old_0123456789abcdef"})
		if err != nil || status != tt.want {
			t.Errorf("send to %s = %d, %v; want %d", tt.path, status, err, tt.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := `POST application/json {"id":"evt_1"}`; len(got) != 1 || got[0] != want {
		t.Errorf("the receiver got %q, want one %q (the redirect not followed)", got, want)
	}
}
