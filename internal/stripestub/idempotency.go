package stripestub

import (
	"crypto/sha256"
	"net/http"
	"time"
)

// savedKey is what Stripe keeps for an idempotency key: the request it
// was first used with and, once the endpoint has run, the answer.
type savedKey struct {
	requestHash [sha256.Size]byte
	done        bool
	resp        response
	requestID   string
	firstUsed   time.Time // by the stub's clock
}

// requestHash identifies a request's method, path and parameters; the
// parameters are compared as a set of names, each with its values in order
// (url.Values.Encode sorts by name), as Stripe compares parameters rather
// than bytes.
func requestHash(req *stripeRequest) [sha256.Size]byte {
	return sha256.Sum256([]byte(req.Method + " " + req.URL.Path + "\n" + req.form.Encode()))
}

// idempotent answers a POST that carries an Idempotency-Key.
func (s *Stub) idempotent(w http.ResponseWriter, req *stripeRequest, f *fault) {
	hash := requestHash(req)
	now := s.Now()
	s.mu.Lock()
	saved, found := s.keys[req.key]
	if found && saved.done && s.keyLifetime > 0 && now.Sub(saved.firstUsed) >= s.keyLifetime {
		delete(s.keys, req.key) // pruned: the key runs anew
		found = false
	}
	if !found {
		saved = &savedKey{requestHash: hash, requestID: newID("req_"), firstUsed: now}
		s.keys[req.key] = saved
	}
	first := *saved
	s.mu.Unlock()
	switch {
	case found && first.requestHash != hash:
		s.answer(w, idempotencyMismatch(req.key), f, newID("req_"), false)
		return
	case found && !first.done:
		s.answer(w, idempotencyKeyInUse(req.key), f, newID("req_"), false)
		return
	case found:
		s.answer(w, first.resp, f, first.requestID, true)
		return
	}
	resp := s.run(req, f)
	s.mu.Lock()
	if resp.unsaved {
		// Validation failed before the endpoint ran: the key stays free.
		delete(s.keys, req.key)
	} else {
		saved.done, saved.resp = true, resp
	}
	s.mu.Unlock()
	s.answer(w, resp, f, first.requestID, false)
}

// PruneIdempotencyKeys forgets every key whose request has finished, as
// Stripe may once a key is 24 hours old: the same key then runs anew.
func (s *Stub) PruneIdempotencyKeys() {
	s.PruneIdempotencyKeysOlderThan(0)
}

// PruneIdempotencyKeysOlderThan forgets the finished keys first used at
// least age ago by the stub's clock.
func (s *Stub) PruneIdempotencyKeysOlderThan(age time.Duration) {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, saved := range s.keys {
		if saved.done && now.Sub(saved.firstUsed) >= age {
			delete(s.keys, key)
		}
	}
}

// SetIdempotencyKeyLifetime makes the stub forget a finished key once it
// is lifetime old by its clock (0, the default, keeps keys for good).
// Stripe keeps keys at least 24 hours and may prune them after: with
// 24*time.Hour and a clock moved 25 hours, the same key charges again.
func (s *Stub) SetIdempotencyKeyLifetime(lifetime time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keyLifetime = lifetime
}
