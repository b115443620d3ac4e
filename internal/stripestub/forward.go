package stripestub

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/credits/credits/internal/stripemock"
)

// forwarder sends what the stub does not model to stripe-mock, started on
// the first such request: most tests never need it.
type forwarder struct {
	t       testing.TB
	baseURL string
	once    sync.Once
	proxy   *httputil.ReverseProxy
	err     error
}

func newForwarder(t testing.TB, baseURL string) *forwarder {
	return &forwarder{t: t, baseURL: baseURL}
}

// errStartFailed stops stripemock.Start, which calls Fatal, without ending
// the server's goroutine: Fatal belongs to the test's own goroutine.
var errStartFailed = errors.New("stripestub: stripe-mock did not start")

// startTB reports stripemock.Start's failures as errors, not as Fatal.
type startTB struct{ testing.TB }

func (t startTB) Fatal(args ...any) {
	t.TB.Error(args...)
	panic(errStartFailed)
}

func (t startTB) Fatalf(format string, args ...any) {
	t.TB.Errorf(format, args...)
	panic(errStartFailed)
}

func (f *forwarder) start() {
	defer func() {
		if r := recover(); r != nil {
			if r != errStartFailed {
				panic(r)
			}
			f.err = errStartFailed
		}
	}()
	base := f.baseURL
	if base == "" {
		base = stripemock.Start(startTB{f.t})
	}
	target, err := url.Parse(base)
	if err != nil {
		f.err = fmt.Errorf("stripestub: stripe-mock URL %q: %w", base, err)
		return
	}
	f.proxy = httputil.NewSingleHostReverseProxy(target)
}

// forwardRequest is the mux's fallback.
func (s *Stub) forwardRequest(_ http.ResponseWriter, r *http.Request) {
	sl := r.Context().Value(slotKey{}).(*slot)
	sl.resp = s.forwarded(r)
}

// forwarded is stripe-mock's answer, kept whole so that it can be saved
// under a key.
func (s *Stub) forwarded(r *http.Request) response {
	f := s.forward
	f.once.Do(f.start)
	if f.err != nil {
		return apiError(http.StatusBadGateway)
	}
	rec := httptest.NewRecorder()
	f.proxy.ServeHTTP(rec, r)
	// stripe-mock validates parameters and runs nothing: its 400s are
	// validation failures, which Stripe does not save under a key.
	return response{status: rec.Code, body: rec.Body.Bytes(), unsaved: rec.Code == http.StatusBadRequest}
}
