package stripe_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/internal/stripemock"
	"github.com/credits/credits/stripe"
)

// recorder stands between the client and stripe-mock and keeps each request's
// form, so that the test sees exactly what was sent to Stripe.
type recorder struct {
	mu      sync.Mutex
	forms   []url.Values
	queries []url.Values
	paths   []string
	// idempotencyKeys are the Idempotency-Key headers sent, one per request.
	idempotencyKeys []string
	// answer, when set, rewrites stripe-mock's answer into what real Stripe
	// would say (stripe-mock keeps no state: a confirmed payment intent is
	// never "succeeded" there); the request still reaches stripe-mock.
	answer func(path string, status int, body []byte) (int, []byte)
}

func (r *recorder) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...)
}

func startRecorder(t *testing.T) (*recorder, string) {
	target, err := url.Parse(stripemock.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		rec.mu.Lock()
		answer := rec.answer
		rec.mu.Unlock()
		if answer == nil {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body.Close()
		status, body := answer(resp.Request.URL.Path, resp.StatusCode, body)
		resp.StatusCode, resp.Body, resp.ContentLength = status, io.NopCloser(bytes.NewReader(body)), int64(len(body))
		resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		rec.mu.Lock()
		rec.forms, rec.paths = append(rec.forms, form), append(rec.paths, r.Method+" "+r.URL.Path)
		rec.idempotencyKeys = append(rec.idempotencyKeys, r.Header.Get("Idempotency-Key"))
		rec.queries = append(rec.queries, r.URL.Query())
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

func TestCreateCheckoutSession(t *testing.T) {
	tests := []struct {
		name string
		pack credits.Pack
		want map[string]string
	}{
		{"with a Stripe price", credits.Pack{ID: "starter", Name: "Starter", Credits: 100, UnitAmount: 999, Currency: "usd", StripePriceID: "price_123"},
			map[string]string{"line_items[0][price]": "price_123", "line_items[0][quantity]": "3"}},
		{"with inline price data", credits.Pack{ID: "bulk", Name: "Bulk", Credits: 1000, UnitAmount: 4900, Currency: "eur"},
			map[string]string{"line_items[0][price_data][unit_amount]": "4900", "line_items[0][price_data][currency]": "eur",
				"line_items[0][price_data][product_data][name]": "Bulk", "line_items[0][quantity]": "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, base := startRecorder(t)
			client := stripe.NewClient("sk_test_123", base)
			id, checkoutURL, err := client.CreateCheckoutSession(context.Background(), credits.CheckoutRequest{
				Account:    credits.Account{ID: "u1", Email: "u1@example.com"},
				Pack:       tt.pack,
				Quantity:   3,
				SuccessURL: "http://localhost:8080/checkout/success?session_id={CHECKOUT_SESSION_ID}",
				CancelURL:  "http://localhost:8080/checkout/cancel",
				Reference:  "chk_1", ExpiresAt: time.Unix(1_800_000_000, 0), IdempotencyKey: "credits-checkout-abc",
			})
			if err != nil {
				t.Fatal(err)
			}
			if id == "" || checkoutURL == "" {
				t.Errorf("id, url = %q, %q; want both", id, checkoutURL)
			}
			if len(rec.forms) != 1 || rec.paths[0] != "POST /v1/checkout/sessions" {
				t.Fatalf("requests = %v", rec.paths)
			}
			if rec.idempotencyKeys[0] != "credits-checkout-abc" {
				t.Errorf("Idempotency-Key = %q, want the request's", rec.idempotencyKeys[0])
			}
			want := map[string]string{
				"mode": "payment", "client_reference_id": "u1", "customer_email": "u1@example.com",
				"metadata[account_id]": "u1", "metadata[pack_id]": tt.pack.ID, "metadata[quantity]": "3",
				"metadata[credits_checkout]": "chk_1", "payment_intent_data[metadata][credits_checkout]": "chk_1",
				"payment_intent_data[metadata][account_id]": "u1", "payment_intent_data[metadata][pack_id]": tt.pack.ID,
				"payment_intent_data[metadata][quantity]": "3", "expires_at": "1800000000",
				"success_url": "http://localhost:8080/checkout/success?session_id={CHECKOUT_SESSION_ID}",
				"cancel_url":  "http://localhost:8080/checkout/cancel",
			}
			for k, v := range tt.want {
				want[k] = v
			}
			for k, v := range want {
				if got := rec.forms[0].Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestRetrieveSessionReadsLineItems(t *testing.T) {
	rec, base := startRecorder(t)
	client := stripe.NewClient("sk_test_123", base)
	s, err := client.RetrieveSession(context.Background(), "cs_test_abc", true)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "cs_test_abc" || len(s.LineItems) != 1 || s.LineItems[0].PriceID == "" || s.LineItems[0].Quantity < 1 {
		t.Errorf("session = %+v", s)
	}
	if got := len(rec.calls()); got != 2 {
		t.Errorf("%d calls to Stripe with line items, want 2 (the session and its line items)", got)
	}
	if _, err := client.RetrieveSession(context.Background(), "cs_test_abc", false); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.calls()); got != 3 {
		t.Errorf("%d calls to Stripe after a read without line items, want 3 (one more)", got)
	}
}

func TestLivemode(t *testing.T) {
	for key, want := range map[string]bool{"sk_live_x": true, "rk_live_x": true, "sk_test_x": false, "": false} {
		if got := stripe.Livemode(key); got != want {
			t.Errorf("Livemode(%q) = %t, want %t", key, got, want)
		}
	}
}

func TestEventsListsCheckoutEventsSince(t *testing.T) {
	rec, base := startRecorder(t)
	client := stripe.NewClient("sk_test_123", base)
	since := time.Unix(1_700_000_000, 0)
	var events []credits.StripeEvent
	for ev, err := range client.Events(context.Background(), since) {
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	// stripe-mock answers one fixture event whatever is asked.
	if len(events) != 1 || events[0].ID == "" || events[0].Type == "" || len(events[0].Payload) == 0 {
		t.Fatalf("events = %+v", events)
	}
	if len(rec.paths) == 0 || rec.paths[0] != "GET /v1/events" {
		t.Fatalf("requests = %v", rec.paths)
	}
	var asked []string // over every request: Stripe takes at most 20 types in one
	for _, query := range rec.queries {
		if got := query.Get("created[gte]"); got != "1700000000" {
			t.Errorf("created[gte] = %q", got)
		}
		for i := 0; query.Has(fmt.Sprintf("types[%d]", i)); i++ {
			asked = append(asked, query.Get(fmt.Sprintf("types[%d]", i)))
		}
	}
	if !slices.Equal(asked, credits.HandledEventTypes) {
		t.Errorf("types asked %v, want %v", asked, credits.HandledEventTypes)
	}
}
