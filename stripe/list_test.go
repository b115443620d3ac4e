package stripe_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credits/credits"
	"github.com/credits/credits/stripe"
)

// TestListStripeShapes lists each type from stripe-mock, whose answers have
// Stripe's own shapes: every object is read into the service's types, and
// each list asks for the period, in pages of 100.
func TestListStripeShapes(t *testing.T) {
	rec, base := startRecorder(t)
	client := stripe.NewClient("sk_test_123", base)
	since := time.Unix(1_790_000_000, 0)
	paths := map[string]string{
		credits.StripeCheckoutSessions: "/v1/checkout/sessions", credits.StripePaymentIntents: "/v1/payment_intents",
		credits.StripeCharges: "/v1/charges", credits.StripeRefunds: "/v1/refunds", credits.StripeDisputes: "/v1/disputes",
	}
	for _, objectType := range credits.ReconcileObjectTypes {
		n := 0
		for o, err := range client.ListStripe(context.Background(), objectType, since, "") {
			if err != nil {
				t.Fatalf("%s: %v", objectType, err)
			}
			n++
			set := 0
			for _, ok := range []bool{o.Session != nil, o.PaymentIntent != nil, o.Charge != nil, o.Refund != nil, o.Dispute != nil} {
				if ok {
					set++
				}
			}
			if o.Type != objectType || o.ID == "" || set != 1 || !json.Valid(o.Raw) || o.Created.IsZero() {
				t.Errorf("%s: object %+v", objectType, o)
			}
		}
		if n == 0 {
			t.Errorf("%s: nothing listed", objectType)
		}
	}
	for i, path := range rec.calls() {
		q := rec.queries[i]
		if q.Get("created[gte]") != "1790000000" || q.Get("limit") != "100" {
			t.Errorf("%s asked %v", path, q)
		}
		for objectType, p := range paths {
			if path == "GET "+p {
				delete(paths, objectType)
			}
		}
	}
	for objectType, path := range paths {
		t.Errorf("%s never asked at %s", objectType, path)
	}
}

// TestListStripeWaitsAndContinues: a 429 and a 500 (answers that stripe-go
// does not retry) are asked again after a wait, from the last object
// listed; the pages follow one another.
func TestListStripeWaitsAndContinues(t *testing.T) {
	defer stripe.SetListBackoff(time.Millisecond)()
	var mu sync.Mutex
	var asked []string
	failures := map[string][]int{"": {429}, "cs_2": {500, 429}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after := r.URL.Query().Get("starting_after")
		mu.Lock()
		asked = append(asked, after)
		var status int
		if f := failures[after]; len(f) > 0 {
			status, failures[after] = f[0], f[1:]
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if status != 0 {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"type":"api_error","message":"status %d"}}`, status)
			return
		}
		page := map[string][]string{"": {"cs_1", "cs_2"}, "cs_2": {"cs_3"}}[after]
		var data []string
		for _, id := range page {
			data = append(data, fmt.Sprintf(`{"id":%q,"object":"checkout.session","created":1790000001,"mode":"payment","status":"complete","payment_status":"paid","amount_total":500,"currency":"usd","metadata":{"account_id":"u1"}}`, id))
		}
		fmt.Fprintf(w, `{"object":"list","url":"/v1/checkout/sessions","has_more":%t,"data":[%s]}`, after == "", strings.Join(data, ","))
	}))
	defer srv.Close()
	client := stripe.NewClient("sk_test_123", srv.URL)
	var got []string
	for o, err := range client.ListStripe(context.Background(), credits.StripeCheckoutSessions, time.Unix(1_790_000_000, 0), "") {
		if err != nil {
			t.Fatal(err)
		}
		if o.Session.Metadata["account_id"] != "u1" || !o.Session.IsPaid() {
			t.Errorf("session %+v", o.Session)
		}
		got = append(got, o.ID)
	}
	if fmt.Sprint(got) != "[cs_1 cs_2 cs_3]" {
		t.Errorf("listed %v", got)
	}
	// After nothing: a 429, then the page; after cs_2: a 500, a 429, then the page.
	if want := []string{"", "", "cs_2", "cs_2", "cs_2"}; fmt.Sprintf("%q", asked) != fmt.Sprintf("%q", want) {
		t.Errorf("asked after %q, want %q", asked, want)
	}
}

// TestListStripeGivesUp: a list that keeps failing ends with the error
// after MaxListRetries waits; a 400 is not asked again.
func TestListStripeGivesUp(t *testing.T) {
	defer stripe.SetListBackoff(time.Millisecond)()
	for _, tt := range []struct {
		status, asks int
	}{{429, stripe.MaxListRetries + 1}, {400, 1}} {
		var mu sync.Mutex
		asks := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			asks++
			mu.Unlock()
			w.Header().Set("Stripe-Should-Retry", "false")
			w.WriteHeader(tt.status)
			fmt.Fprint(w, `{"error":{"type":"invalid_request_error","message":"no"}}`)
		}))
		client := stripe.NewClient("sk_test_123", srv.URL)
		var errs int
		for _, err := range client.ListStripe(context.Background(), credits.StripeRefunds, time.Now(), "") {
			if err != nil {
				errs++
			}
		}
		srv.Close()
		if errs != 1 || asks != tt.asks {
			t.Errorf("%d: %d errors after %d asks, want 1 after %d", tt.status, errs, asks, tt.asks)
		}
	}
}

// TestListStripeDisputeFunds: a dispute's balance transactions say whether
// its funds were withdrawn, and reinstated.
func TestListStripeDisputeFunds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","url":"/v1/disputes","has_more":false,"data":[
			{"id":"dp_won","object":"dispute","amount":500,"currency":"usd","status":"won","charge":"ch_1","payment_intent":"pi_1","created":1790000002,
			 "balance_transactions":[{"id":"txn_1","object":"balance_transaction","amount":-500},{"id":"txn_2","object":"balance_transaction","amount":500}]},
			{"id":"dp_open","object":"dispute","amount":500,"currency":"usd","status":"needs_response","charge":"ch_2","payment_intent":"pi_2","created":1790000001,
			 "balance_transactions":[{"id":"txn_3","object":"balance_transaction","amount":-500}]},
			{"id":"dp_inquiry","object":"dispute","amount":500,"currency":"usd","status":"warning_needs_response","charge":"ch_3","created":1790000000,
			 "balance_transactions":[]}]}`)
	}))
	defer srv.Close()
	var got []string
	for o, err := range stripe.NewClient("sk_test_123", srv.URL).ListStripe(context.Background(), credits.StripeDisputes, time.Unix(0, 0), "") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%s:%t:%t:%s", o.ID, o.Dispute.Status, o.FundsWithdrawn, o.FundsReinstated, o.Dispute.PaymentIntent))
	}
	want := "[dp_won:won:true:true:pi_1 dp_open:needs_response:true:false:pi_2 dp_inquiry:warning_needs_response:false:false:]"
	if fmt.Sprint(got) != want {
		t.Errorf("disputes %v, want %s", got, want)
	}
}

// TestListStripeCursorGone: Stripe answers 400 resource_missing on
// starting_after when the object a list continues after no longer exists;
// asking again cannot pass, so the list ends at once with
// credits.ErrStripeCursorGone (reconcile then lists again from the newest).
func TestListStripeCursorGone(t *testing.T) {
	defer stripe.SetListBackoff(time.Millisecond)()
	asks := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asks++
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("starting_after") == "" {
			fmt.Fprint(w, `{"object":"list","url":"/v1/refunds","has_more":false,"data":[]}`)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"starting_after","message":"No such refund: '%s'"}}`,
			r.URL.Query().Get("starting_after"))
	}))
	defer srv.Close()
	client := stripe.NewClient("sk_test_123", srv.URL)
	var errs []error
	for _, err := range client.ListStripe(context.Background(), credits.StripeRefunds, time.Unix(0, 0), "re_gone") {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], credits.ErrStripeCursorGone) || asks != 1 {
		t.Errorf("after a vanished cursor: %v after %d asks, want one ErrStripeCursorGone after 1", errs, asks)
	}
	for _, err := range client.ListStripe(context.Background(), credits.StripeRefunds, time.Unix(0, 0), "") {
		t.Errorf("from the newest: %v", err)
	}
}

// TestRetrieveStripe: a dispute and a refund are read by id as listed ones
// are; one Stripe no longer has is credits.ErrNotFound.
func TestRetrieveStripe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/disputes/dp_1":
			fmt.Fprint(w, `{"id":"dp_1","object":"dispute","amount":500,"currency":"usd","status":"won","charge":"ch_1","payment_intent":"pi_1","created":1700000000,
				"balance_transactions":[{"id":"txn_1","object":"balance_transaction","amount":-500},{"id":"txn_2","object":"balance_transaction","amount":500}]}`)
		case "/v1/refunds/re_1":
			fmt.Fprint(w, `{"id":"re_1","object":"refund","amount":500,"currency":"usd","status":"canceled","charge":"ch_1","payment_intent":"pi_1","created":1700000000}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"id","message":"No such object"}}`)
		}
	}))
	defer srv.Close()
	client := stripe.NewClient("sk_test_123", srv.URL)
	ctx := context.Background()
	d, err := client.RetrieveStripe(ctx, credits.StripeDisputes, "dp_1")
	if err != nil || d.Type != credits.StripeDisputes || d.Dispute == nil || d.Dispute.Status != "won" || !d.FundsWithdrawn || !d.FundsReinstated ||
		d.Created != time.Unix(1700000000, 0).UTC() {
		t.Errorf("dispute: %+v (%v)", d, err)
	}
	r, err := client.RetrieveStripe(ctx, credits.StripeRefunds, "re_1")
	if err != nil || r.Type != credits.StripeRefunds || r.Refund == nil || r.Refund.Status != "canceled" || r.Refund.PaymentIntent != "pi_1" {
		t.Errorf("refund: %+v (%v)", r, err)
	}
	if _, err := client.RetrieveStripe(ctx, credits.StripeRefunds, "re_gone"); !errors.Is(err, credits.ErrNotFound) {
		t.Errorf("a refund Stripe does not have: %v, want ErrNotFound", err)
	}
}
