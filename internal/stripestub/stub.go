// Package stripestub is a stateful stand-in for the parts of the Stripe API
// the service depends on, for tests: PaymentIntents (and their Charges),
// Customers, Checkout Sessions, Refunds, Disputes and Events are kept in
// memory, listed and searched; every other request is forwarded to
// stripe-mock (Stripe's own stateless mock), so its shapes stay Stripe's.
//
// Idempotency follows Stripe's "Idempotent requests" page
// (https://docs.stripe.com/api/idempotent_requests,
// https://docs.stripe.com/error-low-level#idempotency):
//   - "Stripe saves the status code and body of the first request made with a
//     given idempotency key after endpoint execution begins. Retries with the
//     same key return the saved response, including 500 errors."
//   - "The idempotency layer compares incoming parameters to those of the
//     original request and errors if they're not the same" (idempotency_error).
//   - "We save results only after the execution of an endpoint begins. If
//     incoming parameters fail validation, or the request conflicts with
//     another that's executing concurrently, we don't save the idempotent
//     result" (so a missing parameter, or a 409 idempotency_key_in_use, may be
//     sent again with the same key and be executed then).
//   - Keys "can be removed from the system automatically after they're at
//     least 24 hours old" and "a new request is generated if a key is reused
//     after the original is pruned": PruneIdempotencyKeys does that on demand.
//   - Only POST requests take keys: GET and DELETE are idempotent by definition.
//
// Faults (a saved 500, a lost answer, a held request, 429s) make the
// ambiguous answers a client must survive; see FailNext, DropAnswerNext,
// HoldNext and RateLimitNext.
//
// stripe-go v85 retries (MaxNetworkRetries, 2 by default) a lost
// connection with the same key, but not an answer that carries a Stripe
// error: a 500 api_error, a 409 idempotency_key_in_use and a 429 reach the
// caller at once (its shouldRetry asks the error's canRetry first).
//
// Use:
//
//	s := stripestub.Start(t)            // s.URL for STRIPE_API_BASE or BackendConfig.URL
//	s.SetNow(clock.Now)                 // created times follow the test's clock
//	s.SetOutcome("pm_x", stripestub.Declined("insufficient_funds"))
//	s.DropAnswerNext("POST", "/v1/payment_intents") // charged, answer lost
//	s.PruneIdempotencyKeys()            // as Stripe may after 24 hours
//	len(s.SucceededPaymentIntents())    // how often the card was charged
//	testkit.Sign(s.EventFor("payment_intent.succeeded", id))
package stripestub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// maxBodyBytes bounds a request body; Stripe's own limit is far above what
// a test sends.
const maxBodyBytes = 1 << 20

// Stub is the stand-in: an http.Handler with its httptest.Server at URL.
type Stub struct {
	// URL is the base URL to give stripe-go (BackendConfig.URL).
	URL string

	server  *httptest.Server
	mux     *http.ServeMux
	forward *forwarder
	clock   atomic.Pointer[func() time.Time]

	mu          sync.Mutex
	seq         int
	requests    []Request
	rateLimited int
	searchLag   time.Duration
	// requireReturnURL: see RequireReturnURL.
	requireReturnURL bool
	faults           []*fault
	holds            []*Hold
	keys             map[string]*savedKey
	keyLifetime      time.Duration
	state
}

// state is every Stripe object the stub keeps, guarded by Stub.mu.
type state struct {
	paymentIntents map[string]*PaymentIntent
	charges        map[string]*Charge
	customers      map[string]*Customer
	sessions       map[string]*CheckoutSession
	refunds        map[string]*Refund
	disputes       map[string]*Dispute
	events         []*Event
	outcomes       map[string]Outcome
	attachedTo     map[string]string // payment method → customer
	setupIntents   map[string]*setupIntent
	prices         map[string]Price
}

// Options configure StartWith.
type Options struct {
	// StripeMockURL is a running stripe-mock to forward to; when empty, one
	// is started (once, on the first forwarded request) with stripemock.Start.
	StripeMockURL string
}

// Start returns a stub served until the test ends.
func Start(t testing.TB) *Stub {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith returns a stub served until the test ends, configured by opts.
func StartWith(t testing.TB, opts Options) *Stub {
	t.Helper()
	s := newStub(newForwarder(t, opts.StripeMockURL))
	s.server = httptest.NewServer(s)
	s.URL = s.server.URL
	t.Cleanup(s.server.Close)
	// Cleanups run last-first: held requests are let go before Close waits
	// for them.
	t.Cleanup(s.releaseHolds)
	return s
}

// newStub returns a stub handler without its server.
func newStub(forward *forwarder) *Stub {
	s := &Stub{mux: http.NewServeMux(), forward: forward, keys: map[string]*savedKey{}}
	s.state = state{
		paymentIntents: map[string]*PaymentIntent{}, charges: map[string]*Charge{}, customers: map[string]*Customer{},
		sessions: map[string]*CheckoutSession{}, refunds: map[string]*Refund{}, disputes: map[string]*Dispute{},
		outcomes: map[string]Outcome{}, attachedTo: map[string]string{}, prices: map[string]Price{},
		setupIntents: map[string]*setupIntent{},
	}
	now := time.Now
	s.clock.Store(&now)
	s.routePaymentIntents()
	s.routeCustomers()
	s.routeCheckout()
	s.routeRefunds()
	s.routeEvents()
	s.routePaymentMethods()
	s.mux.HandleFunc("/", s.forwardRequest)
	return s
}

// SetNow sets the clock the stub's created times come from (time.Now by
// default), so a test that moves the service's clock can move Stripe's too.
func (s *Stub) SetNow(now func() time.Time) { s.clock.Store(&now) }

// Now is the stub's current time.
func (s *Stub) Now() time.Time { return (*s.clock.Load())() }

func (s *Stub) unixNow() int64 { return s.Now().Unix() }

// Request is one request the stub received.
type Request struct {
	Method, Path   string
	IdempotencyKey string
	StripeVersion  string
	Form           url.Values // the body's parameters for POST, the query's otherwise
}

// Requests returns every request received so far, oldest first.
func (s *Stub) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Form = cloneValues(r.Form)
		out[i] = r
	}
	return out
}

// RequestCount counts the requests received for method and path.
func (s *Stub) RequestCount(method, path string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// IdempotencyKeys returns the key of each POST to path, in order received
// (e.g. "/v1/payment_intents": one per payment intent create attempt).
func (s *Stub) IdempotencyKeys(path string) []string {
	var keys []string
	for _, r := range s.Requests() {
		if r.Method == http.MethodPost && r.Path == path {
			keys = append(keys, r.IdempotencyKey)
		}
	}
	return keys
}

// RateLimitNext answers the next n requests 429 rate_limit. They are not
// executed and not saved under their keys, as Stripe limits before it runs
// an endpoint.
func (s *Stub) RateLimitNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimited += n
}

// stripeRequest is a request with its body read and its parameters parsed.
type stripeRequest struct {
	*http.Request
	body []byte
	form url.Values
	key  string
}

// response is one answer, whole, so that it can be saved under a key and
// replayed byte for byte.
type response struct {
	status int
	body   []byte
	// unsaved marks an answer Stripe gives before the endpoint executes
	// (parameter validation): it is not kept under the idempotency key.
	unsaved bool
}

// slot carries a request into the mux and its answer back out.
type slot struct {
	req  *stripeRequest
	resp response
}

type slotKey struct{}

// ServeHTTP answers one request as Stripe would.
func (s *Stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := readRequest(w, r)
	if err != nil {
		writeResponse(w, invalidParams("", "", fmt.Sprintf("Could not read the request: %v", err)), newID("req_"), false)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: req.key,
		StripeVersion: r.Header.Get("Stripe-Version"), Form: cloneValues(req.form)})
	limited := s.rateLimited > 0
	if limited {
		s.rateLimited--
	}
	f := s.takeFault(r.Method, r.URL.Path)
	s.expireDue()
	s.mu.Unlock()
	if limited {
		writeResponse(w, rateLimit(), newID("req_"), false)
		return
	}
	if r.Method != http.MethodPost || req.key == "" {
		s.answer(w, s.run(req, f), f, newID("req_"), false)
		return
	}
	s.idempotent(w, req, f)
}

func readRequest(w http.ResponseWriter, r *http.Request) (*stripeRequest, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		raw = string(body)
	}
	form, err := url.ParseQuery(raw)
	if err != nil {
		return nil, err
	}
	return &stripeRequest{Request: r, body: body, form: form, key: r.Header.Get("Idempotency-Key")}, nil
}

// run executes a request, unless a fault says otherwise.
func (s *Stub) run(req *stripeRequest, f *fault) response {
	if f != nil && f.hold != nil {
		f.hold.wait()
	}
	if f != nil && f.failStatus != 0 {
		// Not executed; Stripe still keeps the 500 under the key.
		return apiError(f.failStatus)
	}
	return s.dispatch(req)
}

// dispatch routes a request to its model, or to stripe-mock.
func (s *Stub) dispatch(req *stripeRequest) response {
	sl := &slot{req: req}
	r := req.Request.WithContext(context.WithValue(req.Context(), slotKey{}, sl))
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, r)
	if sl.resp.status == 0 { // the mux answered itself (a redirect, say)
		return response{status: rec.Code, body: rec.Body.Bytes(), unsaved: true}
	}
	return sl.resp
}

// route registers a modeled endpoint; pattern is a ServeMux pattern.
func (s *Stub) route(pattern string, handle func(req *stripeRequest) response) {
	s.mux.HandleFunc(pattern, func(_ http.ResponseWriter, r *http.Request) {
		sl := r.Context().Value(slotKey{}).(*slot)
		sl.resp = handle(&stripeRequest{Request: r, body: sl.req.body, form: sl.req.form, key: sl.req.key})
	})
}

// answer writes resp, or loses it as a fault asks.
func (s *Stub) answer(w http.ResponseWriter, resp response, f *fault, requestID string, replayed bool) {
	if f != nil && f.drop {
		dropConnection(w)
		return
	}
	writeResponse(w, resp, requestID, replayed)
}

// writeResponse writes an answer; a replay names the request it first
// answered, as Stripe's Original-Request and Idempotent-Replayed headers do.
func writeResponse(w http.ResponseWriter, resp response, requestID string, replayed bool) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if replayed {
		h.Set("Idempotent-Replayed", "true")
		h.Set("Original-Request", requestID)
		requestID = newID("req_")
	}
	h.Set("Request-Id", requestID)
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// jsonResponse marshals an object into a 200 answer.
func jsonResponse(status int, object any) response {
	body, err := json.MarshalIndent(object, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("stripestub: marshal %T: %v", object, err)) // our own types always marshal
	}
	return response{status: status, body: body}
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns an id with Stripe's prefix for its kind and 24 random
// characters, as Stripe's test-mode ids look.
func newID(prefix string) string {
	b := make([]byte, 24)
	for i := range b {
		b[i] = idAlphabet[rand.IntN(len(idAlphabet))]
	}
	return prefix + string(b)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// nextSeq orders objects created in the same second; callers hold s.mu.
func (s *Stub) nextSeq() int {
	s.seq++
	return s.seq
}
