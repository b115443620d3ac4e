package stripestub

import (
	"net/http"
	"sync"
)

// fault changes how the next request for a method and path is answered.
type fault struct {
	method, path string
	failStatus   int   // answer this status without executing
	drop         bool  // execute, then close the connection unanswered
	hold         *Hold // wait before executing
}

// takeFault removes and returns the first fault for method and path;
// callers hold s.mu.
func (s *Stub) takeFault(method, path string) *fault {
	for i, f := range s.faults {
		if f.method == method && f.path == path {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			return f
		}
	}
	return nil
}

func (s *Stub) addFault(f *fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// FailNext answers the next request for method and path with status (a
// 5xx) and an api_error, without executing it. Stripe keeps that answer
// under the request's idempotency key, so the same key replays it.
func (s *Stub) FailNext(method, path string, status int) {
	s.addFault(&fault{method: method, path: path, failStatus: status})
}

// DropAnswerNext executes the next request for method and path (a charge
// happens, its answer is saved under the key) and then closes the
// connection without answering, as when an answer is lost on the way.
func (s *Stub) DropAnswerNext(method, path string) {
	s.addFault(&fault{method: method, path: path, drop: true})
}

// Hold is a request held before it executes; its idempotency key is in
// use meanwhile.
type Hold struct {
	arrived  chan struct{}
	released chan struct{}
	arrive   sync.Once
	release  sync.Once
}

// HoldNext holds the next request for method and path until Release. A
// client that gives up does not stop it: Stripe cannot tell, so the
// request executes when released and its answer is saved under its key.
func (s *Stub) HoldNext(method, path string) *Hold {
	h := &Hold{arrived: make(chan struct{}), released: make(chan struct{})}
	s.addFault(&fault{method: method, path: path, hold: h})
	s.mu.Lock()
	s.holds = append(s.holds, h)
	s.mu.Unlock()
	return h
}

// Arrived is closed once the held request has reached the stub.
func (h *Hold) Arrived() <-chan struct{} { return h.arrived }

// Release lets the held request execute; it may be called more than once.
func (h *Hold) Release() { h.release.Do(func() { close(h.released) }) }

func (h *Hold) wait() {
	h.arrive.Do(func() { close(h.arrived) })
	<-h.released
}

// releaseHolds lets every held request go, so the server can close.
func (s *Stub) releaseHolds() {
	s.mu.Lock()
	holds := s.holds
	s.mu.Unlock()
	for _, h := range holds {
		h.Release()
	}
}

// dropConnection closes the connection without an answer.
func dropConnection(w http.ResponseWriter) {
	hijacker, ok := w.(http.Hijacker)
	if !ok {
		panic("stripestub: the server does not allow hijacking") // httptest.Server always does
	}
	conn, _, err := hijacker.Hijack()
	if err != nil {
		panic("stripestub: hijack: " + err.Error())
	}
	_ = conn.Close()
}
