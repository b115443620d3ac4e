package server

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/credits/credits"
	"golang.org/x/time/rate"
)

// RateLimits are the token buckets of the public edges, each per replica:
// a number of requests a minute (0 turns one off), bursts of the same size.
type RateLimits struct {
	PagesPerMinute     int // pages and the success page, per client address
	CheckoutsPerMinute int // checkouts started from the dashboard, per account
	SignInsPerMinute   int // operator sign-ins, per client address; a key's, signInsPerKeyFactor times that over all addresses
	APIPerMinute       int // /v1 requests, per API key
}

// DefaultRateLimits are the limits unless configured otherwise.
var DefaultRateLimits = RateLimits{PagesPerMinute: 120, CheckoutsPerMinute: 10, SignInsPerMinute: 5, APIPerMinute: 6000}

// signInsPerKeyFactor: one key may sign in this many times the per-address
// limit a minute, from all addresses together. Only a right key counts
// against its own bucket (a secret names no key until it is found), so
// nobody without the key can use it up; and a right key counts against
// nothing else (handleAdminLogin), so wrong keys from its address do not
// lock it out.
const signInsPerKeyFactor = 4

// maxLimitedKeys bounds the keys one limiter remembers; keys whose bucket is
// full again are forgotten first.
const maxLimitedKeys = 10_000

// keyedLimiter is a token bucket per key (a client address, an account).
type keyedLimiter struct {
	mu      sync.Mutex
	every   time.Duration
	burst   int
	buckets map[string]*rate.Limiter
}

func newKeyedLimiter(perMinute int) *keyedLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &keyedLimiter{every: time.Minute / time.Duration(perMinute), burst: perMinute, buckets: map[string]*rate.Limiter{}}
}

// allow takes a token for key at now; when there is none it says how long
// until there is one. A nil limiter allows everything.
func (l *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	bucket, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxLimitedKeys {
			l.forgetFull(now)
		}
		bucket = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[key] = bucket
	}
	reservation := bucket.ReserveN(now, 1)
	if delay := reservation.DelayFrom(now); delay > 0 {
		reservation.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// bucketState is what a take left: whether it was allowed, the wait for
// the next token when not, the whole tokens left and the time until the
// bucket is full again.
type bucketState struct {
	allowed          bool
	delay, untilFull time.Duration
	remaining        int
}

// take is allow that also says what is left, for RateLimit-* headers.
func (l *keyedLimiter) take(key string, now time.Time) bucketState {
	allowed, delay := l.allow(key, now)
	l.mu.Lock()
	defer l.mu.Unlock()
	tokens := l.buckets[key].TokensAt(now)
	untilFull := time.Duration((float64(l.burst) - tokens) * float64(l.every))
	return bucketState{allowed: allowed, delay: delay, untilFull: untilFull, remaining: max(int(tokens), 0)}
}

func (l *keyedLimiter) forgetFull(now time.Time) {
	for key, bucket := range l.buckets {
		if bucket.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, key)
		}
	}
}

// limiters are a server's limiters, made once from its RateLimits.
type limiters struct {
	once                      sync.Once
	pages, checkouts, signIns *keyedLimiter
	signInsPerKey, api        *keyedLimiter
}

func (s *Server) rateLimiters() *limiters {
	s.limits.once.Do(func() {
		limits := s.RateLimits
		if limits == (RateLimits{}) {
			limits = DefaultRateLimits
		}
		s.limits.pages = newKeyedLimiter(limits.PagesPerMinute)
		s.limits.checkouts = newKeyedLimiter(limits.CheckoutsPerMinute)
		s.limits.signIns = newKeyedLimiter(limits.SignInsPerMinute)
		s.limits.signInsPerKey = newKeyedLimiter(limits.SignInsPerMinute * signInsPerKeyFactor)
		s.limits.api = newKeyedLimiter(limits.APIPerMinute)
	})
	return &s.limits
}

// limited answers 429 with Retry-After when key has no token left in l; it
// reports whether it did.
func (s *Server) limited(w http.ResponseWriter, r *http.Request, l *keyedLimiter, key string) bool {
	ok, delay := l.allow(key, time.Now())
	if ok {
		return false
	}
	seconds := int(math.Ceil(delay.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(seconds, 1)))
	s.renderMessage(w, r, http.StatusTooManyRequests, "Too many requests",
		message{Kind: "warn", Message: "Too many requests: please wait " + strconv.Itoa(max(seconds, 1)) + " seconds and try again."})
	return true
}

// limitPages wraps a page handler with the per-address page limit.
func (s *Server) limitPages(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.limited(w, r, s.rateLimiters().pages, clientNetwork(r)) {
			return
		}
		next(w, r)
	}
}

// wholeSeconds rounds a wait up to whole seconds, as headers carry it.
func wholeSeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}

// ERATELIMITED is the code of a /v1 request over its key's rate limit.
const ERATELIMITED = "rate_limited"

// apiLimited takes a token of the request's API key and says what is left
// in RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds until
// the bucket is full again); with none left it answers 429 with
// Retry-After and reports that it did.
func (s *Server) apiLimited(w http.ResponseWriter, r *http.Request, keyID string) bool {
	l := s.rateLimiters().api
	if l == nil {
		return false
	}
	state := l.take(keyID, time.Now())
	header := w.Header()
	header.Set("RateLimit-Limit", strconv.Itoa(l.burst))
	header.Set("RateLimit-Remaining", strconv.Itoa(state.remaining))
	header.Set("RateLimit-Reset", strconv.Itoa(wholeSeconds(state.untilFull)))
	if state.allowed {
		return false
	}
	seconds := max(wholeSeconds(state.delay), 1)
	header.Set("Retry-After", strconv.Itoa(seconds))
	s.writeError(w, r, credits.Errorf(ERATELIMITED, "this API key made more than %d requests in a minute: retry in %d seconds", l.burst, seconds))
	return true
}
