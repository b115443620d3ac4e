package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits/client"
	"github.com/credits/credits/creditswebhook"
)

// recorder is a fake service: it answers each request with the next of its
// answers (the last one again when they run out) and keeps what it received.
type recorder struct {
	mu       sync.Mutex
	answers  []answer
	received []*http.Request
}

type answer struct {
	status int
	body   string
	header map[string]string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	a := rec.answers[min(len(rec.received), len(rec.answers)-1)]
	rec.received = append(rec.received, r.Clone(context.Background()))
	rec.mu.Unlock()
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	fmt.Fprint(w, a.body)
}

func (rec *recorder) requests() []*http.Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*http.Request(nil), rec.received...)
}

func serve(t *testing.T, answers ...answer) (*recorder, *client.Client) {
	t.Helper()
	rec := &recorder{answers: answers}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, client.New(srv.URL, "ck_test", client.WithBackoff(time.Millisecond, time.Millisecond))
}

const debited = `{"id": 7, "account_id": "u1", "amount": 5, "balance": 95, "available": 95}`

func unavailable(code int) answer {
	return answer{code, `{"error": {"code": "unavailable", "message": "retry"}}`, nil}
}

func TestDebitRetriesWithTheSameKey(t *testing.T) {
	t.Parallel()
	for _, given := range []string{"", "order-42"} {
		rec, c := serve(t, unavailable(503), answer{502, "<html>bad gateway</html>", nil}, answer{201, debited, nil})
		d, err := c.Debit(context.Background(), "u1", client.Debit{Amount: 5, Description: "image", IdempotencyKey: given})
		if err != nil || d.ID != 7 || d.Balance != 95 {
			t.Fatalf("key %q: Debit = %+v, %v", given, d, err)
		}
		reqs := rec.requests()
		if len(reqs) != 3 {
			t.Fatalf("key %q: %d requests, want 3", given, len(reqs))
		}
		first := reqs[0].Header.Get("Idempotency-Key")
		if first == "" || (given != "" && first != given) {
			t.Errorf("key %q: sent %q", given, first)
		}
		for i, r := range reqs {
			if got := r.Header.Get("Idempotency-Key"); got != first {
				t.Errorf("key %q: try %d sent key %q, want %q", given, i+1, got, first)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer ck_test" {
				t.Errorf("try %d: Authorization %q", i+1, got)
			}
			if r.Header.Get("X-Credits-Client-Repeatable") != "" {
				t.Errorf("try %d sent the client's own marker", i+1)
			}
		}
	}
}

func TestRetriesOnlyWhatIsSafeToRepeat(t *testing.T) {
	t.Parallel()
	internal := answer{500, `{"error": {"code": "internal", "message": "oops", "request_id": "req_1"}}`, nil}
	limited := answer{429, `{"error": {"code": "rate_limited", "message": "slow down"}}`, map[string]string{"Retry-After": "0"}}
	created := answer{201, `{"id": "u1", "email": "a@example.com", "balance": 0, "available": 0, "held": 0, "debt": 0, "trial": false}`, nil}
	hold := answer{200, `{"id": "h1", "account_id": "u1", "amount": 5, "captured": 5, "status": "captured", "expires_at": "2026-01-01T00:00:00Z"}`, nil}
	tests := []struct {
		name      string
		answers   []answer
		call      func(*client.Client) error
		wantTries int
		wantErr   error
	}{
		{"a POST without a key is not repeated after a 500", []answer{internal, created},
			func(c *client.Client) error {
				_, err := c.CreateAccount(context.Background(), client.CreateAccount{ID: "u1"})
				return err
			},
			1, client.ErrInternal},
		{"a POST without a key is repeated after a 429", []answer{limited, created},
			func(c *client.Client) error {
				_, err := c.CreateAccount(context.Background(), client.CreateAccount{ID: "u1"})
				return err
			},
			2, nil},
		{"a GET is repeated after a 500", []answer{internal, created},
			func(c *client.Client) error { _, err := c.Account(context.Background(), "u1"); return err },
			2, nil},
		{"a capture is repeated: it answers the same again", []answer{unavailable(503), hold},
			func(c *client.Client) error { _, err := c.CaptureHold(context.Background(), "h1", 0); return err },
			2, nil},
		{"retries end", []answer{unavailable(503)},
			func(c *client.Client) error { _, err := c.Account(context.Background(), "u1"); return err },
			4, client.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, c := serve(t, tt.answers...)
			err := tt.call(c)
			if got := len(rec.requests()); got != tt.wantTries {
				t.Errorf("%d tries, want %d", got, tt.wantTries)
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestErrorsMatchTheirCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		body   string
		want   error
		code   string
	}{
		{402, `{"error": {"code": "insufficient_credits", "message": "account u1 has 3 credits available; 5 requested", "request_id": "req_9"}}`, client.ErrInsufficientCredits, "insufficient_credits"},
		{402, `{"error": {"code": "account_in_debt", "message": "owes 3"}}`, client.ErrAccountInDebt, "account_in_debt"},
		{404, `{"error": {"code": "not_found", "message": "no account u1"}}`, client.ErrNotFound, "not_found"},
		{409, `{"error": {"code": "conflict", "message": "exists"}}`, client.ErrConflict, "conflict"},
		{422, `{"error": {"code": "idempotency_key_reused", "message": "another request"}}`, client.ErrIdempotency, "idempotency_key_reused"},
		{400, `{"error": {"code": "invalid", "message": "amount must be positive"}}`, client.ErrInvalid, "invalid"},
		{404, `404 page not found`, client.ErrNotFound, "not_found"},
	}
	for _, tt := range tests {
		_, c := serve(t, answer{tt.status, tt.body, nil})
		_, err := c.Debit(context.Background(), "u1", client.Debit{Amount: 5})
		var apiErr *client.Error
		if !errors.As(err, &apiErr) || apiErr.Status != tt.status || apiErr.Code != tt.code {
			t.Errorf("%d %s: err = %#v", tt.status, tt.body, err)
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%v is not %v", err, tt.want)
		}
		if errors.Is(err, client.ErrUnauthorized) {
			t.Errorf("%v matches ErrUnauthorized too", err)
		}
	}
	_, c := serve(t, answer{402, `{"error": {"code": "insufficient_credits", "message": "short", "request_id": "req_9"}}`, nil})
	_, err := c.Debit(context.Background(), "u1", client.Debit{Amount: 5})
	if want := "credits: 402 insufficient_credits: short (request req_9)"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func TestAccountsPages(t *testing.T) {
	t.Parallel()
	account := func(id string) string {
		return fmt.Sprintf(`{"id": %q, "email": "a@example.com", "balance": 0, "available": 0, "held": 0, "debt": 0, "trial": false}`, id)
	}
	rec, c := serve(t,
		answer{200, `{"data": [` + account("a") + `,` + account("b") + `], "has_more": true}`, nil},
		answer{200, `{"data": [` + account("c") + `], "has_more": false}`, nil})
	var got []string
	for a, err := range c.Accounts(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.ID)
	}
	if fmt.Sprint(got) != "[a b c]" {
		t.Errorf("accounts %v, want [a b c]", got)
	}
	reqs := rec.requests()
	if len(reqs) != 2 || reqs[0].URL.Query().Get("starting_after") != "" || reqs[1].URL.Query().Get("starting_after") != "b" {
		t.Errorf("pages asked: %v", reqs)
	}
	if limit := reqs[0].URL.Query().Get("limit"); limit != fmt.Sprint(client.PageSize) {
		t.Errorf("limit = %q", limit)
	}
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	secret := "whsec_0123456789abcdef0123456789abcdef"
	payload, _ := json.Marshal(map[string]string{"type": "ping"})
	header := creditswebhook.Sign(payload, time.Now(), secret)
	if err := client.VerifyWebhook(payload, header, secret); err != nil {
		t.Errorf("a signed payload: %v", err)
	}
	if err := client.VerifyWebhook(append(payload, ' '), header, secret); !errors.Is(err, client.ErrWebhookMismatch) {
		t.Errorf("a changed payload: %v, want a mismatch", err)
	}
	stale := creditswebhook.Sign(payload, time.Now().Add(-time.Hour), secret)
	if err := client.VerifyWebhook(payload, stale, secret); !errors.Is(err, client.ErrWebhookStale) {
		t.Errorf("an old signature: %v, want stale", err)
	}
	if err := client.VerifyWebhook(payload, header, ""); !errors.Is(err, client.ErrWebhookSecret) {
		t.Errorf("no secret: %v", err)
	}
}
